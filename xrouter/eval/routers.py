"""Evaluating a router LLM: ``policy=router`` (trained) and ``policy=router_prompted`` (before RL).

* ``router``: ``policy.path`` is ``<train run>/router`` (saved with ``save_pretrained``: model,
  tokenizer, chat template) or a hub id.  When ``<path>/../config.yaml`` exists (a training run),
  its ``router`` (prompt settings, price), ``env``, ``reward`` and ``rollout`` sections are used, so
  the router sees the prompts it was trained on; the run's knob is its ``reward.lam``.
* ``router_prompted``: the same router model before RL.  ``policy.from_run=<train run>`` takes the
  untrained weights that run started from (``result.json``: ``initial_router``) and its config;
  ``policy.path`` names them directly; otherwise they come from ``router=``: the pretrained model
  (``router.path``), or for ``router=tiny`` the freshly built tiny router, built exactly as
  ``xrouter.train`` builds it (same corpus from the train split, so the same cached weights).

Generation is greedy; episodes run through ``AgentLoop``/``RouterEnv`` (``evaluate_router``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xrouter.config import to_plain
from xrouter.pool.pool import ModelPool

log = logging.getLogger(__name__)
TRAIN_SECTIONS = ("router", "env", "reward", "rollout")


def _with_training_config(cfg: DictConfig, train_config: Path | None) -> DictConfig:
    """``cfg`` with the training run's router/env/reward/rollout sections (when there is one)."""
    merged = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if train_config is not None and train_config.exists():
        trained = OmegaConf.load(train_config)
        for section in TRAIN_SECTIONS:
            if section in trained:
                merged[section] = trained[section]
        log.info("router prompt, env, reward and rollout settings from %s", train_config)
    return merged


def _device(cfg: DictConfig) -> str:
    import torch

    wanted = str(cfg.get("device") or "auto")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def resolve_router(cfg: DictConfig, pool: ModelPool, data_dir: Path, cache_dir: Path):
    """(model, tokenizer, settings cfg, identity {label, knob}, router path, device) for ``cfg.policy``."""
    import torch

    from xrouter.build import build_env, build_router, router_corpus, router_extra_tokens
    from xrouter.router.policy import load_router

    policy = to_plain(cfg.policy)
    device = _device(cfg)
    train_config, path = None, policy.get("path")
    if policy["name"] == "router":
        if not path or path == "???":
            raise ValueError("policy=router needs policy.path=<train run>/router or a hub id")
        if policy.get("use_train_config", True):
            train_config = Path(path).expanduser().parent / "config.yaml"
    elif policy.get("from_run"):
        run = Path(policy["from_run"]).expanduser()
        result = json.loads((run / "result.json").read_text())
        path, train_config = result["initial_router"], run / "config.yaml"
    settings = _with_training_config(cfg, train_config)
    dtype = getattr(torch, str(settings.router.get("dtype", "float32")))
    if path:
        model, tokenizer = load_router(path, dtype=dtype, device=device)
    elif settings.router.kind == "pretrained":
        path = settings.router.path
        model, tokenizer = load_router(path, dtype=dtype, device=device)
    else:  # the untrained tiny router, as xrouter.train builds it
        from xrouter.data.benchmarks import load_benchmark
        from xrouter.data.splits import split_dev

        data = settings.data
        train_rows = load_benchmark(settings.benchmark, data_dir, data.train_split, cache_dir).to_dict("records")
        train, _ = split_dev(train_rows, data.dev_fraction, settings.seed, data.get("dev_max"))
        if data.get("train_max"):
            train = train[: int(data.train_max)]
        env = build_env(settings, pool)
        model, tokenizer = build_router(settings.router, router_corpus(train, env), cache_dir, device,
                                        extra_tokens=router_extra_tokens(pool))
        path = model.config._name_or_path
    trained_lam = settings.reward.get("lam") if train_config is not None and train_config.exists() else None
    if policy["name"] == "router":
        knob = {"lam": trained_lam} if trained_lam is not None else {}
        label = policy.get("label") or (f"xrouter lam={trained_lam:g}" if trained_lam is not None else f"router {path}")
    else:
        knob = {}
        label = policy.get("label") or "router before RL"
    return model, tokenizer, settings, {"label": label, "knob": knob}, str(path), device


def evaluate_router_policy(cfg: DictConfig, pool: ModelPool, examples: list[dict[str, Any]], output_dir: Path,
                           data_dir: Path, cache_dir: Path) -> dict[str, Any]:
    from xrouter.build import build_agent_loop, build_env
    from xrouter.eval.router_eval import evaluate_router

    model, tokenizer, settings, identity, path, device = resolve_router(cfg, pool, data_dir, cache_dir)
    env = build_env(settings, pool)
    loop = build_agent_loop(settings, model, tokenizer, env, device)
    max_new_tokens = int(cfg.policy.get("max_new_tokens") or settings.rollout.max_new_tokens)
    log.info("evaluating %s (%s) greedily on %d examples", identity["label"], path, len(examples))
    try:
        return evaluate_router(
            loop, examples, output_dir, max_new_tokens, batch_size=int(cfg.policy.get("batch_size") or 256),
            policy=cfg.policy.name, label=identity["label"], knob=identity["knob"], benchmark=cfg.benchmark.name,
            pool=cfg.pool.name, split=cfg.split, config_yaml=OmegaConf.to_yaml(settings), resume=bool(cfg.resume)
            and not cfg.overwrite, progress=bool(cfg.get("progress", True)),
            extra={"router_path": path, "seed": int(cfg.seed)})
    finally:
        loop.close()

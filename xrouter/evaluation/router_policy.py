"""Evaluating a router LLM: ``policy=router`` (trained) and ``policy=router_prompted`` (before RL).

* ``router``: ``policy.path`` is ``<train run>/router`` (a router directory: weights, tokenizer,
  chat template and ``xrouter.json``) or a hub id.  The directory's settings file says how the
  router was prompted, rewarded and decoded, and its knob (``reward.lam``); with
  ``policy.use_router_settings=false`` (or for a hub id) they come from this config instead.
* ``router_prompted``: the same router model before RL.  ``policy.from_run=<train run>`` takes the
  weights that run started from (``initial_router`` in its ``router/xrouter.json``) with that run's
  settings; ``policy.path`` names weights directly; otherwise the router is built from ``router=``
  exactly as ``xrouter.train`` builds it (``build.build_run``: for ``router=tiny`` the same corpus,
  so the same cached weights).

This module only decides *which* weights and settings a policy means (``router_choice``) and runs
the built loop greedily (``evaluate_router_policy``); building is ``xrouter.build.build_run``'s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xrouter.config import to_plain
from xrouter.router.settings import RouterSettings, load_router_settings

log = logging.getLogger(__name__)


def router_choice(cfg: DictConfig, pool_models: Sequence[str]) -> tuple[str | None, RouterSettings | None]:
    """(weights, settings) that ``cfg.policy`` evaluates; ``None`` weights: build ``cfg.router``;
    ``None`` settings: those of the weights' directory (``build_run`` reads them)."""
    policy = to_plain(cfg.policy)
    path = policy.get("path")
    if policy["name"] == "router":
        if not path or path == "???":
            raise ValueError("policy=router needs policy.path=<train run>/router or a hub id")
        if not policy.get("use_router_settings", True):
            return str(path), RouterSettings.from_config(cfg, pool_models, source="evaluate config")
        return str(path), None
    if policy.get("from_run"):
        run = Path(policy["from_run"]).expanduser()
        settings = load_router_settings(run / "router", RouterSettings.from_config(cfg, pool_models))
        initial = settings.initial_router
        if initial is None and (run / "result.json").exists():  # runs from before the settings file
            initial = json.loads((run / "result.json").read_text()).get("initial_router")
        if not initial:
            raise ValueError(f"policy.from_run={run}: its router settings name no initial_router; give policy.path")
        return str(initial), settings
    return (str(path), None) if path else (None, None)


def router_identity(cfg: DictConfig, settings: RouterSettings, path: str) -> dict[str, Any]:
    """The run's label and knob: a trained router's reward knob (``lam``), none before RL."""
    policy = cfg.policy
    if policy.name == "router":
        knob = settings.knob if settings.from_router_dir else {}
        lam = knob.get("lam")
        label = policy.get("label") or (f"xrouter lam={lam:g}" if lam is not None else f"router {path}")
        return {"label": label, "knob": knob}
    return {"label": policy.get("label") or "router before RL", "knob": {}}


def evaluate_router_policy(
    cfg: DictConfig, run, examples: list[dict[str, Any]], output_dir: Path, router_path: str
) -> dict[str, Any]:
    """Run ``run.loop`` (a ``build.Run``) greedily over ``examples``; writes and returns the run's summary."""
    from xrouter.evaluation.router_run import EVAL_BATCH_SIZE, evaluate_router

    identity = router_identity(cfg, run.settings, router_path)
    max_new_tokens = int(cfg.policy.get("max_new_tokens") or run.settings.max_new_tokens)
    log.info("evaluating %s (%s) greedily on %d examples", identity["label"], router_path, len(examples))
    config = OmegaConf.to_container(cfg, resolve=True)
    config["router_settings"] = asdict(run.settings)  # what the router actually ran with
    if cfg.policy.get("lam_grid"):
        from xrouter.evaluation.router_sweep import evaluate_lam_grid, router_reference

        return evaluate_lam_grid(
            run.loop,
            examples,
            output_dir,
            list(cfg.policy.lam_grid),
            max_new_tokens,
            label=identity["label"].split(" lam=")[0],
            reference=router_reference(cfg, run.pool, examples),
            batch_size=int(cfg.policy.get("batch_size") or EVAL_BATCH_SIZE),
            config_yaml=OmegaConf.to_yaml(OmegaConf.create(config)),
            resume=bool(cfg.resume) and not cfg.overwrite,
            progress=bool(cfg.get("progress", True)),
            policy=cfg.policy.name,
            benchmark=cfg.benchmark.name,
            pool=cfg.pool.name,
            split=cfg.split,
        )
    return evaluate_router(
        run.loop,
        examples,
        output_dir,
        max_new_tokens,
        batch_size=int(cfg.policy.get("batch_size") or EVAL_BATCH_SIZE),
        policy=cfg.policy.name,
        label=identity["label"],
        knob=identity["knob"],
        benchmark=cfg.benchmark.name,
        pool=cfg.pool.name,
        split=cfg.split,
        config_yaml=OmegaConf.to_yaml(OmegaConf.create(config)),
        resume=bool(cfg.resume) and not cfg.overwrite,
        progress=bool(cfg.get("progress", True)),
        extra={"router_path": router_path, "seed": int(cfg.seed)},
    )

"""The one place that turns configs into objects: prices, endpoints and pools (``pools.py``), routers, environments,
loops.

``build_run(cfg)`` is the run recipe every entry point uses (train, evaluate, serve's demo, tests):
pool, prompts, router, environment and agent loop from one composed config; ``save_router`` writes
the self-describing router directory that evaluate and serve read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from xrouter.build.pools import ENDPOINT_KINDS, build_endpoint, build_pool, price_from_traces, pricing_entries
from xrouter.config import ConfigValueError, data_dir_of, to_plain
from xrouter.pool.pool import ModelPool
from xrouter.reward.units import resolve_cost_unit, with_cost_unit
from xrouter.router.conditioning import check_router_matches, conditioning_spec
from xrouter.router.decision_head import decision_head_spec
from xrouter.router.formats import ActionFormat, resolve_format
from xrouter.router.prefix_lm import PREFIX_TOKEN
from xrouter.router.settings import RouterSettings

__all__ = [
    "ENDPOINT_KINDS",
    "build_endpoint",
    "build_pool",
    "price_from_traces",
    "pricing_entries",
]  # xrouter/build/pools.py


def router_corpus(examples: list[dict[str, Any]], env) -> list[str]:
    """Texts the tiny router's tokenizer is trained on: what it will read and write."""
    import json as _json

    corpus = [env.reset(e, "corpus").messages[1]["content"] for e in examples]
    corpus.append(env.system_prompt_text)
    tools = env.tools()
    if tools:
        corpus.append(_json.dumps(tools))
    for name in env.pool.names:
        corpus += env.format.corpus_turns(name) * 10
    return corpus


def router_extra_tokens(pool: ModelPool, action_format: str | ActionFormat = "tool_calls") -> list[str]:
    """Whole tokens for the tiny router: the action format's name for each pool model and its fixed pieces
    (each tool name and the tool-call JSON scaffolding; Router-R1's format: each model name and its tags)."""
    return resolve_format(action_format).extra_tokens(pool.names)


def lm_reads_condition(value: bool | str, mode: str) -> bool:
    """``router.condition_lm``: true, false, or ``auto``: the LM reads the query and lambda in full mode, where it
    makes the turn decisions (a second call, escalate or ``select_response``) that the routing head, which only
    names the model of a call, cannot make; not in simple mode, where the call's model is the one decision and the
    head makes it (experiments/rl_learning/ and experiments/reasoning_pool/ READMEs)."""
    if value == "auto":
        return mode != "simple"
    if isinstance(value, bool):
        return value
    raise ConfigValueError(f"router.condition_lm={value!r}: must be true, false or auto")


def build_router(
    router_cfg: Mapping[str, Any],
    corpus: list[str] | None,
    cache_dir: Path,
    device: str = "cpu",
    extra_tokens: list[str] | None = None,
    conditioning=None,
    mode: str = "simple",
):
    """(model, tokenizer): the tiny router (``tiny``; ``tiny_encoder`` with the soft-prefix projector that
    ``conditioning`` sizes) built for ``corpus``, or a pretrained one from a path / hub id.  ``mode`` is the
    environment's (simple | full): it resolves ``router.condition_lm: auto``."""
    import torch

    from xrouter.router.model_loader import build_tiny_router, load_router

    router_cfg = to_plain(router_cfg)
    if router_cfg["kind"] in ("tiny", "tiny_encoder"):
        prefix = None
        if router_cfg["kind"] == "tiny_encoder":
            if conditioning is None:
                raise ValueError("router=tiny_encoder needs its conditioning settings (RouterSettings.conditioning)")
            prefix = {
                "condition_dim": conditioning.dimension,
                "prefix_tokens": conditioning.prefix_tokens,
                "projector_hidden": int(router_cfg.get("projector_hidden", 256)),
                "projector_lr_scale": float(router_cfg.get("projector_lr_scale", 1.0)),
                "lam_features": conditioning.n_lam_features,
                "decision": decision_head_spec(router_cfg, extra_tokens),
                "condition_lm": lm_reads_condition(router_cfg.get("condition_lm", True), mode),
            }
        model, tokenizer = build_tiny_router(
            corpus or [],
            router_cfg["arch"],
            router_cfg["vocab_size"],
            cache_dir,
            seed=router_cfg.get("seed", 0),
            extra_tokens=extra_tokens if router_cfg.get("tool_tokens") else None,
            prefix=prefix,
        )
        return model.to(device), tokenizer
    if router_cfg["kind"] == "pretrained":
        dtype = getattr(torch, router_cfg.get("dtype", "float32"))
        return load_router(router_cfg["path"], dtype=dtype, device=device)
    raise ValueError(f"router.kind must be 'tiny', 'tiny_encoder' or 'pretrained', not '{router_cfg['kind']}'")


def build_env(pool: ModelPool, settings: RouterSettings, reward_cfg: Mapping[str, Any] | None = None):
    """The routing environment: the router's prompt, price and turns (``settings``) over ``pool``, scored
    by the benchmark verifiers and ``reward_cfg`` (default: the reward the router was trained on)."""
    from xrouter.data.benchmarks import verify_example
    from xrouter.env.router_env import TOOL_RESULT_CHARS, RouterEnv
    from xrouter.pool.pricing import parse_price_entry
    from xrouter.reward import build_reward

    prompt = settings.prompt
    spec = conditioning_spec(settings)
    query_prefix = "" if spec is None else PREFIX_TOKEN * spec.prefix_tokens
    router_price = parse_price_entry("router", settings.price) if settings.price else None
    return RouterEnv(
        pool,
        verify_example,
        build_reward(with_cost_unit(to_plain(reward_cfg or settings.reward), pool.price_pairs())),
        max_turns=settings.max_turns,
        mode=settings.mode,
        tools_in_prompt=prompt.get("tools_in_prompt", "full"),
        max_query_chars=prompt.get("max_query_chars"),
        max_tool_result_chars=prompt.get("max_tool_result_chars", TOOL_RESULT_CHARS),
        call_max_tokens=settings.call_max_tokens,
        router_price=router_price,
        system_prompt_style=prompt.get("system_prompt_style"),
        query_prefix=query_prefix,
        action_format=resolve_format(settings.action_format),
        tool_result_view=settings.tool_result_view,
    )


def build_agent_loop(
    rollout_cfg: Mapping[str, Any],
    settings: RouterSettings,
    model,
    tokenizer,
    env,
    device: str = "cpu",
    cache_dir: Path | None = None,
):
    """The agent loop with the configured rollout backend (``hf``; ``vllm`` on GPUs); a prefix router's
    loop embeds each query (and its lambda) with a ``QueryConditioner`` (embeddings cached in ``cache_dir``)."""
    from xrouter.rollout.agent_loop import AgentLoop
    from xrouter.rollout.hf import HFGenerator
    from xrouter.router.conditioning import QueryConditioner

    rollout = {**to_plain(rollout_cfg), "eos_token": settings.eos_token, "max_seq_len": settings.max_seq_len}
    eos = tokenizer.convert_tokens_to_ids(settings.eos_token)
    if rollout["backend"] == "hf":
        generator = HFGenerator(model, tokenizer, eos, device=device, batch_size=rollout["generate_batch_size"])
    elif rollout["backend"] == "vllm":
        if settings.conditioning is not None:
            raise ValueError(
                "router=tiny_encoder (a soft-prefix router) runs with rollout=hf; rollout=vllm takes token prompts only"
            )
        from xrouter.rollout.vllm import VLLMGenerator  # GPU-only extra, imported lazily

        generator = VLLMGenerator(model, tokenizer, eos, rollout)
    else:
        raise ValueError(f"rollout.backend must be 'hf' or 'vllm', not '{rollout['backend']}'")
    spec = conditioning_spec(settings)
    conditioner = None if spec is None else QueryConditioner(spec, str(cache_dir) if cache_dir else None)
    return AgentLoop(generator, tokenizer, env, max_seq_len=settings.max_seq_len, conditioner=conditioner)


# ---- the run recipe: config -> pool, prompts, router, environment, loop ------------------------------


@dataclass
class Run:
    """What a config turns into: train, evaluate, serve's demo and the tests all start here."""

    pool: ModelPool
    settings: RouterSettings
    env: Any  # RouterEnv
    model: Any  # a transformers causal LM
    tokenizer: Any
    loop: Any  # AgentLoop
    train: list[dict[str, Any]]
    dev: list[dict[str, Any]]
    device: str

    def close(self) -> None:
        self.loop.close()


def train_and_dev(cfg: DictConfig, data_dir: Path, cache_dir: Path) -> tuple[list[dict], list[dict]]:
    """The training prompts and the seeded dev slice carved from them (``data.dev_fraction``, ``data.dev_max``)."""
    from xrouter.data.benchmarks import load_benchmark
    from xrouter.data.splits import split_dev

    examples = load_benchmark(cfg.benchmark, data_dir, cfg.data.train_split, cache_dir).to_dict("records")
    train, dev = split_dev(examples, cfg.data.dev_fraction, cfg.seed, cfg.data.get("dev_max"))
    if cfg.data.get("train_max"):
        train = train[: int(cfg.data.train_max)]
    return train, dev


def load_examples(cfg: DictConfig, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The examples of ``cfg.benchmark``'s ``split`` (the first ``limit`` only, when given)."""
    from xrouter.data.benchmarks import load_benchmark

    frame = load_benchmark(cfg.benchmark, data_dir_of(cfg), split, Path(cfg.paths.cache_dir))
    if limit:
        frame = frame.head(int(limit))
    return frame.to_dict("records")


def build_run(
    cfg: DictConfig,
    *,
    device: str = "cpu",
    pool: ModelPool | None = None,
    router_path: str | Path | None = None,
    settings: RouterSettings | None = None,
) -> Run:
    """Pool, prompts, router, environment and agent loop of a composed train/evaluate config.

    Without ``router_path`` the router is built from ``cfg.router`` (the tiny router's tokenizer is
    trained on the training prompts, so the same config always gives the same cached weights) and its
    settings come from ``cfg``.  With ``router_path`` (a saved router directory or hub id) the weights
    are loaded and the settings come from the directory's ``xrouter.json`` (``load_router_settings``).
    ``pool`` replaces ``cfg.pool`` (a subset of models, a serving ledger); ``settings`` replaces the
    router's own (evaluating the weights a run started from with that run's settings).
    """
    import torch

    from xrouter.router.model_loader import load_router
    from xrouter.router.settings import load_router_settings

    data_dir, cache_dir = data_dir_of(cfg), Path(cfg.paths.cache_dir)
    pool = pool if pool is not None else build_pool(cfg.pool, data_dir, cache_dir)
    resolve_cost_unit(cfg, pool.price_pairs())  # reward.cost_unit_usd: pool -> the pool's number
    if router_path is None:
        settings = settings or RouterSettings.from_config(cfg, pool.names)
        train, dev = train_and_dev(cfg, data_dir, cache_dir)
        env = build_env(pool, settings)
        model, tokenizer = build_router(
            cfg.router,
            router_corpus(train, env),
            cache_dir,
            device,
            extra_tokens=router_extra_tokens(pool, settings.action_format),
            conditioning=conditioning_spec(settings),
            mode=settings.mode,
        )
        settings.initial_router = str(model.config._name_or_path)
    else:
        settings = settings or load_router_settings(
            router_path, RouterSettings.from_config(cfg, pool.names, source="config (no settings file)")
        )
        train, dev = [], []
        env = build_env(pool, settings)
        dtype = getattr(torch, str(cfg.router.get("dtype", "float32")))
        model, tokenizer = load_router(router_path, dtype=dtype, device=device)
        check_router_matches(router_path, model, settings)
    loop = build_agent_loop(cfg.rollout, settings, model, tokenizer, env, device, cache_dir)
    return Run(pool, settings, env, model, tokenizer, loop, train, dev, device)


def save_router(run: Run, router_dir: str | Path) -> Path:
    """Weights, tokenizer (with its chat template) and ``xrouter.json``: a router directory complete on its own."""
    router_dir = Path(router_dir)
    run.model.save_pretrained(router_dir)
    run.tokenizer.save_pretrained(router_dir)
    run.settings.save(router_dir)
    return router_dir

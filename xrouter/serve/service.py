"""Build the router server from ``conf/serve.yaml``: router, router settings, pool, env, batcher, app.

A router directory written by ``xrouter.train`` (``<run>/router``) is served with the prompt, price,
turn and generation settings it was trained with, read from its ``xrouter.json``; any other
checkpoint or hub id uses ``router_settings`` from the serve config.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from xrouter.config import data_dir_of, to_plain
from xrouter.router.settings import RouterSettings, load_router_settings
from xrouter.serve.budgets import Budgets
from xrouter.serve.metrics import ServerMetrics, ServingLedger
from xrouter.serve.protocol import Limits

log = logging.getLogger(__name__)


def router_settings(router_path: str, cfg: Mapping[str, Any], from_run_config: bool = True) -> RouterSettings:
    """The router directory's own settings (``xrouter.json``; an older run's ``config.yaml``), else the
    serve config's ``router_settings`` (hub ids, ``from_run_config=false``)."""
    defaults = RouterSettings(**to_plain(cfg["router_settings"]), source="serve config router_settings")
    return load_router_settings(router_path, defaults) if from_run_config else defaults


def api_keys(auth_cfg: Mapping[str, Any]) -> list[str]:
    """Keys from the environment variable ``auth.api_keys_env`` (comma-separated) and ``auth.api_keys``; an entry
    ``name:key`` names its key (budgets are per name: ``xrouter/serve/budgets.py``)."""
    keys = [k.strip() for k in (auth_cfg.get("api_keys") or []) if k and k.strip()]
    env_name = auth_cfg.get("api_keys_env")
    if env_name:
        keys += [k.strip() for k in os.environ.get(env_name, "").split(",") if k.strip()]
    return keys


def server_limits(cfg: Mapping[str, Any], settings: RouterSettings, router_path: str | None = None) -> Limits:
    """The server's per-request limits, with a lambda-conditioned router's trained lambda range and its
    calibration (``<router>/calibration.json``, for requests' ``max_cost_per_query``)."""
    limits = to_plain(cfg["limits"])
    max_turns = int(limits.get("max_turns") or settings.max_turns)
    if not 1 <= max_turns <= settings.max_turns:
        raise ValueError(
            f"limits.max_turns={max_turns} must be within [1, {settings.max_turns}] "
            f"(the router's max_turns, from {settings.source})"
        )
    if float(limits["timeout_s"]) <= 0 or float(limits["max_usd"]) < 0:
        raise ValueError("limits.timeout_s must be positive and limits.max_usd non-negative")
    conditioning = settings.conditioning or {}
    lam = lam_max = calibration = None
    if conditioning.get("lam_conditioned"):  # the default a request's xrouter.lam replaces
        lam = float(limits["lam"]) if limits.get("lam") is not None else float(conditioning["default_lam"])
        lam_max = float(conditioning["lam_max"])
        if not 0 <= lam <= lam_max:
            raise ValueError(f"limits.lam={lam} must be in [0, {lam_max:g}] (the lambdas the router was trained on)")
        if router_path is not None:
            from xrouter.router.calibration import load_calibration

            found = load_calibration(router_path)
            calibration = tuple(found) if found else None
    elif limits.get("lam") is not None:
        raise ValueError(
            f"limits.lam={limits['lam']}: the router ({settings.source}) is not lambda-conditioned; drop limits.lam"
        )
    return Limits(float(limits["timeout_s"]), float(limits["max_usd"]), max_turns, lam, lam_max, calibration)


def build_server(cfg: DictConfig | Mapping[str, Any]):
    """(app, service): the FastAPI app serving the configured router over the configured pool."""
    import torch

    from xrouter.build import build_env, build_pool
    from xrouter.rollout.hf import HFGenerator, SamplingConfig
    from xrouter.router.conditioning import QueryConditioner, conditioning_spec
    from xrouter.router.model_loader import load_router, load_tokenizer
    from xrouter.serve.app import build_app
    from xrouter.serve.batching import BatchedGenerator
    from xrouter.serve.inference import ProcessGenerator
    from xrouter.serve.orchestrator import RouterService

    router_path = str(cfg["router_path"])
    if router_path in ("???", "", "None"):
        raise ValueError("no router given: python -m xrouter.serve router=<checkpoint dir or hub id>")
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    settings = router_settings(router_path, cfg, bool(cfg.get("from_run_config", True)))
    metrics = ServerMetrics()
    budgets = Budgets(to_plain(cfg.get("budgets")))
    cache_dir = cfg["paths"].get("cache_dir")
    pool = build_pool(
        cfg["pool"],
        data_dir_of(cfg),
        Path(cache_dir) if cache_dir else None,
        ledger=ServingLedger(metrics, budgets=budgets),
    )
    if settings.pool_models and not set(settings.pool_models) & set(pool.names):
        raise ValueError(
            f"the router was trained on pool models {settings.pool_models} and this pool has none of "
            f"them ({pool.names}); serve it with the pool it was trained on"
        )
    if settings.pool_models and set(settings.pool_models) - set(pool.names):
        log.warning(
            "the router was trained with models this pool lacks (%s): its calls to them get an error back",
            sorted(set(settings.pool_models) - set(pool.names)),
        )
    env = build_env(pool, settings, reward_cfg=to_plain(cfg["reward"]))  # build_env resolves cost_unit_usd: pool
    device, dtype = str(cfg.get("device") or "cpu"), str(cfg.get("dtype") or "float32")
    tokenizer = load_tokenizer(router_path)
    eos = tokenizer.convert_tokens_to_ids(settings.eos_token)
    if eos is None or eos == tokenizer.unk_token_id:
        raise ValueError(
            f"the router's tokenizer has no end-of-turn token {settings.eos_token!r} (router_settings.eos_token)"
        )
    batching = to_plain(cfg["batching"])
    inference = str(cfg.get("inference") or "process")
    if inference == "process":
        generator = ProcessGenerator(
            router_path,
            eos,
            dtype=dtype,
            device=device,
            batch_size=int(batching["max_batch_size"]),
            threads=cfg.get("threads"),
        )
        n_parameters = generator.n_parameters
    elif inference == "thread":
        model, _ = load_router(router_path, dtype=getattr(torch, dtype), device=device)
        model.eval()
        generator = HFGenerator(model, tokenizer, eos, device=device, batch_size=int(batching["max_batch_size"]))
        n_parameters = sum(p.numel() for p in model.parameters())
    else:
        raise ValueError(f"inference must be 'process' or 'thread', not '{inference}'")
    sampling = SamplingConfig(max_new_tokens=settings.max_new_tokens, do_sample=False)
    # a tiny_encoder router: each request's query is embedded here, cached in memory only (a disk cache
    # file per served query would pile up)
    spec = conditioning_spec(settings)
    conditioner = None if spec is None else QueryConditioner(spec, None)
    if conditioner is not None:
        conditioner.embedder.max_memory = 50_000  # unique queries would otherwise grow it for good
    fallback = to_plain(cfg["fallback"])
    fallback_model = fallback.get("model")
    if fallback_model == "cheapest":
        fallback_model = pool.cheapest()
    batcher = BatchedGenerator(
        generator, sampling, int(batching["max_batch_size"]), float(batching["max_wait_ms"]), on_batch=metrics.batch
    )
    auth = to_plain(cfg["auth"])
    try:
        service = RouterService(
            env,
            batcher,
            tokenizer,
            eos_token_id=eos,
            max_new_tokens=settings.max_new_tokens,
            max_seq_len=settings.max_seq_len,
            fallback_model=fallback_model,
            fallback_timeout_s=float(fallback.get("timeout_s", 30.0)),
            fallback_over_budget=bool(fallback.get("over_budget", False)),
            conditioner=conditioner,
            budgets=budgets,
            max_in_flight=int(cfg["limits"].get("max_in_flight") or 512),
            decision_log=cfg.get("decision_log"),
        )
        limits = server_limits(cfg, settings, router_path)
        app = build_app(
            service,
            model_name=str(cfg["model_name"]),
            api_keys=api_keys(auth),
            limits=limits,
            metrics=metrics,
            max_body_bytes=int(cfg["limits"]["max_body_bytes"]),
            auth_required=bool(auth.get("required", True)),
        )
    except Exception:
        batcher.close()  # stops the inference process
        raise
    log.info(
        "router %s (%.2fM parameters, inference in a %s; settings from %s) over pool %s; limits %s; "
        "fallback model %s; auth %s",
        router_path,
        n_parameters / 1e6,
        inference,
        settings.source,
        pool.names,
        limits.as_dict(),
        fallback_model,
        "on" if auth.get("required", True) else "OFF",
    )
    return app, service

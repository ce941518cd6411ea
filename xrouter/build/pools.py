"""Pools from configs: each model's price (the pricing group, per-model entries, recorded costs), its endpoint
(replay, any OpenAI-compatible server, a local transformers model) and the ``ModelPool`` over them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from xrouter import CONF_DIR
from xrouter.config import to_plain
from xrouter.data.datasets import pool_traces
from xrouter.pool.ledger import CostLedger
from xrouter.pool.pool import ModelCard, ModelPool
from xrouter.pool.pricing import Price, PriceTable
from xrouter.pool.specs import model_specs

ENDPOINT_KINDS = ("replay", "openai", "hf_local")


def pricing_entries(pool_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The pool's price table (``pool.pricing``: the ``conf/pricing`` group composed in, or a name of one
    of its files) with per-model ``price:`` entries on top."""
    entries: dict[str, Any] = {}
    if isinstance(pool_cfg.get("pricing"), Mapping):
        entries.update(pool_cfg["pricing"])
    elif pool_cfg.get("pricing"):
        path = CONF_DIR / "pricing" / f"{pool_cfg['pricing']}.yaml"
        if not path.exists():
            raise FileNotFoundError(f"pool.pricing='{pool_cfg['pricing']}': no such file {path}")
        entries.update(to_plain(OmegaConf.load(path)))
    for name, spec in (pool_cfg.get("models") or {}).items():
        if spec and spec.get("price"):
            entries[name] = spec["price"]
        elif spec and name not in entries and spec.get("trace_model") in entries:  # priced by its trace id
            entries[name] = entries[spec["trace_model"]]
    return entries


def price_from_traces(rows: pd.DataFrame) -> Price | None:
    """A blended per-1M price from recorded costs and tokens (None when tokens are missing)."""
    tokens = rows["input_tokens"].fillna(0).sum() + rows["output_tokens"].fillna(0).sum()
    if rows["input_tokens"].isna().all() or tokens <= 0:
        return None
    per_mtok = float(rows["cost_usd"].sum()) / float(tokens) * 1e6
    return Price(per_mtok, per_mtok, source="estimated from recorded costs and tokens")


def build_pool(
    pool_cfg: Mapping[str, Any] | DictConfig,
    data_dir: Path,
    cache_dir: Path | None = None,
    ledger: CostLedger | None = None,
) -> ModelPool:
    """A ``ModelPool`` from a ``conf/pool`` config.  Fails at start-up on any model without a price."""
    pool_cfg = to_plain(pool_cfg)
    kinds = {spec.get("kind", pool_cfg.get("kind")) for spec in (pool_cfg.get("models") or {}).values() if spec}
    kinds.add(pool_cfg.get("kind", "replay"))
    traces = None
    if "replay" in kinds:
        if not pool_cfg.get("traces") or pool_cfg.get("traces") == "???":
            raise ValueError("a replay pool needs recorded answers: set pool.traces=<dataset name or trace file>")
        traces = pool_traces(pool_cfg, data_dir, cache_dir)
    specs = model_specs(pool_cfg, traces)
    entries = pricing_entries(pool_cfg)
    if pool_cfg.get("price_from_traces") and traces is not None:
        for name, spec in specs.items():
            if name not in entries:
                estimated = price_from_traces(traces[traces["model"] == spec.get("trace_model", name)])
                if estimated is not None:
                    entries[name] = {
                        "input_per_mtok": estimated.input_per_mtok,
                        "output_per_mtok": estimated.output_per_mtok,
                        "source": estimated.source,
                    }
    prices = PriceTable.from_config(entries, specs)
    endpoints, cards = {}, {}
    for name, spec in specs.items():
        endpoints[name] = build_endpoint(name, spec, prices[name], traces)
        cards[name] = ModelCard(
            name=name,
            price=prices[name],
            context_tokens=spec.get("context_tokens"),
            strengths=spec.get("strengths", ""),
        )
    return ModelPool(endpoints, cards, ledger=ledger, cache_calls=bool(pool_cfg.get("cache_calls", False)))


def build_endpoint(name: str, spec: Mapping[str, Any], price: Price, traces: pd.DataFrame | None):
    """One endpoint of kind ``replay``, ``openai`` (any OpenAI-compatible server) or ``hf_local``."""
    kind = spec.get("kind")
    if kind == "replay":
        from xrouter.pool.replay import ReplayEndpoint

        return ReplayEndpoint(name, traces, trace_model=spec.get("trace_model", name))
    if kind == "openai":
        from xrouter.pool.openai_compat import OpenAICompatEndpoint

        options = {
            k: spec[k]
            for k in (
                "timeout_s",
                "max_attempts",
                "backoff_base_s",
                "backoff_max_s",
                "max_in_flight",
                "extra_body",
                "http_backend",
                "send_prompt_id",
            )
            if spec.get(k) is not None
        }
        if not spec.get("base_url"):
            raise ValueError(f"pool model '{name}' (kind openai) needs base_url")
        return OpenAICompatEndpoint(
            name=name,
            api_model=spec.get("api_model", name),
            base_url=spec["base_url"],
            api_key_env=spec.get("api_key_env"),
            price=price,
            **options,
        )
    if kind == "hf_local":
        from xrouter.pool.hf_local import HFLocalEndpoint

        options = {k: spec[k] for k in ("device", "dtype", "max_new_tokens") if spec.get(k) is not None}
        return HFLocalEndpoint(name=name, model_path=spec.get("model_path", name), price=price, **options)
    raise ValueError(f"pool model '{name}': unknown kind '{kind}'; use one of {ENDPOINT_KINDS}")


# ---- router, environment, rollouts ----------------------------------------------------------------

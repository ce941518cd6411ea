"""The one place that turns configs into objects: datasets, prices, endpoints, pools."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from xrouter import CONF_DIR
from xrouter.config import to_plain
from xrouter.data.datasets import dataset_config, load_dataset
from xrouter.data.traces import load_traces
from xrouter.pool.ledger import CostLedger
from xrouter.pool.pool import ModelCard, ModelPool
from xrouter.pool.pricing import Price, PriceTable

ENDPOINT_KINDS = ("replay", "openai", "hf_local")


def tool_safe_name(model: str) -> str:
    """A trace model id as a pool name usable in ``call_<name>`` (``meta/llama-2-70b`` -> ``llama-2-70b``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", model.split("/")[-1])[:59]


def load_pool_traces(traces: str, data_dir: Path, cache_dir: Path | None = None) -> pd.DataFrame:
    """``traces`` is a dataset name (``conf/dataset/<name>.yaml``) or a canonical trace file."""
    if (CONF_DIR / "dataset" / f"{traces}.yaml").exists():
        return load_dataset(dataset_config(traces), data_dir, cache_dir=cache_dir)
    path = Path(traces).expanduser()
    if not path.exists():
        known = sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml"))
        raise FileNotFoundError(f"pool.traces='{traces}' is neither a dataset name ({known}) nor an existing file")
    return load_traces(path)


def pricing_entries(pool_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The pool's pricing file (``conf/pricing/<pool.pricing>.yaml``) with per-model ``price:`` on top."""
    entries: dict[str, Any] = {}
    if pool_cfg.get("pricing"):
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


def model_specs(pool_cfg: Mapping[str, Any], traces: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Each pool model's settings: ``common`` merged under the model's own entry.

    A replay pool with no ``models:`` takes every model in its traces.
    """
    common = dict(pool_cfg.get("common") or {})
    models = dict(pool_cfg.get("models") or {})
    if not models and traces is not None:
        models = {tool_safe_name(m): {"trace_model": m} for m in sorted(traces["model"].unique())}
    if not models:
        raise ValueError(f"pool '{pool_cfg.get('name')}' has no models; list them under pool.models")
    return {name: {"kind": pool_cfg.get("kind", "replay"), **common, **(spec or {})} for name, spec in models.items()
            if not str(name).startswith("_")}


def build_pool(pool_cfg: Mapping[str, Any] | DictConfig, data_dir: Path, cache_dir: Path | None = None,
               ledger: CostLedger | None = None) -> ModelPool:
    """A ``ModelPool`` from a ``conf/pool`` config.  Fails at start-up on any model without a price."""
    pool_cfg = to_plain(pool_cfg)
    kinds = {spec.get("kind", pool_cfg.get("kind")) for spec in (pool_cfg.get("models") or {}).values() if spec}
    kinds.add(pool_cfg.get("kind", "replay"))
    traces = None
    if "replay" in kinds:
        if not pool_cfg.get("traces") or pool_cfg.get("traces") == "???":
            raise ValueError("a replay pool needs recorded answers: set pool.traces=<dataset name or trace file>")
        traces = load_pool_traces(str(pool_cfg["traces"]), data_dir, cache_dir)
    specs = model_specs(pool_cfg, traces)
    entries = pricing_entries(pool_cfg)
    if pool_cfg.get("price_from_traces") and traces is not None:
        for name, spec in specs.items():
            if name not in entries:
                estimated = price_from_traces(traces[traces["model"] == spec.get("trace_model", name)])
                if estimated is not None:
                    entries[name] = {"input_per_mtok": estimated.input_per_mtok,
                                     "output_per_mtok": estimated.output_per_mtok, "source": estimated.source}
    prices = PriceTable.from_config(entries, specs)
    endpoints, cards = {}, {}
    for name, spec in specs.items():
        endpoints[name] = build_endpoint(name, spec, prices[name], traces)
        cards[name] = ModelCard(name=name, price=prices[name], context_tokens=spec.get("context_tokens"),
                                strengths=spec.get("strengths", ""))
    return ModelPool(endpoints, cards, ledger=ledger)


def build_endpoint(name: str, spec: Mapping[str, Any], price: Price, traces: pd.DataFrame | None):
    """One endpoint of kind ``replay``, ``openai`` (any OpenAI-compatible server) or ``hf_local``."""
    kind = spec.get("kind")
    if kind == "replay":
        from xrouter.pool.replay import ReplayEndpoint

        return ReplayEndpoint(name, traces, trace_model=spec.get("trace_model", name))
    if kind == "openai":
        from xrouter.pool.openai_compat import OpenAICompatEndpoint

        options = {k: spec[k] for k in ("timeout_s", "max_attempts", "backoff_base_s", "backoff_max_s",
                                         "max_in_flight", "extra_body", "http_backend", "send_prompt_id")
                   if spec.get(k) is not None}
        if not spec.get("base_url"):
            raise ValueError(f"pool model '{name}' (kind openai) needs base_url")
        return OpenAICompatEndpoint(name=name, api_model=spec.get("api_model", name), base_url=spec["base_url"],
                                    api_key_env=spec.get("api_key_env"), price=price, **options)
    if kind == "hf_local":
        from xrouter.pool.hf_local import HFLocalEndpoint

        options = {k: spec[k] for k in ("device", "dtype", "max_new_tokens") if spec.get(k) is not None}
        return HFLocalEndpoint(name=name, model_path=spec.get("model_path", name), price=price, **options)
    raise ValueError(f"pool model '{name}': unknown kind '{kind}'; use one of {ENDPOINT_KINDS}")


# ---- router, environment, rollouts ----------------------------------------------------------------

def router_corpus(examples: list[dict[str, Any]], env) -> list[str]:
    """Texts the tiny router's tokenizer is trained on: what it will read and write."""
    import json as _json

    from xrouter.rl.cold_start import call_text, select_text

    corpus = [env.reset(e, "corpus").messages[1]["content"] for e in examples]
    corpus.append(env.system_prompt_text)
    tools = env.tools()
    if tools:
        corpus.append(_json.dumps(tools))
    for name in env.pool.names:
        corpus += [call_text(name), select_text(name), call_text(name, None), call_text(name, "Answer concisely.")] * 10
    return corpus


TOOL_SCAFFOLD_TOKENS = ['\n{"name": "', '", "arguments": {}}\n', '", "arguments": {"model_call_name": "', '"}}\n',
                        "select_response"]


def router_extra_tokens(pool: ModelPool) -> list[str]:
    """Whole tokens for the tiny router: each tool name and the tool-call JSON scaffolding."""
    return [f"call_{name}" for name in pool.names] + TOOL_SCAFFOLD_TOKENS


def build_router(router_cfg: Mapping[str, Any], corpus: list[str] | None, cache_dir: Path, device: str = "cpu",
                 extra_tokens: list[str] | None = None):
    """(model, tokenizer): the tiny router built for ``corpus``, or a pretrained one from a path / hub id."""
    import torch

    from xrouter.router.policy import build_tiny_router, load_router

    router_cfg = to_plain(router_cfg)
    if router_cfg["kind"] == "tiny":
        model, tokenizer = build_tiny_router(corpus or [], router_cfg["arch"], router_cfg["vocab_size"], cache_dir,
                                             seed=router_cfg.get("seed", 0),
                                             extra_tokens=extra_tokens if router_cfg.get("tool_tokens") else None)
        return model.to(device), tokenizer
    if router_cfg["kind"] == "pretrained":
        dtype = getattr(torch, router_cfg.get("dtype", "float32"))
        return load_router(router_cfg["path"], dtype=dtype, device=device)
    raise ValueError(f"router.kind must be 'tiny' or 'pretrained', not '{router_cfg['kind']}'")


def build_env(cfg: Mapping[str, Any], pool: ModelPool):
    """The routing environment from ``env``, ``router.prompt`` and ``reward`` configs."""
    from xrouter.env.router_env import RouterEnv
    from xrouter.pool.pricing import parse_price_entry
    from xrouter.data.benchmarks import verify_example
    from xrouter.reward import build_reward

    env_cfg, prompt_cfg = to_plain(cfg["env"]), to_plain(cfg["router"].get("prompt") or {})
    router_price = parse_price_entry("router", to_plain(cfg["router"]["price"])) if cfg["router"].get("price") else None
    return RouterEnv(pool, verify_example, build_reward(to_plain(cfg["reward"])), max_turns=env_cfg["max_turns"],
                     mode=env_cfg["mode"], tools_in_prompt=prompt_cfg.get("tools_in_prompt", "full"),
                     max_query_chars=prompt_cfg.get("max_query_chars"),
                     max_tool_result_chars=prompt_cfg.get("max_tool_result_chars", 2000),
                     call_max_tokens=env_cfg.get("call_max_tokens"), router_price=router_price,
                     system_prompt_style=prompt_cfg.get("system_prompt_style"))


def build_agent_loop(cfg: Mapping[str, Any], model, tokenizer, env, device: str = "cpu"):
    """The agent loop with the configured rollout backend (``hf``; ``vllm`` on GPUs)."""
    from xrouter.rollout.agent_loop import AgentLoop
    from xrouter.rollout.hf import HFGenerator

    rollout = to_plain(cfg["rollout"])
    eos = tokenizer.convert_tokens_to_ids(rollout.get("eos_token", "<|im_end|>"))
    if rollout["backend"] == "hf":
        generator = HFGenerator(model, tokenizer, eos, device=device, batch_size=rollout["generate_batch_size"])
    elif rollout["backend"] == "vllm":
        from xrouter.rollout.vllm import VLLMGenerator  # GPU-only extra, imported lazily

        generator = VLLMGenerator(model, tokenizer, eos, rollout)
    else:
        raise ValueError(f"rollout.backend must be 'hf' or 'vllm', not '{rollout['backend']}'")
    return AgentLoop(generator, tokenizer, env, max_seq_len=rollout["max_seq_len"])

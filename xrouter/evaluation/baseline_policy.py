"""Evaluating a baseline policy (``conf/policy/<name>.yaml``): one run directory, or one per knob value.

``evaluate_baseline`` fits / prepares the policy once on the whole evaluated split, then for each
knob value (``sweep``) runs the episodes in chunks (``engines.py``), appending them to the run
directory (resumable, ``runfiles``), and writes the run files.  A sweep also writes
``<output_dir>/sweep.json``: the curve's points and its metrics (AIQ, Pareto points, CostSave
against the best single model, gap to the oracle; APGR and CPT on two-model pools).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xrouter import metrics
from xrouter.config import to_plain
from xrouter.evaluation.curves import curve_report
from xrouter.evaluation.engines import EnvEngine, ReplayEngine, is_replay_pool
from xrouter.evaluation.runfiles import RunDir, episode_bar, fingerprint
from xrouter.policies import Policy, PolicyContext, build_policy
from xrouter.pool.pool import ModelPool
from xrouter.reward.units import with_cost_unit

log = logging.getLogger(__name__)
_EMBEDDERS: dict[str, Any] = {}  # one embedder (and its in-memory vectors) per config, across multirun jobs


def policy_context(cfg: DictConfig, pool: ModelPool, data_dir: Path, cache_dir: Path) -> PolicyContext:
    """Lazy data access for policies: the traces they learn from, tables per split, the embedder."""
    from xrouter.data.embeddings import Embedder
    from xrouter.policies.table import load_traces_for, pool_trace_models, route_table

    state: dict[str, Any] = {}

    def traces():
        if "traces" not in state:
            state["traces"] = load_traces_for(to_plain(cfg.pool), cfg.policy.get("traces"), data_dir, cache_dir)
            state["names"] = pool_trace_models(cfg.pool, state["traces"])
        return state["traces"]

    def fit_table(split: str):
        key = f"split/{split}"
        if key not in state:
            state[key] = route_table(traces(), state["names"], split)
        return state[key]

    def eval_table(ids: list[str]):
        return route_table(traces(), state["names"], None, prompt_ids=ids)

    def embedder():
        config = to_plain(cfg.get("embedding")) or {}
        key = json.dumps([config, str(cache_dir)], sort_keys=True)
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = Embedder.from_config(config, cache_dir)
        return _EMBEDDERS[key]

    prices = {n: (c.price.input_per_mtok, c.price.output_per_mtok) for n, c in pool.cards.items()}
    return PolicyContext(
        pool_names=pool.names,
        prices=prices,
        cheapest=pool.cheapest(),
        cost_unit_usd=float(with_cost_unit(to_plain(cfg.reward), pool.price_pairs()).get("cost_unit_usd", 1.0)),
        seed=int(cfg.seed),
        fit_split=str(cfg.policy.get("fit_split") or "auto"),
        folds=int(cfg.policy.get("folds") or 5),
        splits_available=lambda: sorted(traces()["split"].unique().tolist()),
        fit_table=fit_table,
        eval_table=eval_table,
        embedder=embedder,
    )


def sweep_values(cfg: DictConfig, policy: Policy) -> list[Any] | None:
    sweep = cfg.get("sweep")
    if sweep in (None, False, "none", "null"):
        return None
    if not policy.knob_name:
        raise ValueError(f"policy={policy.name} has no knob to sweep (remove sweep=...)")
    values = cfg.policy.get("sweep_values") if sweep in ("default", True) else sweep
    values = to_plain(values)
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"sweep must be a list of {policy.knob_name} values or 'default', not {sweep!r}")
    return list(values)


def _run_key(cfg: DictConfig, policy: Policy, n: int) -> str:
    policy_cfg = {k: v for k, v in (to_plain(cfg.policy) or {}).items() if k not in ("sweep_values",)}
    if policy.knob_name:
        policy_cfg[policy.knob_name] = policy.knob_value
    return fingerprint(
        {
            "policy": policy_cfg,
            "benchmark": cfg.benchmark.name,
            "pool": cfg.pool.name,
            "split": cfg.split,
            "reward": to_plain(cfg.reward),
            "seed": cfg.seed,
            "n": n,
            "embedding": to_plain(cfg.get("embedding")),
        }
    )


def run_one(
    cfg: DictConfig,
    policy: Policy,
    engine,
    examples: Sequence[Mapping[str, Any]],
    out_dir: Path,
    config_yaml: str,
    engine_name: str,
) -> dict[str, Any]:
    """Episodes of one knob value into ``out_dir`` (resumable); returns the summary."""
    run = RunDir(out_dir, _run_key(cfg, policy, len(examples)), overwrite=bool(cfg.overwrite) or not cfg.resume)
    done = run.done()
    todo = [i for i, e in enumerate(examples) if str(e["prompt_id"]) not in done]
    if done:
        log.info("%s: %d of %d episodes already done", out_dir, len(examples) - len(todo), len(examples))
    bar = episode_bar(len(examples), len(examples) - len(todo), policy.label, cfg.get("progress", True), leave=False)
    chunk = max(1, int(cfg.batch_size))
    for start in range(0, len(todo), chunk):
        rows = todo[start : start + chunk]
        run.append(engine.run(examples, rows))
        if bar is not None:
            bar.update(len(rows))
    if bar is not None:
        bar.close()
    identity = {
        "policy": policy.name,
        "label": policy.label,
        "knob": policy.knob,
        "benchmark": cfg.benchmark.name,
        "pool": cfg.pool.name,
        "split": cfg.split,
    }
    return run.finalize(
        [str(e["prompt_id"]) for e in examples],
        identity,
        config_yaml,
        engine=engine_name,
        seed=int(cfg.seed),
        policy_info=policy.info,
    )


def make_engine(cfg: DictConfig, pool: ModelPool, policy: Policy):
    from xrouter.data.benchmarks import verify_example
    from xrouter.reward import build_reward

    reward_fn = build_reward(with_cost_unit(to_plain(cfg.reward), pool.price_pairs()))
    wanted = cfg.get("engine", "auto")
    if wanted not in ("auto", "env", "replay"):
        raise ValueError(f"engine must be auto, env or replay, not {wanted!r}")
    name = ("replay" if is_replay_pool(pool) else "env") if wanted == "auto" else wanted
    if name == "replay":
        return ReplayEngine(pool, reward_fn, policy, episode_prefix="eval/"), name
    baseline = to_plain(cfg.get("baseline")) or {}
    return EnvEngine(
        pool,
        verify_example,
        reward_fn,
        policy,
        system_prompt=baseline.get("system_prompt") or "",
        call_max_tokens=baseline.get("call_max_tokens"),
        episode_prefix="eval/",
    ), name


def evaluate_baseline(
    cfg: DictConfig, pool: ModelPool, examples: list[dict[str, Any]], output_dir: Path, data_dir: Path, cache_dir: Path
) -> dict[str, Any]:
    """One run directory (or, with ``sweep``, one per knob value plus ``sweep.json``)."""
    ctx = policy_context(cfg, pool, data_dir, cache_dir)
    policy = build_policy(to_plain(cfg.policy), ctx)
    if policy.needs_recorded_outcomes and not is_replay_pool(pool) and not cfg.policy.get("traces"):
        raise ValueError(
            f"policy={policy.name} needs the recorded outcomes of the evaluated prompts: a replay pool "
            "or policy.traces=<recorded traces of this pool on this split>"
        )
    policy.prepare(examples)
    engine, engine_name = make_engine(cfg, pool, policy)
    values = sweep_values(cfg, policy)
    try:
        if values is None:
            return run_one(cfg, policy, engine, examples, output_dir, OmegaConf.to_yaml(cfg, resolve=True), engine_name)
        summaries = []
        for value in values:
            policy.set_knob(value)
            run_cfg = OmegaConf.to_container(cfg, resolve=True)
            run_cfg["policy"][policy.knob_name] = value
            run_cfg["sweep"] = None
            sub = output_dir / knob_dir(policy.knob_name, value)
            summaries.append(
                run_one(cfg, policy, engine, examples, sub, OmegaConf.to_yaml(OmegaConf.create(run_cfg)), engine_name)
            )
            summaries[-1]["run_dir"] = str(sub)
        curve = sweep_report(summaries, policy, ctx, examples, pool)
        (output_dir / "sweep.json").write_text(json.dumps(curve, indent=2, default=str) + "\n")
        return curve
    finally:
        engine.close()


def knob_dir(name: str, value: Any) -> str:
    return f"{name}={value:g}" if isinstance(value, (int, float)) else f"{name}={value}"


def reference_points(ctx: PolicyContext, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Single models and the oracle on the evaluated prompts (USD per query, accuracy), from their
    recorded outcomes; None when the pool has no recorded traces for them."""
    from xrouter.data.stats import oracle_choice

    try:
        table = ctx.eval_table([str(e["prompt_id"]) for e in examples])
    except (KeyError, ValueError):
        return None
    singles = table.single_model_points()
    oracle = oracle_choice(table.traces)
    return {
        "single": {m: {"cost_per_query": c, "accuracy": q} for m, (c, q) in singles.items()},
        "oracle": {"cost_per_query": float(oracle["cost_usd"].mean()), "accuracy": float(oracle["score"].mean())},
    }


def sweep_report(
    summaries: list[dict[str, Any]],
    policy: Policy,
    ctx: PolicyContext,
    examples: Sequence[Mapping[str, Any]],
    pool: ModelPool,
) -> dict[str, Any]:
    """The curve of a sweep and its metrics (costs in USD per query)."""
    report = curve_report(policy.name, policy.knob_name, summaries, reference_points(ctx, examples))
    if "reference" in report:
        single = report["reference"]["single"]
        if len(single) == 2:
            by_price = sorted(pool.names, key=lambda n: ctx.prices[n][::-1])
            weak, strong = getattr(policy, "weak", by_price[0]), getattr(policy, "strong", by_price[-1])
            share = [(s["model_share"].get(strong, 0.0) * s["calls_per_query"], s["accuracy"]) for s in summaries]
            q_weak, q_strong = single[weak]["accuracy"], single[strong]["accuracy"]
            if q_strong != q_weak:
                report["two_model"] = {
                    "weak": weak,
                    "strong": strong,
                    "strong_call_share": [x for x, _ in share],
                    "apgr": metrics.apgr(share, q_weak, q_strong),
                    "apgr_bins": metrics.apgr(share, q_weak, q_strong, method="bins"),
                    "cpt50": metrics.cpt(share, q_weak, q_strong, 0.5),
                    "cpt80": metrics.cpt(share, q_weak, q_strong, 0.8),
                }
    return report

"""One lambda-conditioned router, many budgets: its cost-accuracy curve over a lambda grid, beside baselines.

* ``evaluate_lam_grid``: the router run greedily on the same examples once per lambda of the grid
  (each example carries ``lam``: the router is told it and the episode reward uses it), one run
  directory per point (``lam=<x>/``) and ``sweep.json`` (``curves.curve_report``: AIQ over the single
  models' cost range, Pareto set, CostSave, oracle gap).  ``xrouter.evaluate policy=router
  policy.lam_grid=[...]`` and the end of ``xrouter.train`` use it.
* ``baseline_curves``: the sweeps of a training run's ``baselines`` (conf/baselines/: kNN, MLP) on the same split,
  with the run's pool, benchmark, paths, reward, seed and embedding (``baseline_settings``).
* ``print_curves``: the points and AIQ of each curve, one table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xrouter.config import to_plain
from xrouter.evaluation.baseline_policy import evaluate_baseline, knob_dir, policy_context, reference_points
from xrouter.evaluation.curves import curve_report
from xrouter.evaluation.router_run import EVAL_BATCH_SIZE, evaluate_router

log = logging.getLogger(__name__)


def check_lam_grid(lams: Sequence[Any]) -> list[float]:
    try:
        values = [float(v) for v in lams]
    except (TypeError, ValueError):
        raise ValueError(f"policy.lam_grid must be a list of numbers >= 0, not {list(lams)}") from None
    if not values or any(v < 0 or v != v for v in values):
        raise ValueError(f"policy.lam_grid must be a non-empty list of numbers >= 0, not {values}")
    return sorted(set(values))


def evaluate_lam_grid(
    loop,
    examples: Sequence[dict[str, Any]],
    out_dir: Path,
    lams: Sequence[float],
    max_new_tokens: int,
    *,
    label: str,
    reference: Mapping[str, Any] | None,
    batch_size: int = EVAL_BATCH_SIZE,
    config_yaml: str | None = None,
    resume: bool = False,
    progress: bool = False,
    **identity: Any,
) -> dict[str, Any]:
    """Run the router at every lambda of ``lams``; writes ``out_dir/lam=<x>/`` and ``out_dir/sweep.json``."""
    conditioner = loop.conditioner
    if conditioner is None or not conditioner.spec.lam_conditioned:
        raise ValueError(
            "policy.lam_grid needs a lambda-conditioned router (router=tiny_encoder trained with "
            "reward.lam_sampling); this router was trained for one lambda: evaluate it without lam_grid"
        )
    summaries = []
    for lam in check_lam_grid(lams):
        sub = out_dir / knob_dir("lam", lam)
        summary = evaluate_router(
            loop,
            [{**e, "lam": lam} for e in examples],
            sub,
            max_new_tokens,
            batch_size,
            label=f"{label} lam={lam:g}",
            knob={"lam": lam},
            config_yaml=config_yaml,
            resume=resume,
            progress=progress,
            **identity,
        )
        summaries.append({**summary, "run_dir": str(sub)})
    report = curve_report(identity.get("policy", "router"), "lam", summaries, reference)
    report["label"] = label
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sweep.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def baseline_settings(cfg: DictConfig, policy_cfg: Mapping[str, Any], split: str, output_dir: Path) -> DictConfig:
    """What ``evaluate_baseline`` reads, for one of a training run's ``baselines``: the run's pool, benchmark,
    paths, reward, seed and embedding, the policy's own sweep (``sweep_values``) on ``split``, resumable."""
    from xrouter import CONF_DIR

    run = {key: to_plain(cfg[key]) for key in ("pool", "benchmark", "paths", "reward", "embedding")}
    evaluate_file = OmegaConf.load(CONF_DIR / "evaluate.yaml")  # `xrouter.evaluate`'s own engine and batch settings
    defaults = {key: to_plain(evaluate_file[key]) for key in ("engine", "batch_size", "baseline")}
    return OmegaConf.create(
        {
            **run,
            **defaults,
            "seed": int(cfg.seed),
            "policy": to_plain(policy_cfg),
            "split": split,
            "sweep": "default",
            "output_dir": str(output_dir),
            "resume": True,
            "overwrite": False,
            "progress": False,
        }
    )


def baseline_curves(
    cfg: DictConfig,
    policies: Mapping[str, Mapping[str, Any]],
    split: str,
    examples: list[dict[str, Any]],
    out_root: Path,
    pool,
) -> dict[str, dict[str, Any]]:
    """Each baseline's default sweep (``policy.sweep_values``) on ``examples``: ``out_root/<name>/sweep.json``."""
    from xrouter.config import data_dir_of

    curves = {}
    for name, policy_cfg in policies.items():
        settings = baseline_settings(cfg, policy_cfg, split, out_root / name)
        curves[name] = evaluate_baseline(
            settings, pool, examples, out_root / name, data_dir_of(cfg), Path(cfg.paths.cache_dir)
        )
    return curves


def router_reference(cfg: DictConfig, pool, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Single models and the oracle on ``examples`` (replay pools), for the router curve's report."""
    from xrouter.config import data_dir_of

    context_cfg = OmegaConf.create(
        {
            "pool": to_plain(cfg.pool),
            "policy": {"name": "oracle"},
            "reward": to_plain(cfg.reward),
            "seed": int(cfg.seed),
            "embedding": to_plain(cfg.get("embedding")),
        }
    )
    return reference_points(policy_context(context_cfg, pool, data_dir_of(cfg), Path(cfg.paths.cache_dir)), examples)


def print_curves(curves: Mapping[str, Mapping[str, Any]]) -> None:
    """Every curve's points and AIQ (over the single models' cost range when known)."""
    for name, curve in curves.items():
        aiq = curve.get("aiq_single_model_range", curve["aiq"])
        points = "  ".join(f"{p['accuracy']:.3f}@${p['cost_per_query']:.1e}" for p in curve["points"])
        print(f"{name:16s} AIQ {aiq:.4f}  {points}")
    first = next(iter(curves.values()), {})
    if "zero_router_aiq" in first:
        print(
            f"{'single models':16s} AIQ {first['zero_router_aiq']:.4f}  "
            "(their hull; AIQ over the single models' cost range)"
        )


def test_curves(cfg: DictConfig, loop, pool, test: list[dict[str, Any]], output_dir: Path, label: str) -> dict:
    """The one checkpoint's curve over ``cfg.lam_grid`` on ``test``, beside the sweeps of ``cfg.baselines``
    (replay pools), printed; returns each curve's AIQs."""
    split = cfg.data.test_split
    curve = evaluate_lam_grid(
        loop,
        test,
        output_dir / f"eval_{split}_curve",
        list(cfg.lam_grid),
        cfg.rollout.max_new_tokens,
        label=label.split(" lam=")[0],
        reference=router_reference(cfg, pool, test),
        policy="router",
        benchmark=cfg.benchmark.name,
        pool=cfg.pool.name,
        split=split,
    )
    curves = {"xrouter (one ckpt)": curve}
    if cfg.get("baselines") and cfg.pool.get("kind") == "replay":
        curves.update(baseline_curves(cfg, cfg.baselines, split, test, output_dir / f"eval_{split}_baselines", pool))
    print(
        f"\none checkpoint over lambda = {list(cfg.lam_grid)} on {cfg.benchmark.name} {split} (accuracy@USD per query):"
    )
    print_curves(curves)
    return {
        name: {k: c.get(k) for k in ("aiq", "aiq_single_model_range", "zero_router_aiq")} for name, c in curves.items()
    }

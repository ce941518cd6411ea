"""A cost-accuracy curve's report: its points, Pareto set, AIQ, CostSave and oracle gap (``sweep.json``).

One function for every curve: a baseline's knob sweep (``baseline_policy``) and one lambda-conditioned
router evaluated over ``policy.lam_grid`` (``router_sweep``).  ``reference`` holds the single models
and the oracle on the same prompts (``baseline_policy.reference_points``); without it only the
curve's own metrics are reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xrouter import metrics


def curve_report(
    policy: str, knob_name: str, summaries: Sequence[Mapping[str, Any]], reference: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The report of a curve whose points are run summaries (each with ``knob``, ``label``,
    ``cost_per_query`` in USD, ``accuracy`` and ``run_dir``)."""
    points = [(s["cost_per_query"], s["accuracy"]) for s in summaries]
    report: dict[str, Any] = {
        "policy": policy,
        "knob_name": knob_name,
        "points": [
            {
                "knob": s["knob"],
                "label": s["label"],
                "cost_per_query": s["cost_per_query"],
                "accuracy": s["accuracy"],
                "run_dir": s["run_dir"],
            }
            for s in summaries
        ],
        "pareto": [summaries[i]["knob"] for i in metrics.pareto_frontier(points)],
        "aiq": metrics.aiq(points),
    }
    if reference:
        single = reference["single"]
        costs = [v["cost_per_query"] for v in single.values()]
        best = max(single.values(), key=lambda v: (v["accuracy"], -v["cost_per_query"]))
        oracle = reference["oracle"]
        top = max(points, key=lambda p: (p[1], -p[0]))
        report.update(
            {
                "reference": dict(reference),
                "aiq_single_model_range": metrics.aiq(points, (min(costs), max(costs))),
                "zero_router_aiq": metrics.aiq(
                    [(v["cost_per_query"], v["accuracy"]) for v in single.values()], (min(costs), max(costs))
                ),
                "cost_save_vs_best_single": metrics.cost_save(points, (best["cost_per_query"], best["accuracy"])),
                "oracle_gap_of_best_point": metrics.oracle_gap(top, (oracle["cost_per_query"], oracle["accuracy"])),
            }
        )
    return report

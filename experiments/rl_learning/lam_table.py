"""The lambda multirun's table: each fixed-lambda RL router's test point beside the kNN / MLP curves at its cost.

    .venv/bin/python experiments/rl_learning/lam_table.py outputs/rl_learning/lams \
        --baselines outputs/rl_learning/main/rl_only_s0/eval_test_baselines

For each ``<multirun dir>/lam_<x>/`` (``xrouter.train -m ... reward.lam=...``): the test point at its lambda
(``eval_test/summary.json``), its test reward, and the quality of the kNN and MLP curves' hulls (their
``sweep.json`` on the same test split) at the router's cost: the point is on a curve when the difference
is ~0, above it when positive.  ``-`` where the router is cheaper than the cheapest point of a curve.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xrouter import metrics


def hull_of(sweep: Path):
    points = json.loads(sweep.read_text())["points"]
    return metrics.nondecreasing_convex_hull([(p["cost_per_query"], p["accuracy"]) for p in points])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multirun", type=Path)
    parser.add_argument("--baselines", type=Path, required=True, help="a training run's eval_test_baselines folder")
    args = parser.parse_args()
    hulls = {name: hull_of(args.baselines / name / "sweep.json") for name in ("knn", "mlp")}
    print(
        "| lambda | test accuracy | $/query | test reward | kNN hull at that cost | MLP hull at that cost |"
        " vs kNN | vs MLP |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    runs = sorted(args.multirun.glob("lam_*/eval_test/summary.json"), key=lambda p: float(p.parent.parent.name[4:]))
    if not runs:
        raise SystemExit(f"no lam_<x>/eval_test/summary.json under {args.multirun}")
    for path in runs:
        point = json.loads(path.read_text())
        cost, accuracy = point["cost_per_query"], point["accuracy"]
        at = {name: metrics.hull_quality_at(hull, cost) for name, hull in hulls.items()}
        cells = [f"{at[n]:.4f}" if at[n] == at[n] else "-" for n in ("knn", "mlp")]
        gaps = [f"{accuracy - at[n]:+.4f}" if at[n] == at[n] else "-" for n in ("knn", "mlp")]
        print(
            f"| {path.parent.parent.name[4:]} | {accuracy:.4f} | {cost:.2e} | {point['reward']:.4f} | "
            + " | ".join(cells + gaps)
            + " |"
        )


if __name__ == "__main__":
    main()

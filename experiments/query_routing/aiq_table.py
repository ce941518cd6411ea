"""The query-routing AIQ table (experiments/query_routing/README.md section 2) from training run directories.

Per ``xrouter.train`` run (``output_dir`` of a lambda-conditioned router): the test point at the default
lambda (``eval_test/summary.json``), the one checkpoint's AIQ over the single models' cost range
(``eval_test_curve/sweep.json``) and the same AIQ on a sub-grid of its lambdas (``--subgrid``: a curve's
AIQ is the area under the hull of its points, so more knob values can only gain; the sub-grid says how
much of a difference is the grid's), its best test point at <= ``--max-cost``, the kNN and MLP sweeps
of the same run (``eval_test_baselines/<name>/sweep.json``), the single models' hull, and dev accuracy
before RL (``result.json``).  Prints markdown rows, then the mean and standard deviation per column.

    .venv/bin/python experiments/query_routing/aiq_table.py outputs/query_routing/default_s[012] \
        --subgrid 0 0.3 1 3 10 30
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from xrouter.evaluation.curves import curve_report


def subgrid_aiq(sweep: dict, lams: list[float]) -> float:
    """AIQ over the single models' cost range of the sweep's points whose lambda is in ``lams`` (the
    sweep's own report, ``curve_report``, on those points: the same range as its ``aiq_single_model_range``)."""
    if not sweep.get("reference", {}).get("single"):
        raise SystemExit("the sweep has no single-model reference (a live pool?): its AIQ range is unknown")
    wanted = {float(x) for x in lams}
    missing = wanted - {float(p["knob"]["lam"]) for p in sweep["points"]}
    if missing:
        raise SystemExit(
            f"the sweep has no point at lambda {sorted(missing)}: its grid is "
            f"{[p['knob']['lam'] for p in sweep['points']]}"
        )
    points = [p for p in sweep["points"] if float(p["knob"]["lam"]) in wanted]
    return curve_report(sweep.get("policy", "router"), "lam", points, sweep["reference"])["aiq_single_model_range"]


def run_row(run: Path, subgrid: list[float] | None, max_cost: float) -> dict:
    """The table's figures of one training run directory."""

    def read(relative: str) -> dict:
        path = run / relative
        if not path.exists():
            raise SystemExit(
                f"{path} is missing: {run} is not a finished xrouter.train run of a lambda-conditioned "
                "router with evaluate_test=true and baselines=knn_mlp"
            )
        return json.loads(path.read_text())

    point, curve, result = read("eval_test/summary.json"), read("eval_test_curve/sweep.json"), read("result.json")
    cheap = [p for p in curve["points"] if p["cost_per_query"] <= max_cost]
    row = {
        "run": str(run),
        "accuracy": point["accuracy"],
        "cost": point["cost_per_query"],
        "aiq": curve["aiq_single_model_range"],
        "lams": len(curve["points"]),
        "best_cheap": max(cheap, key=lambda p: p["accuracy"]) if cheap else None,
        "hull": curve["zero_router_aiq"],
        "dev_before_rl": result.get("dev_before_rl", {}).get("accuracy"),
    }
    if subgrid:
        row["aiq_subgrid"] = subgrid_aiq(curve, subgrid)
    for name in ("knn", "mlp"):
        baseline = run / "eval_test_baselines" / name / "sweep.json"
        row[name] = json.loads(baseline.read_text())["aiq_single_model_range"] if baseline.exists() else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="xrouter.train output directories")
    parser.add_argument(
        "--subgrid", nargs="+", type=float, default=None, help="lambdas of a sub-grid to recompute AIQ on"
    )
    parser.add_argument("--max-cost", type=float, default=5e-4, help="the best test point at <= this USD per query")
    args = parser.parse_args()
    rows = [run_row(run, args.subgrid, args.max_cost) for run in args.runs]
    sub = f"AIQ on {len(args.subgrid)} lambdas | " if args.subgrid else ""
    print(
        f"| run | test point (accuracy @ $/query) | one-checkpoint AIQ | {sub}best point <= ${args.max_cost:.1e} | "
        "kNN AIQ | MLP AIQ | single-model hull | dev before RL |"
    )
    print("|---|---|---:|" + ("---:|" if args.subgrid else "") + "---|---:|---:|---:|---:|")
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    for r in rows:
        best = r["best_cheap"]
        print(
            f"| {r['run']} | {r['accuracy']:.4f} @ {r['cost']:.2e} | {r['aiq']:.4f} ({r['lams']} lambdas) | "
            + (f"{r['aiq_subgrid']:.4f} | " if args.subgrid else "")
            + (
                f"{best['accuracy']:.3f} @ {best['cost_per_query']:.1e} (lambda {best['knob']['lam']:g})"
                if best
                else "-"
            )
            + f" | {fmt(r['knn'])} | {fmt(r['mlp'])} | {r['hull']:.4f} | {fmt(r['dev_before_rl'])} |"
        )
    for key in ("accuracy", "aiq", *(["aiq_subgrid"] if args.subgrid else []), "knn", "mlp"):
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            print(f"{key}: mean {statistics.mean(values):.4f} (sd {spread:.4f}, n={len(values)})")


if __name__ == "__main__":
    main()

"""AIQ of a lambda sweep restricted to a sub-grid of its lambdas, beside the whole sweep's.

A curve's AIQ is the area under the hull of its points, so a sweep with more knob values can only gain.
This script reads a router's ``sweep.json`` (``eval_test_curve/`` of ``xrouter.train``, or
``xrouter.evaluate policy=router policy.lam_grid=[...]``) and recomputes the AIQ from the points at
``--lams`` only, on the same range (the single models' cost range), to say how much of a difference
comes from the grid and how much from the router.

    .venv/bin/python experiments/query_routing/subgrid_aiq.py outputs/query_routing/default_s*/eval_test_curve/sweep.json \
        --lams 0 0.3 1 3 10 30
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xrouter import metrics


def subgrid_aiq(sweep: dict, lams: list[float]) -> float:
    """AIQ over the single models' cost range of the sweep's points whose lambda is in ``lams``."""
    single = sweep.get("reference", {}).get("single")
    if not single:
        raise SystemExit("the sweep has no single-model reference (a live pool?): its AIQ range is unknown")
    costs = [v["cost_per_query"] for v in single.values()]
    wanted = {float(x) for x in lams}
    points = [(p["cost_per_query"], p["accuracy"]) for p in sweep["points"] if float(p["knob"]["lam"]) in wanted]
    missing = wanted - {float(p["knob"]["lam"]) for p in sweep["points"]}
    if missing:
        raise SystemExit(f"the sweep has no point at lambda {sorted(missing)}: its grid is "
                         f"{[p['knob']['lam'] for p in sweep['points']]}")
    return metrics.aiq(points, (min(costs), max(costs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="sweep.json files of lambda sweeps")
    parser.add_argument("--lams", nargs="+", type=float, required=True, help="the sub-grid")
    args = parser.parse_args()
    for path in args.sweeps:
        sweep = json.loads(path.read_text())
        grid = [p["knob"]["lam"] for p in sweep["points"]]
        print(f"{path}: AIQ {sweep['aiq_single_model_range']:.4f} on its {len(grid)} lambdas, "
              f"{subgrid_aiq(sweep, args.lams):.4f} on {len(args.lams)} of them ({' '.join(f'{x:g}' for x in args.lams)})")


if __name__ == "__main__":
    main()

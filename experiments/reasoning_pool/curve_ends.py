"""Where a router's AIQ gap to a reference curve lies: the router's AIQ with the reference's points below ``--cheap``
and above ``--dear`` (USD per query) added, over the single models' cost range (``xrouter.metrics.aiq``).

    python experiments/reasoning_pool/curve_ends.py \
        --singles "outputs/reasoning_pool/r5/runs/single/*" \
        --reference outputs/reasoning_pool/r5/runs/best_fixed_per_task "outputs/reasoning_pool/r5/train/full_rl_pt_s*"
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

from analysis.runs import find_run_dirs, read_summary
from xrouter.metrics import aiq


def curve(pattern: str) -> list[tuple[float, float]]:
    """(cost per query, accuracy) of every run directory (a ``summary.json``) under what ``pattern`` matches."""
    runs = find_run_dirs(pattern)
    if not runs:
        raise SystemExit(f"no summary.json under {pattern!r}: give run directories written by xrouter.evaluate/train")
    return [(float(s["cost_per_query"]), float(s["accuracy"])) for s in map(read_summary, runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="router run directories (their eval_test_curve/*/summary.json)")
    parser.add_argument("--singles", required=True, help="the single models' run directories (a glob)")
    parser.add_argument("--reference", required=True, help="the reference policy's sweep directory")
    parser.add_argument("--cheap", type=float, default=5e-5, help="reference points below this cost are 'cheap end'")
    parser.add_argument("--dear", type=float, default=3.5e-3, help="reference points above this cost are 'dear end'")
    args = parser.parse_args()
    singles = curve(args.singles)
    cost_range = (min(c for c, _ in singles), max(c for c, _ in singles))
    reference = curve(args.reference)
    cheap = [p for p in reference if p[0] < args.cheap]
    dear = [p for p in reference if p[0] > args.dear]
    print(
        f"cost range ${cost_range[0]:.3g}-${cost_range[1]:.3g}; hull AIQ {aiq(singles, cost_range):.4f}; "
        f"reference AIQ {aiq(reference, cost_range):.4f}"
    )
    print("| run | AIQ | + reference's cheap end | + its dear end | + both |\n|---|---:|---:|---:|---:|")
    for pattern in args.runs:
        for run in sorted(d for d in glob.glob(pattern) if Path(d).is_dir()):
            if not find_run_dirs(f"{run}/eval_test_curve"):
                print(f"| {run} | (no test curve yet) | | | |")
                continue
            points = curve(f"{run}/eval_test_curve")
            figures = [aiq(p, cost_range) for p in (points, points + cheap, points + dear, points + cheap + dear)]
            print(f"| {run} | " + " | ".join(f"{x:.4f}" for x in figures) + " |")


if __name__ == "__main__":
    main()

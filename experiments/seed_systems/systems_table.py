"""Print the seed-systems tables (markdown) from run files: every swept policy's AIQ and matched-cost
point per seed, and the RL router's test point in each action format.

    .venv/bin/python experiments/seed_systems/systems_table.py [--runs outputs/seed_systems/runs]
        [--rl outputs/seed_systems/rl] [--more routerbench:tiny_encoder='outputs/query_routing/default_s*' ...]

AIQ is over the single models' cost range (``aiq_single_model_range`` of each ``sweep.json``; for an RL
run, of its one-checkpoint lambda curve when it has one, else of its one fixed-lambda point).  The matched-cost
point is the sweep point nearest, in log cost,
to the geometric middle of that range, as ``analysis.robustness`` picks it.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import statistics
from pathlib import Path

from analysis.runs import seed_of
from xrouter import metrics

BENCHES = {"routerbench": "RouterBench", "zeroeval_math": "ZeroEval math"}
SWEPT = ["barp", "cscr", "knn", "mlp"]
FORMATS = ["tool_calls", "router_r1"]


def single_points(runs: Path, bench: str) -> list[tuple[float, float]]:
    paths = sorted((runs / bench / "single").glob("*/summary.json"))
    if not paths:
        raise FileNotFoundError(
            f"no single-model runs under {runs / bench / 'single'}: run experiments/seed_systems/run_systems.sh first"
        )
    return [(s["cost_per_query"], s["accuracy"]) for s in (json.loads(p.read_text()) for p in paths)]


def nearest(points: list[dict], target: float) -> dict:
    return min(points, key=lambda p: abs(math.log(p["cost_per_query"]) - math.log(target)))


def mean_text(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}" if values else "-"
    return (
        f"{' / '.join(f'{v:.4f}' for v in values)} "
        f"(mean {statistics.mean(values):.4f}, sd {statistics.stdev(values):.4f})"
    )


def swept_rows(runs: Path, bench: str, span: tuple[float, float]) -> list[str]:
    middle = math.sqrt(span[0] * span[1])
    rows = []
    for policy in SWEPT:
        sweeps = [json.loads(p.read_text()) for p in sorted((runs / bench / policy).glob("seed*/sweep.json"))]
        if not sweeps:
            continue
        aiqs = [s["aiq_single_model_range"] for s in sweeps]
        points = [nearest(s["points"], middle) for s in sweeps]
        matched = " / ".join(f"{p['accuracy']:.3f} @ {p['cost_per_query']:.1e}" for p in points)
        rows.append(f"| {BENCHES[bench]} | {policy} | {mean_text(aiqs)} | {matched} | {len(sweeps[0]['points'])} |")
    return rows


def one_checkpoint_aiq(run: Path) -> float | None:
    """A lambda-conditioned router's test curve (``eval_test_curve/sweep.json``, one checkpoint swept over
    ``lam_grid``): its AIQ over the single models' range; None for a fixed-lambda router."""
    sweep = run / "eval_test_curve" / "sweep.json"
    return json.loads(sweep.read_text())["aiq_single_model_range"] if sweep.exists() else None


def rl_rows(rl: Path, bench: str, span: tuple[float, float], more: dict[str, str]) -> list[str]:
    """One row per action format under ``rl/<bench>/<format>/seed<k>/``, and per ``more`` entry
    (name -> a glob of training run directories)."""
    rows = []
    sources = {f: str(rl / bench / f / "seed*") for f in FORMATS} | more
    for action_format, pattern in sources.items():
        paths = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "eval_test" / "summary.json").exists())
        summaries = [json.loads((p / "eval_test" / "summary.json").read_text()) for p in paths]
        if not summaries:
            continue
        seeds = [str(seed_of(p / "eval_test", s)) for p, s in zip(paths, summaries)]
        point = " / ".join(f"{s['accuracy']:.4f} @ {s['cost_per_query']:.2e}" for s in summaries)
        aiqs = [
            one_checkpoint_aiq(p) or metrics.aiq([(s["cost_per_query"], s["accuracy"])], span)
            for p, s in zip(paths, summaries)
        ]

        def each(key: str, summaries=summaries) -> str:  # called in this iteration: bind its summaries
            return " / ".join(f"{s.get(key, float('nan')):.3f}" for s in summaries)

        rows.append(
            f"| {BENCHES[bench]} | {action_format} | {','.join(seeds)} | {point} | {mean_text(aiqs)} | "
            f"{each('calls_per_query')} | {each('direct_answer_rate')} | {each('malformed_rate')} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("outputs/seed_systems/runs"))
    parser.add_argument("--rl", type=Path, default=Path("outputs/seed_systems/rl"))
    parser.add_argument(
        "--more",
        nargs="*",
        default=[],
        metavar="BENCH:NAME=GLOB",
        help="more training runs as a row, e.g. routerbench:tiny_encoder=outputs/query_routing/default_s*",
    )
    args = parser.parse_args()
    more: dict[str, dict[str, str]] = {}
    for item in args.more:
        bench, _, rest = item.partition(":")
        name, _, pattern = rest.partition("=")
        if bench not in BENCHES or not name or not pattern:
            raise SystemExit(f"--more {item!r}: expected BENCH:NAME=GLOB with BENCH one of {list(BENCHES)}")
        more.setdefault(bench, {})[name] = pattern
    swept, trained = [], []
    for bench in BENCHES:
        if not (args.runs / bench).exists():
            continue
        singles = single_points(args.runs, bench)
        span = (min(c for c, _ in singles), max(c for c, _ in singles))
        swept += swept_rows(args.runs, bench, span)
        trained += rl_rows(args.rl, bench, span, more.get(bench, {}))
    print("| benchmark | policy | AIQ per seed (mean, sd) | matched-cost point per seed | points |")
    print("|---|---|---|---|---|")
    print("\n".join(swept))
    print()
    print(
        "| benchmark | format | seeds | test accuracy @ $/query | AIQ (curve, or the one point) | calls/query "
        "| direct-answer rate | malformed rate |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(trained))


if __name__ == "__main__":
    main()

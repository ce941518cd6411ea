"""``python -m analysis.make_figures runs='<glob>' out=<dir>``: plots and tables from run files only.

For each benchmark among the runs (``summary.json`` ``benchmark``) it writes into ``out``:

- ``pareto_<benchmark>.png``: cost (log) vs accuracy, one panel for the whole benchmark and one per
  sub-benchmark: single models as labelled points, the oracle, each baseline's curve, the router's
  lambda sweep joined as a curve, the Pareto frontier of all non-oracle runs;
- ``shares_<benchmark>.png``: each routing run's share of calls per model, per sub-benchmark;
- ``ranking_<benchmark>.{md,tex}``: all runs ranked by AIQ (one row per run);
- ``families_<benchmark>.{md,tex}``: policy families (sweeps as one curve) ranked by AIQ;
- ``lambda_sweep_<benchmark>.{md,tex}`` for the router's lambda sweep (when the runs hold one), and
  ``sweep_<family>_<benchmark>.{md,tex}`` for every other swept baseline (e.g. kNN's k).

Options (``key=value``): ``runs`` (glob(s), comma-separated; required), ``out`` (default
``outputs/figures``), ``benchmarks`` (comma-separated subset).  The last line printed is JSON listing
the files written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

from analysis import plots, tables  # noqa: E402
from analysis.runs import ALL, load_runs  # noqa: E402


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


def make_figures(runs: str, out: str | Path, benchmarks: list[str] | None = None) -> dict[str, list[str]]:
    frame = load_runs(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    for benchmark in benchmarks or sorted(frame["benchmark"].unique()):
        files = []
        rows = frame[frame["benchmark"] == benchmark]
        if rows.empty:
            raise ValueError(f"no runs on benchmark {benchmark!r}; have {sorted(frame['benchmark'].unique())}")
        splits = sorted({str(s) for s in rows["split"]})
        if len(splits) > 1:
            print(f"warning: {benchmark} mixes splits {splits}; points are not comparable", file=sys.stderr)
        b = slug(benchmark)
        for name, fig in (
            ("pareto", plots.pareto_figure(frame, benchmark)),
            ("shares", plots.shares_figure(frame, benchmark)),
        ):
            path = out / f"{name}_{b}.png"
            plots.save(fig, path)
            files.append(str(path))
        n_runs = rows[rows["scope"] == ALL].shape[0]
        files += map(
            str,
            tables.write_table(
                tables.runs_ranked(frame, benchmark),
                out / f"ranking_{b}",
                f"{benchmark}: all {n_runs} runs ranked by AIQ",
            ),
        )
        files += map(
            str,
            tables.write_table(
                tables.families_ranked(frame, benchmark),
                out / f"families_{b}",
                f"{benchmark}: policy families ranked by AIQ",
            ),
        )
        lam = tables.lambda_families(frame, benchmark)
        for family in tables.swept_families(frame, benchmark):
            stem = f"lambda_sweep_{b}" if family == (lam[0] if lam else None) else f"sweep_{slug(family)}_{b}"
            caption = (
                f"{benchmark}: lambda sweep of {family}"
                if stem.startswith("lambda")
                else f"{benchmark}: sweep of {family}"
            )
            files += map(str, tables.write_table(tables.sweep_table(frame, benchmark, family), out / stem, caption))
        if not lam:
            print(f"note: no router lambda sweep among the {benchmark} runs; no lambda_sweep table", file=sys.stderr)
        written[benchmark] = files
    return written


def parse_args(argv: list[str]) -> dict[str, str]:
    options = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in {"runs", "out", "benchmarks"}:
            raise SystemExit(f"make_figures: error: expected runs=<glob> [out=<dir>] [benchmarks=a,b], got {arg!r}")
        options[key] = value
    if "runs" not in options:
        raise SystemExit("make_figures: error: runs=<glob> is required (e.g. runs='outputs/eval/**')")
    return options


def main(argv: list[str] | None = None) -> dict[str, list[str]]:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    benchmarks = [b for b in options.get("benchmarks", "").split(",") if b] or None
    try:
        written = make_figures(options["runs"], options.get("out", "outputs/figures"), benchmarks)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"make_figures: error: {error}") from None
    for benchmark, files in written.items():
        print(f"{benchmark}:")
        for f in files:
            print(f"  {f}")
    print(json.dumps({"files": written}))
    return written


if __name__ == "__main__":
    main()

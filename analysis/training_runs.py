"""Training runs as table rows, and variants of a recipe as an ablation table (mean and spread over seeds).

Reads only what ``xrouter.train`` writes: ``result.json`` (the delivered checkpoint, dev rewards, training
spend, threads), ``eval_test/summary.json`` (the test point at the default lambda), ``eval_test_curve/sweep.json``
(the one checkpoint's curve over lambda, when the router is lambda-conditioned),
``eval_test_baselines/<name>/sweep.json`` (the same run's kNN / MLP sweeps) and, beside the run directory,
``<run>.log`` with a ``wall <seconds> s`` line (``experiments/*/run.sh`` writes it with ``/usr/bin/time``).

    .venv/bin/python -m analysis.training_runs rl_only='outputs/rl_learning/main/rl_only_s*' \
        grpo='outputs/rl_learning/ablations/grpo_s*'
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

COLUMNS = {  # column -> header of the markdown table
    "aiq": "one-ckpt test AIQ",
    "accuracy": "test acc @ default lam",
    "cost": "$/query",
    "reward": "test reward",
    "dev_reward": "delivered dev reward",
    "rl_change": "RL change on dev",
    "hull": "single-model hull",
    "knn": "kNN AIQ",
    "mlp": "MLP AIQ",
    "training_usd": "training spend $",
    "full_table_usd": "full table $",
    "wall_s": "wall s",
}


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def wall_seconds(run: Path) -> float | None:
    """The ``wall <s> s`` line of ``<run>.log`` (``/usr/bin/time -f "wall %e s"``), when there is one."""
    log = run.parent / f"{run.name}.log"
    if not log.exists():
        return None
    found = re.findall(r"^wall ([0-9.]+) s$", log.read_text(errors="replace"), flags=re.M)
    return float(found[-1]) if found else None


def training_run_row(run: str | Path) -> dict[str, Any]:
    """The figures of one finished training run directory (missing ones are None)."""
    run = Path(run)
    result = _json(run / "result.json")
    if result is None:
        raise FileNotFoundError(f"{run} has no result.json: not a finished xrouter.train run")
    point = _json(run / "eval_test" / "summary.json") or {}
    curve = _json(run / "eval_test_curve" / "sweep.json") or {}
    delivered, spend = result.get("delivered") or {}, result.get("spend") or {}
    row = {
        "run": str(run),
        "accuracy": point.get("accuracy"),
        "cost": point.get("cost_per_query"),
        "reward": point.get("reward"),
        "aiq": curve.get("aiq_single_model_range"),
        "hull": curve.get("zero_router_aiq"),
        "dev_reward": delivered.get("dev_reward"),
        "rl_change": delivered.get("rl_change"),
        "delivered_step": delivered.get("step"),
        "training_usd": spend.get("training_usd"),
        "full_table_usd": spend.get("full_table_usd"),
        "threads": result.get("threads"),
        "wall_s": wall_seconds(run),
    }
    for name in ("knn", "mlp"):
        baseline = _json(run / "eval_test_baselines" / name / "sweep.json")
        row[name] = baseline.get("aiq_single_model_range") if baseline else None
    return row


def summarize(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = tuple(COLUMNS)) -> dict[str, Any]:
    """Per column: (mean, sample sd, n) over the rows that have it."""
    out: dict[str, Any] = {"n": len(rows)}
    for column in columns:
        values = [float(r[column]) for r in rows if r.get(column) is not None]
        out[column] = (
            statistics.fmean(values) if values else None,
            statistics.stdev(values) if len(values) > 1 else None,
            len(values),
        )
    return out


def _cell(stat: tuple[float | None, float | None, int], column: str) -> str:
    mean, sd, _ = stat
    if mean is None:
        return "-"
    digits = ".2e" if column == "cost" else ".0f" if column == "wall_s" else ".2f" if column.endswith("usd") else ".4f"
    return f"{mean:{digits}}" + (f" ± {sd:{digits}}" if sd is not None else "")


def variant_table(groups: Mapping[str, Sequence[str | Path]], columns: Sequence[str] | None = None) -> str:
    """A markdown table: one row per variant (mean ± sd over its runs), the columns any run has."""
    rows = {name: [training_run_row(r) for r in runs] for name, runs in groups.items()}
    if columns is None:
        columns = [c for c in COLUMNS if any(r.get(c) is not None for rs in rows.values() for r in rs)]
    lines = [
        "| variant | runs | " + " | ".join(COLUMNS[c] for c in columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for name, runs in rows.items():
        stats = summarize(runs, columns)
        lines.append(f"| {name} | {stats['n']} | " + " | ".join(_cell(stats[c], c) for c in columns) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="name=glob of run directories (quote the glob)")
    parser.add_argument("--columns", nargs="*", help=f"columns to show (default: those present): {list(COLUMNS)}")
    parser.add_argument("--runs", action="store_true", help="also print every run's row")
    args = parser.parse_args(argv)
    groups = {}
    for spec in args.variants:
        name, sep, pattern = spec.partition("=")
        if not sep:
            raise SystemExit(f"{spec!r}: give name=glob")
        found = sorted(p for p in glob.glob(pattern) if (Path(p) / "result.json").exists())
        if not found:
            raise SystemExit(f"{name}: no finished run (result.json) matches {pattern!r}")
        groups[name] = found
    print(variant_table(groups, args.columns))
    if args.runs:
        for name, runs in groups.items():
            for run in runs:
                print(name, json.dumps({k: v for k, v in training_run_row(run).items() if v is not None}))


if __name__ == "__main__":
    main()

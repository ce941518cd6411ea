"""Did a full-mode router learn to call, read and escalate?  Call, escalation and direct-answer rates per run.

    python experiments/query_routing/full_mode_report.py RUN_GLOB [RUN_GLOB ...] [--out table.md]

Each run directory (any folder with ``summary.json`` and ``episodes.parquet`` below the globs: a training
run's ``eval_test`` and ``eval_test_curve/lam=*``, or an ``xrouter.evaluate`` sweep such as
``policy=cascade``) gives one row: accuracy and cost per query, calls per query, the direct-answer rate,
the **escalation rate** (episodes that called two or more different models), and for the escalations
the recorded outcome of the *first* model called (from the pool's traces): **escalation precision**
(the first answer was wrong, so reading it and going on was right) and **rescued** (the first answer
was wrong and the final one right).  ``first-only accuracy`` is what the run would have scored had it
stopped at its first call: accuracy minus it is what reading and escalating bought.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from analysis.runs import find_run_dirs
from xrouter.config import data_dir_of, to_plain
from xrouter.policies.table import load_traces_for, recorded_table

_TRACES: dict[str, pd.DataFrame] = {}  # one load per pool config across the run directories


def recorded_scores(run_dir: Path, prompt_ids: list[str]) -> pd.DataFrame:
    """``[prompt_id x pool model]`` recorded scores of the run's pool on its prompts."""
    config = next((d / "config.yaml" for d in (run_dir, *run_dir.parents) if (d / "config.yaml").exists()), None)
    if config is None:
        raise SystemExit(f"no config.yaml in {run_dir} or above it: cannot tell which pool's traces to read")
    cfg = OmegaConf.load(config)
    data_dir, cache_dir = data_dir_of(cfg), Path(cfg.paths.cache_dir)
    key = OmegaConf.to_yaml(cfg.pool)
    if key not in _TRACES:
        _TRACES[key] = load_traces_for(to_plain(cfg.pool), None, data_dir, cache_dir)
    table = recorded_table(cfg.pool, prompt_ids, data_dir, cache_dir, traces=_TRACES[key])
    return pd.DataFrame(table.score, index=table.prompt_ids, columns=table.models)


def escalation_row(run_dir: Path) -> dict:
    episodes = pd.read_parquet(run_dir / "episodes.parquet")
    scores = recorded_scores(run_dir, episodes["prompt_id"].astype(str).tolist())
    called = episodes["models_called"].map(list)
    first_score = pd.Series(
        [
            scores.at[p, models[0]] if models else float("nan")
            for p, models in zip(episodes["prompt_id"].astype(str), called)
        ],
        index=episodes.index,
    )
    escalated = called.map(lambda models: len(set(models)) >= 2)
    first_only = first_score.fillna(episodes["score"])  # a direct answer keeps its own score
    summary = pd.read_json(run_dir / "summary.json", typ="series")
    shown = run_dir.relative_to(Path.cwd()) if run_dir.is_relative_to(Path.cwd()) else run_dir
    return {
        "run": str(shown),
        "label": f"{summary.get('label')} ({shown})",
        "n": len(episodes),
        "accuracy": float(episodes["score"].mean()),
        "cost_per_query": float(episodes["tool_cost_usd"].mean()),
        "calls_per_query": float(called.map(len).mean()),
        "direct_rate": float((called.map(len) == 0).mean()),
        "escalation_rate": float(escalated.mean()),
        "escalation_precision": float((first_score[escalated] < 0.5).mean()) if escalated.any() else None,
        "rescued": float(((first_score < 0.5) & (episodes["score"] >= 0.5) & escalated).mean()),
        "first_only_accuracy": float(first_only.mean()),
    }


def to_markdown(rows: list[dict]) -> str:
    head = (
        "| run | accuracy | $/query | calls/query | direct | escalation | esc. precision | rescued | first-only acc. |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        precision = "-" if r["escalation_precision"] is None else f"{r['escalation_precision']:.2f}"
        lines.append(
            f"| {r['label']} | {r['accuracy']:.4f} | {r['cost_per_query']:.2e} | "
            f"{r['calls_per_query']:.2f} | {r['direct_rate']:.3f} | {r['escalation_rate']:.3f} | "
            f"{precision} | {r['rescued']:.3f} | {r['first_only_accuracy']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="globs of run directories (or folders above them)")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    run_dirs = [d for d in find_run_dirs(args.runs) if (d / "episodes.parquet").exists()]
    if not run_dirs:
        raise SystemExit(f"no run directory with summary.json and episodes.parquet under {args.runs}")
    rows = [escalation_row(d) for d in run_dirs]
    table = to_markdown(rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])

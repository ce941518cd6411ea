"""``python -m xrouter.data.export dataset=<name> [dataset.tasks=[...]] out=<file.parquet|jsonl>``.

Writes any dataset's canonical traces (every split) to one file and prints what it holds: rows,
prompts, models per benchmark, the cost range, and each model's accuracy.  Where the traces carry
an upstream score (ZeroEval's ``zeroeval_score`` / ``zeroeval_accuracy``), the accuracy table puts
ours beside the upstream's and gives the median gap per benchmark; ``audit=<file.md>`` writes where
they differ (``xrouter.data.audit``).  The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from omegaconf import DictConfig

from xrouter import CONF_DIR
from xrouter.config import data_dir_of, one_line_errors
from xrouter.data.audit import accuracy_table, audit_markdown, disagreements
from xrouter.data.datasets import load_dataset
from xrouter.data.traces import save_traces


def describe(traces: pd.DataFrame) -> dict[str, Any]:
    """Counts and ranges of a trace frame (per benchmark), for the export's report."""
    per_bench = {}
    for bench, rows in traces.groupby("benchmark", sort=True):
        per_bench[str(bench)] = {
            "rows": len(rows),
            "prompts": int(rows["prompt_id"].nunique()),
            "models": int(rows["model"].nunique()),
            "complete_prompts": int((rows.groupby("prompt_id")["model"].nunique() == rows["model"].nunique()).sum()),
        }
    cost = traces["cost_usd"]
    return {
        "rows": len(traces),
        "prompts": int(traces["prompt_id"].nunique()),
        "models": int(traces["model"].nunique()),
        "benchmarks": per_bench,
        "splits": {str(k): int(v) for k, v in traces.drop_duplicates("prompt_id")["split"].value_counts().items()},
        "cost_usd": {
            "min": float(cost.min()),
            "median": float(cost.median()),
            "max": float(cost.max()),
            "nonpositive_rows": int((cost <= 0).sum()),
        },
    }


def run_export(cfg: DictConfig) -> dict[str, Any]:
    started = time.perf_counter()
    traces = load_dataset(cfg.dataset, data_dir_of(cfg), cache_dir=cfg.paths.cache_dir)
    out = save_traces(traces, Path(str(cfg.out)).expanduser())
    report = describe(traces)
    report.update(out=str(out), seconds=round(time.perf_counter() - started, 1))
    print(
        f"dataset={cfg.dataset.name}: {report['rows']} rows, {report['prompts']} prompts, {report['models']} models "
        f"-> {out}"
    )
    for bench, b in report["benchmarks"].items():
        print(
            f"  {bench}: {b['models']} models, {b['prompts']} prompts ({b['complete_prompts']} answered by every model)"
        )
    c = report["cost_usd"]
    print(
        f"  cost/row: min ${c['min']:.3e}  median ${c['median']:.3e}  max ${c['max']:.3e}  "
        f"({c['nonpositive_rows']} rows <= 0)"
    )
    table, gaps = accuracy_table(traces)
    print(table)
    if gaps:
        report["median_abs_gap_points"] = gaps
    if cfg.get("audit") and "zeroeval_score" in traces.columns:
        audit = disagreements(traces)
        path = Path(str(cfg.audit)).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(audit_markdown(traces, audit, int(cfg.get("examples", 3))))
        report["audit"] = {"path": str(path), "categories": audit["counts"]}
        print(f"audit -> {path}: " + ", ".join(f"{k} {v}" for k, v in audit["counts"].items()))
    print(json.dumps(report))
    return report


@hydra.main(config_path=str(CONF_DIR), config_name="export", version_base="1.3")
@one_line_errors
def main(cfg: DictConfig) -> None:
    run_export(cfg)


if __name__ == "__main__":
    main()

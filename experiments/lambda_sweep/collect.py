"""Collect a lambda sweep's runs into one markdown table: python experiments/lambda_sweep/collect.py <sweep dir>.

Reads only run files: each run's config.yaml (reward.lam), result.json (test summary) and metrics.csv
(validation reward at the first and the last validation).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml


def collect(sweep_dir: Path) -> pd.DataFrame:
    rows = []
    for result_file in sorted(sweep_dir.glob("**/result.json")):
        run = result_file.parent
        config = yaml.safe_load((run / "config.yaml").read_text())
        result = json.loads(result_file.read_text())
        test = result.get("test", {})
        metrics = pd.read_csv(run / "metrics.csv")
        val = metrics.dropna(subset=["val/reward"]) if "val/reward" in metrics else pd.DataFrame()
        rows.append(
            {
                "lam": config["reward"]["lam"],
                "test_accuracy": test.get("accuracy"),
                "test_cost_per_query": test.get("cost_per_query"),
                "calls_per_query": test.get("calls_per_query"),
                "direct_rate": test.get("direct_answer_rate"),
                "val_reward_first": float(val["val/reward"].iloc[0]) if len(val) else None,
                "val_reward_last": float(val["val/reward"].iloc[-1]) if len(val) else None,
                "val_reward_best": float(val["val/reward"].max()) if len(val) else None,
                "top_model_share": max(test.get("model_share", {}).items(), key=lambda kv: kv[1], default=(None, None)),
                "run": str(run),
            }
        )
    return pd.DataFrame(rows).sort_values("lam").reset_index(drop=True)


if __name__ == "__main__":
    table = collect(Path(sys.argv[1]))
    print(table.drop(columns=["run"]).to_markdown(index=False, floatfmt=".4g"))

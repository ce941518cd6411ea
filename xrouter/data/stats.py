"""``python -m xrouter.data.stats dataset=<name> split=<train|test|all>``: per-model and oracle figures.

The last line printed is one JSON object:
``{"n_prompts": N, "models": {m: {"accuracy", "cost_per_query"}}, "oracle": {...}, "best_single": m,
"n_dropped": D}``.  ``+pool=<name>`` (or ``models=[...]``) restricts the figures to that pool's models
and drops (and counts) the prompts any of them did not answer; a pool's ``hidden_reasoning`` rule prices
its reasoning models' hidden tokens.
The oracle takes, per prompt, the cheapest model scored correct, else the cheapest model (for
fractional scores: the highest score, ties to the cheapest).
"""

from __future__ import annotations

import json
import logging

import hydra
import pandas as pd
from omegaconf import DictConfig

from xrouter import CONF_DIR
from xrouter.config import data_dir_of, one_line_errors, to_plain
from xrouter.data.datasets import load_split
from xrouter.data.reasoning_cost import with_hidden_reasoning
from xrouter.data.trace_examples import trace_model_ids

log = logging.getLogger(__name__)


def oracle_choice(traces: pd.DataFrame) -> pd.DataFrame:
    """One row per prompt: the oracle's model (best score, then lowest cost, then model name)."""
    ranked = traces.sort_values(["prompt_id", "score", "cost_usd", "model"], ascending=[True, False, True, True])
    return ranked.drop_duplicates("prompt_id", keep="first").reset_index(drop=True)


def trace_stats(traces: pd.DataFrame) -> dict:
    """Accuracy and mean cost per query of every model and of the oracle, over the prompts given."""
    per_model = traces.groupby("model", sort=True).agg(accuracy=("score", "mean"), cost_per_query=("cost_usd", "mean"))
    oracle = oracle_choice(traces)
    return {
        "n_prompts": int(traces["prompt_id"].nunique()),
        "models": {
            m: {"accuracy": float(r.accuracy), "cost_per_query": float(r.cost_per_query)}
            for m, r in per_model.iterrows()
        },
        "oracle": {"accuracy": float(oracle["score"].mean()), "cost_per_query": float(oracle["cost_usd"].mean())},
        "best_single": str(per_model["accuracy"].idxmax()),
    }


def format_table(stats: dict) -> str:
    lines = [f"{'model':40s} {'accuracy':>9s} {'$/query':>11s}"]
    for model, row in sorted(stats["models"].items(), key=lambda kv: kv[1]["cost_per_query"]):
        lines.append(f"{model:40s} {row['accuracy']:9.4f} {row['cost_per_query']:11.4e}")
    lines.append(f"{'oracle':40s} {stats['oracle']['accuracy']:9.4f} {stats['oracle']['cost_per_query']:11.4e}")
    lines.append(f"best single model: {stats['best_single']}")
    return "\n".join(lines)


def run_stats(cfg: DictConfig) -> dict:
    """Print and return the figures of ``cfg.dataset``'s split, over ``models`` / the pool's models if given."""
    models = trace_model_ids(to_plain(cfg.get("models"))) or (
        trace_model_ids(to_plain(cfg.pool.models)) if cfg.get("pool") else None
    )
    traces, dropped = load_split(
        cfg.dataset, data_dir_of(cfg), split=cfg.split, models=models, cache_dir=cfg.paths.cache_dir
    )
    if cfg.get("pool"):  # the pool's cost rules too (pool.hidden_reasoning: xrouter/data/reasoning_cost.py)
        traces = with_hidden_reasoning(traces, to_plain(cfg.pool).get("hidden_reasoning"))
    stats = trace_stats(traces)
    stats["n_dropped"] = dropped
    whose = f"every one of the {len(models)} models given" if models else "every model"
    print(
        f"dataset={cfg.dataset.name} split={cfg.split}: {stats['n_prompts']} prompts "
        f"({dropped} dropped: not answered by {whose})"
    )
    print(format_table(stats))
    print(json.dumps(stats))
    return stats


@hydra.main(config_path=str(CONF_DIR), config_name="stats", version_base="1.3")
@one_line_errors
def main(cfg: DictConfig) -> None:
    run_stats(cfg)


if __name__ == "__main__":
    main()

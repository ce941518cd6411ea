"""ZeroEval on the shared data: the converter, our scores beside ZeroEval's, the split, coverage drops.

Each task is converted once per module (and cached on disk under the project's .cache): GSM8K with
all 28 models, MATH level 5 with four (one of them answers 425 of the 721 problems), so that a cold
run stays well under a minute; the 40-model math-l5 figures are in experiments/zeroeval_math/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import compose
from xrouter.config import to_plain
from xrouter.data.audit import accuracy_table, disagreements
from xrouter.data.benchmarks import load_benchmark
from xrouter.data.datasets import dataset_config, default_cache_dir, load_dataset
from xrouter.data.splits import assign_splits, hash_fraction
from xrouter.data.traces import complete_prompts, save_traces

MATH_MODELS = ["gpt-4o-2024-08-06", "gemma-2-2b-it", "o1-mini-2024-09-12", "Meta-Llama-3.1-70B-Instruct@hyperbolic"]


def _config(tasks: list[str], models: list[str] | None = None) -> dict:
    cfg = to_plain(dataset_config("zeroeval"))
    cfg["tasks"] = tasks
    if models is not None:  # a smaller listed set: the files of these models (and the summary) only
        cfg["files"] = {k: v for k, v in cfg["files"].items() if k.split("/")[1] in models + ["summary"]}
    return cfg


@pytest.fixture(scope="module")
def gsm(shared_data_dir: Path) -> pd.DataFrame:
    return load_dataset(_config(["gsm"]), shared_data_dir, cache_dir=default_cache_dir())


@pytest.fixture(scope="module")
def math4(shared_data_dir: Path) -> pd.DataFrame:
    return load_dataset(_config(["math-l5"], MATH_MODELS), shared_data_dir, cache_dir=default_cache_dir())


def test_gsm_rows_follow_the_canonical_shape(gsm, shared_data_dir):
    assert gsm["model"].nunique() == 28 and gsm["prompt_id"].nunique() == 1319
    assert (gsm["cost_usd"] > 0).all() and gsm["cost_estimated"].all()
    assert (gsm["input_tokens"] > 0).all() and (gsm["output_tokens"] > 0).all()
    items = json.loads((shared_data_dir / "routing/zeroeval/gsm/gpt-4o-2024-08-06.json").read_text())
    first = gsm[(gsm["model"] == "gpt-4o-2024-08-06") & (gsm["prompt_id"] == f"zeroeval/gsm/{items[0]['id']}")].iloc[0]
    assert first["prompt_id"].split("/")[-1] == items[0]["id"] and first["benchmark"] == "gsm"
    assert first["prompt"] == items[0]["question"] and first["response"] == items[0]["output"][0]
    assert items[0]["answer"] == "# 18" and first["gold"] == "18"
    assert "numeric" in first["source"] and "o200k" in first["source"]


def test_our_gsm_scores_are_within_two_points_of_zeroeval(gsm):
    table = gsm.groupby("model").agg(
        ours=("score", "mean"), rule=("zeroeval_score", "mean"), summary=("zeroeval_accuracy", "first")
    )
    assert (table["rule"] - table["summary"]).abs().max() < 1e-4  # the restated rule reproduces the summary
    assert (100 * (table["ours"] - table["summary"]).abs()).median() <= 2.0
    text, gaps = accuracy_table(gsm)
    assert "gpt-4o-2024-08-06" in text and gaps["gsm"] <= 2.0


def test_math_scores_and_the_audit(math4):
    assert set(math4["model"]) == set(MATH_MODELS)
    table = math4.groupby("model").agg(
        ours=("score", "mean"),
        rule=("zeroeval_score", "mean"),
        summary=("zeroeval_accuracy", "first"),
        n=("score", "size"),
    )
    assert (table["rule"] - table["summary"]).abs().max() < 1e-4
    assert (100 * (table["ours"] - table["summary"]).abs()).median() <= 2.0
    assert table.loc["Meta-Llama-3.1-70B-Instruct@hyperbolic", "n"] == 425
    audit = disagreements(math4)
    assert audit["counts"] and all(k.startswith("math-l5: ") for k in audit["counts"])
    assert sum(audit["counts"].values()) == int(((math4.score >= 0.5) != (math4.zeroeval_score >= 0.5)).sum())


def test_split_is_the_shared_hash_of_the_prompt_id(gsm, math4):
    both = pd.concat([gsm, math4])
    assert (both.groupby("prompt_id")["split"].nunique() == 1).all()  # one split per prompt, over models
    prompts = both.drop_duplicates("prompt_id")
    rule = to_plain(dataset_config("zeroeval"))["options"]["splits"]
    assert list(prompts["split"]) == assign_splits(list(prompts["prompt_id"]), ["test"] * len(prompts), rule)
    train = prompts[prompts["split"] == "train"]["prompt_id"]
    assert all(hash_fraction(p, rule["seed"]) < 0.6 for p in train)
    shares = prompts["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.6) < 0.05 and abs(shares["dev"] - 0.1) < 0.03 and abs(shares["test"] - 0.3) < 0.05


def test_the_pool_model_list_decides_which_prompts_are_dropped(math4, tmp_path):
    kept, dropped = complete_prompts(math4, ["gpt-4o-2024-08-06", "gemma-2-2b-it"])
    assert (kept["prompt_id"].nunique(), dropped) == (721, 0)
    kept, dropped = complete_prompts(math4, MATH_MODELS)
    assert (kept["prompt_id"].nunique(), dropped) == (425, 296)
    path = save_traces(math4, tmp_path / "math4.parquet")
    bench = {
        "name": "zeroeval_math",
        "kind": "traces",
        "traces": str(path),
        "verifier": {"math-l5": "math"},
        "complete_models": {
            "gpt-4o": {"trace_model": "gpt-4o-2024-08-06"},
            "llama-70b": {"trace_model": "Meta-Llama-3.1-70B-Instruct@hyperbolic"},
        },
    }
    examples = load_benchmark(bench, tmp_path, split="all")
    assert len(examples) == 425 and examples.attrs["n_dropped"] == 296
    assert set(examples["verifier"]) == {"math"}


def test_stats_prints_the_drop_for_the_models_given(math4, tmp_path, capsys):
    from xrouter.data.stats import run_stats

    path = save_traces(math4, tmp_path / "math4.parquet")
    cfg = compose(
        "stats",
        [
            "dataset=traces",
            f"dataset.path={path}",
            "split=all",
            "models=[gpt-4o-2024-08-06,Meta-Llama-3.1-70B-Instruct@hyperbolic]",
        ],
    )
    stats = run_stats(cfg)
    assert stats["n_dropped"] == 296 and stats["n_prompts"] == 425
    assert "296 dropped" in capsys.readouterr().out


def test_the_benchmark_takes_the_composed_pool_models():
    cfg = compose("evaluate", ["pool=zeroeval_math", "benchmark=zeroeval_math"])
    assert to_plain(cfg.benchmark)["complete_models"] == to_plain(cfg.pool.models)
    assert to_plain(compose("stats", ["+pool=zeroeval_math"]).pool)["name"] == "zeroeval_math"
    assert len(cfg.pool.models) in range(8, 13)
    train = compose("train", ["experiment=zeroeval_math"])
    assert (train.pool.name, train.benchmark.name) == ("zeroeval_math", "zeroeval_math")


def test_every_pool_model_is_priced_and_in_both_tasks(gsm):
    from xrouter.build import pricing_entries
    from xrouter.pool.pricing import PriceTable

    pool = to_plain(compose("evaluate", ["pool=zeroeval_math"]).pool)
    prices = PriceTable.from_config(pricing_entries(pool), pool["models"])
    assert all(prices[m].output_per_mtok > 0 for m in pool["models"])
    assert {spec["trace_model"] for spec in pool["models"].values()} <= set(gsm["model"])

"""RouterBench converter and stats on the real shared CSVs, against the reference figures."""

import json
import subprocess
import sys

import pytest

from xrouter.data.converters.routerbench import ROUTERBENCH_MODELS
from xrouter.data.datasets import select_split
from xrouter.data.stats import trace_stats
from xrouter.data.traces import complete_prompts

# ../shared/data/README.md, computed directly from the CSVs
REFERENCE = {
    "n_prompts": 945,
    "gpt-4-1106-preview": (0.8794, 5.0034e-3),
    "mistralai/mistral-7b-chat": (0.5926, 0.0811e-3),
    "oracle": (0.9757, 0.2111e-3),
}


def test_shape_and_columns(routerbench_traces):
    t = routerbench_traces
    assert set(t["model"]) == set(ROUTERBENCH_MODELS)
    assert t.groupby("split")["prompt_id"].nunique().to_dict() == {"train": 2225, "test": 953}
    assert t["prompt_id"].str.startswith(("train/", "test/")).all()
    assert t["input_tokens"].isna().all() and not t["cost_estimated"].any()
    assert set(t["benchmark"]) == {"arc_challenge", "winogrande", "mbpp"}


@pytest.mark.parametrize("split,n_prompts,n_dropped", [("test", 945, 8), ("train", 2205, 20)])
def test_missing_scores_are_dropped_and_counted(routerbench_traces, split, n_prompts, n_dropped):
    kept, dropped = complete_prompts(select_split(routerbench_traces, split), ROUTERBENCH_MODELS)
    assert (kept["prompt_id"].nunique(), dropped) == (n_prompts, n_dropped)


def test_reference_figures(routerbench_traces):
    kept, _ = complete_prompts(select_split(routerbench_traces, "test"), ROUTERBENCH_MODELS)
    stats = trace_stats(kept)
    assert stats["n_prompts"] == REFERENCE["n_prompts"]
    for model in ("gpt-4-1106-preview", "mistralai/mistral-7b-chat"):
        accuracy, cost = REFERENCE[model]
        assert stats["models"][model]["accuracy"] == pytest.approx(accuracy, abs=5e-5)
        assert stats["models"][model]["cost_per_query"] == pytest.approx(cost, abs=5e-8)
    assert stats["oracle"]["accuracy"] == pytest.approx(REFERENCE["oracle"][0], abs=5e-5)
    assert stats["oracle"]["cost_per_query"] == pytest.approx(REFERENCE["oracle"][1], abs=5e-8)


def test_derived_gold(routerbench_traces):
    prompts = routerbench_traces.drop_duplicates("prompt_id")
    rate = prompts.groupby("benchmark")["gold"].apply(lambda g: g.notna().mean())
    assert rate["winogrande"] > 0.99 and rate["arc_challenge"] > 0.98
    mc = prompts[prompts.benchmark != "mbpp"]
    assert mc["gold"].dropna().isin(list("ABCD")).all()
    mbpp = prompts[prompts.benchmark == "mbpp"]["gold"].dropna().map(json.loads)
    assert len(mbpp) >= 340  # measured 346 of 427 (191 exact text, 155 fuzzy)
    assert all(g["test_list"] and g["match"] in ("exact", "fuzzy") for g in mbpp)
    exact = mbpp[mbpp.map(lambda g: g["match"] == "exact")]
    assert len(exact) >= 190


def test_stats_entry_point_prints_reference_json_last():
    result = subprocess.run(
        [sys.executable, "-m", "xrouter.data.stats", "dataset=routerbench", "split=test"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["n_prompts"] == 945 and last["n_dropped"] == 8
    assert round(last["models"]["gpt-4-1106-preview"]["accuracy"], 4) == 0.8794
    assert round(last["models"]["gpt-4-1106-preview"]["cost_per_query"] * 1e3, 4) == 5.0034
    assert round(last["models"]["mistralai/mistral-7b-chat"]["cost_per_query"] * 1e3, 4) == 0.0811
    assert (round(last["oracle"]["accuracy"], 4), round(last["oracle"]["cost_per_query"] * 1e3, 4)) == (0.9757, 0.2111)


def test_full_dataset_pickle_layout_converts(shared_data_dir, tmp_path):
    """The Hugging Face routerbench_0shot.pkl has the slice's wide columns: convert a pickle of the slice."""
    import pandas as pd

    from xrouter.data.converters.routerbench import convert

    wide = pd.read_csv(shared_data_dir / "routing/routerbench/winograde_test.csv")
    wide.to_pickle(tmp_path / "routerbench_0shot.pkl")
    traces = convert({"pkl": tmp_path / "routerbench_0shot.pkl"})
    assert set(traces["split"]) == {"all"} and traces["prompt_id"].nunique() == 380
    assert traces["gold"].notna().mean() > 0.99 and set(traces["model"]) == set(ROUTERBENCH_MODELS)

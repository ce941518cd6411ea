"""RouteLLM (GSM8K, MMLU) and LLMRouter converters on the real shared files.

Expected figures were measured on ../shared/data; accuracies are recomputed here from the raw files
with the standard library only, independently of the converters.
"""

import csv
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from xrouter.data.converters import llmrouter, routellm
from xrouter.data.traces import validate_traces

GPT4, MIXTRAL = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
LLMROUTER_MODELS = {
    "codegemma-7b",
    "gemma-2-9b-it",
    "llama-3.1-8b-instruct",
    "llama-3.1-nemotron-51b-instruct",
    "llama-3.3-nemotron-super-49b-v1",
    "llama3-chatqa-1.5-70b",
    "llama3-chatqa-1.5-8b",
    "mistral-7b-instruct-v0.3",
    "qwen2.5-7b-instruct",
}


@pytest.fixture(scope="module")
def routellm_files(shared_data_dir: Path) -> dict:
    return routellm.default_files(shared_data_dir)


@pytest.fixture(scope="module")
def gsm8k(routellm_files):
    return routellm.convert_gsm8k(routellm_files)


@pytest.fixture(scope="module")
def mmlu(routellm_files):
    return routellm.convert_mmlu(routellm_files)


@pytest.fixture(scope="module")
def llm(shared_data_dir: Path):
    return llmrouter.convert(llmrouter.default_files(shared_data_dir))


def _raw_accuracy(paths, model):
    values = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            values += [row[model] == "True" for row in csv.DictReader(handle)]
    return sum(values) / len(values), len(values)


def _check_common(traces, models, n_prompts):
    frame = validate_traces(traces)
    assert set(frame["model"]) == models
    assert frame["prompt_id"].nunique() == n_prompts
    assert len(frame) == n_prompts * len(models)
    assert frame.groupby("prompt_id")["model"].nunique().eq(len(models)).all()
    assert frame["cost_estimated"].all()
    assert frame["input_tokens"].notna().all() and frame["output_tokens"].notna().all()
    assert (frame["cost_usd"] > 0).all() and frame["latency_s"].isna().all()
    return frame


# --- RouteLLM GSM8K -----------------------------------------------------------------------------


def test_gsm8k_shape_join_and_gold(gsm8k, shared_data_dir):
    frame = _check_common(gsm8k, {GPT4, MIXTRAL}, 1319)
    assert gsm8k.attrs["report"]["gsm8k_gold_joined"] == 1319  # every prompt joins test.jsonl
    assert frame["gold"].notna().sum() >= 2 * 1319
    assert frame["prompt_id"].str.fullmatch(r"gsm8k\.test\.\d+").all()
    assert set(frame["benchmark"]) == {"gsm8k"} and set(frame["split"]) == {"test"}
    with open(shared_data_dir / "benchmarks/gsm8k/test.jsonl", encoding="utf-8") as handle:
        first = json.loads(handle.readline())
    row = frame[frame["prompt_id"] == "gsm8k.test.0"].iloc[0]
    assert row["prompt"] == first["question"] and row["gold"] == first["answer"].split("####")[-1].strip() == "18"
    assert frame["response"].notna().all()
    assert int(frame["contaminated"].sum()) == 2 * 12


def test_gsm8k_accuracy_matches_raw_csv(gsm8k, routellm_files):
    for model, expected in ((GPT4, 0.8567), (MIXTRAL, 0.6384)):
        raw, n = _raw_accuracy([routellm_files["gsm8k_responses"]], model)
        assert n == 1319 and raw == pytest.approx(expected, abs=1e-4)
        assert gsm8k.loc[gsm8k["model"] == model, "score"].mean() == pytest.approx(raw, abs=1e-12)


def test_gsm8k_costs_follow_the_char_rule_and_given_prices(routellm_files):
    prices = {GPT4: (1.0, 2.0), MIXTRAL: (3.0, 4.0)}
    frame = routellm.convert_gsm8k(routellm_files, prices=prices)
    row = frame.iloc[0]
    assert row["input_tokens"] == math.ceil(len(row["prompt"]) / 4)
    assert row["output_tokens"] == math.ceil(len(row["response"]) / 4)
    price_in, price_out = prices[row["model"]]
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] * price_in + row["output_tokens"] * price_out) / 1e6)


# --- RouteLLM MMLU ------------------------------------------------------------------------------


def test_mmlu_shape_join_and_gold(mmlu, routellm_files):
    frame = _check_common(mmlu, {GPT4, MIXTRAL}, 14042)
    report = mmlu.attrs["report"]
    assert report["mmlu_subjects"] == 57 and report["mmlu_gold_joined"] == 14042
    assert frame["subject"].nunique() == 57 and set(frame["benchmark"]) == {"mmlu"}
    assert frame["response"].isna().all() and (frame["output_tokens"] == 2).all()
    assert int(frame["contaminated"].sum()) == 2 * 5
    # the joined gold letters are exactly the test files' answers
    raw = Counter()
    for key, path in routellm_files.items():
        if key.startswith("mmlu_test/"):
            with open(path, newline="", encoding="utf-8") as handle:
                raw.update("ABCD"[int(row["answer"])] for row in csv.DictReader(handle))
    assert sum(raw.values()) == 14042
    assert Counter(frame.loc[frame["model"] == GPT4, "gold"]) == raw


def test_mmlu_accuracy_matches_raw_csvs(mmlu, routellm_files):
    paths = [p for k, p in sorted(routellm_files.items()) if k.startswith("mmlu_responses/")]
    for model, expected in ((GPT4, 0.8058), (MIXTRAL, 0.6808)):
        raw, n = _raw_accuracy(paths, model)
        assert n == 14042 and raw == pytest.approx(expected, abs=1e-4)
        assert mmlu.loc[mmlu["model"] == model, "score"].mean() == pytest.approx(raw, abs=1e-12)


def test_routellm_convert_dispatches_on_the_files_given(routellm_files):
    only_gsm8k = routellm.convert({k: v for k, v in routellm_files.items() if k.startswith("gsm8k")})
    assert set(only_gsm8k["benchmark"]) == {"gsm8k"}
    with pytest.raises(KeyError):
        routellm.convert({})


# --- LLMRouter ----------------------------------------------------------------------------------


def test_llmrouter_shape_and_join(llm):
    frame = _check_common(llm, LLMROUTER_MODELS, 6108)
    assert frame.groupby("split")["prompt_id"].nunique().to_dict() == {"train": 5608, "test": 500}
    assert frame["benchmark"].nunique() == 14
    report = llm.attrs["report"]
    assert report["joined"] == {"train": 5608, "test": 500} and report["joined_other_split"] == 0
    assert report["ambiguous"] == 8 and report["ambiguous_task_differs"] == 6
    assert report["in_both_splits"] == 119
    assert frame["gold"].notna().all() and frame["response"].isna().all()
    assert frame["prompt_id"].str.fullmatch(r"llmrouter\.(train|test)\.\d+").all()
    assert frame.loc[frame["benchmark"] == "gsm8k", "gold"].str.fullmatch(r"-?[\d.]+").all()


def test_llmrouter_scores_match_raw_json(llm, shared_data_dir):
    sums, counts, fractional = Counter(), Counter(), 0
    for split in ("train", "test"):
        with open(shared_data_dir / llmrouter.FILES[split], encoding="utf-8") as handle:
            for item in json.load(handle):
                for model, score in item["scores"].items():
                    assert 0.0 <= score <= 1.0
                    sums[model] += score
                    counts[model] += 1
                    fractional += score not in (0.0, 1.0)
    assert set(counts) == LLMROUTER_MODELS and set(counts.values()) == {6108}
    means = llm.groupby("model")["score"].mean()
    for model in LLMROUTER_MODELS:
        assert means[model] == pytest.approx(sums[model] / counts[model], abs=1e-12)
    assert means["llama-3.1-nemotron-51b-instruct"] == pytest.approx(0.6165, abs=1e-4)
    assert means["llama3-chatqa-1.5-8b"] == pytest.approx(0.1733, abs=1e-4)
    is_fractional = ~llm["score"].isin([0.0, 1.0])
    assert is_fractional.sum() == fractional == 1753
    assert set(llm.loc[is_fractional, "benchmark"]) == {"commongen"}


def test_llmrouter_costs_use_the_price_table(llm, shared_data_dir):
    with open(shared_data_dir / llmrouter.FILES["llm_candidates"], encoding="utf-8") as handle:
        prices = json.load(handle)
    assert len(prices) == 14
    row = llm[llm["metric"] == "em_mc"].iloc[0]
    assert row["input_tokens"] == math.ceil(len(row["prompt"]) / 4) and row["output_tokens"] == 8
    price = prices[row["model"]]
    expected = (row["input_tokens"] * price["input_price"] + row["output_tokens"] * price["output_price"]) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)
    assert (llm["output_tokens"] == llm["metric"].map(llmrouter.OUTPUT_TOKENS_BY_METRIC)).all()


def test_last_boxed():
    assert llmrouter.last_boxed(r"so \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
    assert llmrouter.last_boxed(r"\boxed{1} then \boxed{2}") == "2"
    assert llmrouter.last_boxed("no box") is None

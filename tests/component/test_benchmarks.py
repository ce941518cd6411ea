"""Every benchmark config loads from the shared data with the expected counts, stable ids and disjoint
splits, and its verifier scores the reference answer 1 and a wrong answer 0 (``verify_example``)."""

from __future__ import annotations

import json
from functools import cache

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA, compose
from xrouter import CONF_DIR
from xrouter.data.benchmarks import (
    EXAMPLE_COLUMNS,
    NO_GOLD,
    alias_entry_point,
    load_benchmark,
    verify_example,
    verify_examples,
)
from xrouter.data.questions import render
from xrouter.data.splits import assign_splits
from xrouter.data.store import DataNotFoundError
from xrouter.verify import known_verifiers
from xrouter.verify.code import humaneval_problems

# split -> number of examples (split "all" is the sum); hash splits are fixed by the seed in the config
EXPECTED = {
    "gsm8k": {"train": 7139, "dev": 334, "test": 1319},
    "math500": {"train": 415, "dev": 37, "test": 48},
    "aime24": {"test": 30},
    "aime25": {"test": 30},
    "amc23": {"test": 40},
    "olympiadbench": {"train": 547, "dev": 65, "test": 63},
    "minerva_math": {"train": 226, "dev": 26, "test": 20},
    "mmlu_pro": {"train": 245, "dev": 29, "test": 26},
    "mmlu": {"dev": 285, "test": 14042},
    "mbpp": {"train": 384, "dev": 90, "test": 500},
    "humaneval": {"test": 164},
    "routerbench": {"train": 2205, "test": 945},
    "routellm_gsm8k": {"test": 1319},
    "llmrouter": {"train": 5608, "test": 500},
}
TRACE_KINDS = {"routerbench", "routellm_gsm8k", "llmrouter"}
# conf/benchmark/<pool>.yaml: what a pool brings when benchmark defaults to the pool's name (another
# benchmark's prompts, the replayed traces' own, or, for a live pool, a stop asking for benchmark=)
POOL_DEFAULTS = {"zeroeval_reasoning", "local_server", "replay", "xrouter_paper", "vllm_local"}


@cache
def benchmark(name: str, split: str = "all") -> pd.DataFrame:
    cfg = compose("stats", [f"+benchmark={name}"])
    return load_benchmark(cfg.benchmark, SHARED_DATA, split=split)


def test_every_benchmark_config_is_covered():
    # traces needs a user file; zeroeval_math is tested in test_zeroeval.py on a few models (its full
    # conversion, 40 models through math-verify, takes minutes cold)
    configs = {p.stem for p in (CONF_DIR / "benchmark").glob("*.yaml")} - {"traces", "zeroeval_math"}
    assert configs - POOL_DEFAULTS == set(EXPECTED)
    assert all((CONF_DIR / "pool" / f"{name}.yaml").exists() for name in POOL_DEFAULTS)


def test_a_pool_named_benchmark_is_that_pools_prompts(shared_data_dir):
    assert (
        benchmark("local_server", "test")["prompt_id"].tolist()
        == benchmark("routerbench", "test")["prompt_id"].tolist()
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_loads_with_counts_ids_and_splits(name, shared_data_dir, tmp_path):
    examples = benchmark(name)
    assert list(examples.columns[: len(EXAMPLE_COLUMNS)]) == EXAMPLE_COLUMNS
    assert examples.groupby("split").size().to_dict() == EXPECTED[name]
    assert examples["prompt_id"].is_unique
    assert examples["prompt"].map(lambda p: isinstance(p, str) and len(p) > 10).all()
    assert set(examples["verifier"]) <= set(known_verifiers()) | {"recorded"}
    graded = examples[examples["verifier"] != "recorded"]
    assert graded["gold"].notna().all() and (graded["gold"].astype(str).str.strip() != "").all()
    if name not in TRACE_KINDS:
        assert len(graded) == len(examples)  # every question has gold
    # stable: a fresh load (no cache) gives the same ids in the same splits
    cfg = compose("stats", [f"+benchmark={name}"])
    again = load_benchmark(cfg.benchmark, shared_data_dir, split="all")
    assert dict(zip(again.prompt_id, again.split)) == dict(zip(examples.prompt_id, examples.split))
    # splits are disjoint and cover the benchmark
    parts = [
        set(load_benchmark(cfg.benchmark, shared_data_dir, split=s, cache_dir=tmp_path).prompt_id)
        for s in EXPECTED[name]
    ]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == len(examples)


def test_stable_id_formats():
    assert benchmark("gsm8k").prompt_id.iloc[0] == "gsm8k/train/0"
    assert "gsm8k/test/12" in set(benchmark("gsm8k", "test").prompt_id)
    assert "mmlu/test/abstract_algebra/0" in set(benchmark("mmlu").prompt_id)
    assert "mbpp/test/11" in set(benchmark("mbpp").prompt_id) and "mbpp/dev/511" in set(benchmark("mbpp").prompt_id)
    assert set(benchmark("humaneval").prompt_id) == {f"humaneval/test/{i}" for i in range(164)}
    assert benchmark("aime24").prompt_id.tolist() == [f"aime24/test/{i}" for i in range(30)]


def test_prompt_formats_and_verifier_fields():
    gsm = benchmark("gsm8k", "test").iloc[0]
    assert gsm.prompt.startswith("Janet") and gsm.prompt.endswith("put your final answer within \\boxed{}.")
    assert gsm.gold == "18" and gsm.reference.endswith("#### 18")
    mbpp = benchmark("mbpp").set_index("task_id").loc["2"]
    assert mbpp.prompt.startswith("You are an expert Python programmer, and here is your task: Write a function")
    assert "Your code should pass these tests:\n\nassert similar_elements(" in mbpp.prompt
    assert mbpp.entry_point == "similar_elements" and len(json.loads(mbpp.tests)) == 3
    mmlu = benchmark("mmlu", "test").iloc[0]
    assert "\nA. " in mmlu.prompt and "\nD. " in mmlu.prompt and mmlu.letters == "ABCD" and mmlu.gold in "ABCD"
    pro = benchmark("mmlu_pro")
    assert (pro.letters == "ABCDEFGHIJ").sum() == 251 and pro.apply(lambda r: r.gold in r.letters, axis=1).all()
    assert pro.choices.map(lambda c: len(json.loads(c))).eq(pro.letters.str.len()).all()
    he = benchmark("humaneval").iloc[0]
    assert he.code_prompt in he.prompt and he.gold == he.task_id == "HumanEval/0"
    olympiad = benchmark("olympiadbench")
    assert "$" not in "".join(olympiad.gold)  # "$69$,$84$" -> "69, 84"
    assert (benchmark("minerva_math").gold != "").all() and (benchmark("amc23").gold == "27").iloc[0]
    rb = benchmark("routerbench")
    assert set(rb[rb.benchmark == "winogrande"].letters) == {"AB"}
    assert rb[(rb.benchmark == "mbpp") & (rb.verifier == "code_mbpp")].alias_entry_point.eq(True).all()


def test_render_substitutes_named_fields_only():
    assert render("{question}\nbox \\boxed{} {unknown}", question="Q?") == "Q?\nbox \\boxed{} {unknown}"


def test_hash_splits_are_deterministic_and_respect_from():
    ids = [f"x/{i}" for i in range(1000)]
    rule = {"kind": "hash", "seed": 0, "from": "train", "fractions": {"train": 0.9, "dev": 0.1}}
    upstream = ["train"] * 900 + ["test"] * 100
    splits = assign_splits(ids, upstream, rule)
    assert splits == assign_splits(ids, upstream, rule) and splits[900:] == ["test"] * 100
    assert 50 < splits[:900].count("dev") < 130
    assert assign_splits(ids, upstream, {**rule, "seed": 1}) != splits
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(ids, upstream, {"kind": "hash", "fractions": {"train": 0.5}})


def test_missing_question_file_names_it(tmp_path):
    cfg = compose("stats", ["+benchmark=aime25", "benchmark.files.test.url=file:///nonexistent/aime25.jsonl"])
    with pytest.raises(DataNotFoundError, match="benchmarks/math/aime25/test.jsonl"):
        load_benchmark(cfg.benchmark, tmp_path / "empty", split="test")


# ----------------------------------------------------------------------------- gold scores 1, wrong scores 0
def _mbpp_code() -> dict[str, str]:
    rows = [json.loads(line) for line in open(SHARED_DATA / "benchmarks/mbpp/mbpp.jsonl")]
    return {str(r["task_id"]): r["code"] for r in rows}


def reference_answer(row: dict) -> str:
    """What a correct model would say, from the row's gold / reference."""
    verifier, gold = row["verifier"], str(row["gold"])
    if verifier == "numeric":
        return row["reference"] if isinstance(row.get("reference"), str) else f"The answer is {gold}."
    if verifier == "math":
        return f"So the answer is $\\boxed{{{gold}}}$."
    if verifier == "choice":
        letters = row.get("letters") if isinstance(row.get("letters"), str) else "ABCD"
        letter = letters[int(gold)] if letters[0].isdigit() else gold  # digit labels: gold is an index
        return f"The correct option is ({letter})."
    if verifier == "f1":
        return gold
    if verifier == "code_mbpp":
        if isinstance(row.get("reference"), str):
            return f"```python\n{row['reference']}\n```"
        return f"```python\n{_mbpp_code()[str(row['task_id'])]}\n```"
    if verifier == "code_humaneval":
        problem = humaneval_problems()[row["task_id"]]
        return f"```python\n{problem['prompt']}{problem['canonical_solution']}```"
    raise AssertionError(verifier)


def wrong_answer(row: dict) -> str:
    verifier = row["verifier"]
    if verifier in ("numeric", "math"):
        return "The answer is \\boxed{-987654.321}."
    if verifier == "choice":
        letters = row.get("letters") if isinstance(row.get("letters"), str) else "ABCD"
        right = reference_answer(row)[-3]
        return f"The correct option is ({next(c for c in letters if c != right)})."
    if verifier == "f1":
        return "qwxz vbnm"
    name = row.get("entry_point") if isinstance(row.get("entry_point"), str) else "solution"
    return f"```python\ndef {name}(*args, **kwargs):\n    return None\n```"


def sample_rows(name: str, per_verifier: int = 3) -> list[dict]:
    examples = benchmark(name)
    graded = examples[examples["verifier"] != "recorded"]
    picks = [
        group.iloc[[0, len(group) // 2, -1][:per_verifier]] for _, group in graded.groupby(["benchmark", "verifier"])
    ]
    return pd.concat(picks).drop_duplicates("prompt_id").to_dict("records")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_verifier_scores_reference_one_and_wrong_zero(name):
    rows = sample_rows(name)
    good = verify_examples(rows, [reference_answer(r) for r in rows])
    bad = verify_examples(rows, [wrong_answer(r) for r in rows])
    assert [(r["prompt_id"], s.value) for r, s in zip(rows, good)] == [(r["prompt_id"], 1.0) for r in rows], [
        s.reason for s in good
    ]
    assert all(s.value == 0.0 for s in bad), [(r["prompt_id"], s.reason) for r, s in zip(rows, bad) if s.value]


def test_math_reference_solutions_score_one():
    rows = [r for name in ("math500", "minerva_math") for r in benchmark(name).iloc[:5].to_dict("records")]
    scores = verify_examples(rows, [r["reference"] for r in rows])
    assert [s.value for s in scores] == [1.0] * len(rows), [s.reason for s in scores]


# ----------------------------------------------------------------------------- direct answers (verify_example)
def test_recorded_rows_give_no_credit_to_direct_answers():
    commongen = benchmark("llmrouter").query("benchmark == 'commongen'").iloc[0]
    score = verify_example(commongen, str(commongen.gold))
    assert score.value == 0.0 and score.reason == NO_GOLD
    assert verify_example({"prompt_id": "q", "verifier": "choice", "gold": None}, "A").reason == NO_GOLD


def test_verify_example_takes_a_series_with_missing_extras():
    mixed = pd.concat([benchmark("gsm8k", "test").head(1), benchmark("mmlu", "test").head(1)], ignore_index=True)
    gsm, mmlu = mixed.iloc[0], mixed.iloc[1]
    assert pd.isna(gsm.letters) and pd.isna(mmlu.reference)
    assert verify_example(gsm, "so she makes $18 a day. #### 18").value == 1.0
    assert verify_example(mmlu, f"Answer: {mmlu.gold}").value == 1.0
    assert verify_example(gsm, None).value == 0.0


def test_humaneval_row_is_verified_against_the_function_prompt_not_the_chat_prompt():
    row = benchmark("humaneval").iloc[2]
    body = humaneval_problems()[row.task_id]["canonical_solution"]
    assert verify_example(row, body).value == 1.0  # a body completion needs the function prompt
    assert verify_example(row, "```python\ndef truncate_number(number):\n    return 0.5\n```").value == 0.0


def test_routerbench_mbpp_direct_answer_may_name_its_function_freely():
    rb = benchmark("routerbench")
    row = rb[(rb.benchmark == "mbpp") & (rb.verifier == "code_mbpp")].iloc[0].to_dict()
    code = _mbpp_code()[row["task_id"]]
    renamed = code.replace(row["entry_point"], "my_solution")
    assert row["entry_point"] not in renamed
    answer = f"Here it is:\n```python\n{renamed}\n```\nHope this helps."
    assert verify_example(row, answer).value == 1.0
    assert verify_example({**row, "alias_entry_point": False}, answer).value == 0.0


def test_alias_entry_point_only_for_a_single_function():
    one = "```python\ndef f(x):\n    return f(x - 1) if x else 0\n```"
    assert alias_entry_point(one, "g").endswith("\n\ng = f\n```")
    two = "```python\ndef f(x):\n    return x\n\ndef h(x):\n    return x\n```"
    assert alias_entry_point(two, "g") == two
    assert alias_entry_point("```python\ndef g(x):\n    return x\n```", "g").startswith("```python\ndef g")
    assert alias_entry_point("not code at all (", "g") == "not code at all ("


def test_llmrouter_digit_labels_and_code_tasks():
    lr = benchmark("llmrouter")
    digit = lr[lr.letters.fillna("").str.startswith("1")]
    assert len(digit) == 8  # ARC questions labelled 1-4 upstream
    row = digit.iloc[0]
    assert row.gold in row.letters  # the gold is the label itself ("3"), which the verifier takes literally
    assert verify_example(row, f"The answer is {row.gold}.").value == 1.0
    wrong = next(label for label in row.letters if label != row.gold)
    assert verify_example(row, f"The answer is {wrong}.").value == 0.0
    mbpp = lr[lr.verifier == "code_mbpp"].iloc[0]
    assert json.loads(mbpp.tests) and mbpp.entry_point
    he = lr[lr.verifier == "code_humaneval"].iloc[0]
    assert he.task_id.startswith("HumanEval/") and he.code_prompt == he.prompt

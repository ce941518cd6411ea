"""Replay endpoints and pools built from config, on the real RouterBench traces and on a user file."""

import asyncio
import hashlib

import pandas as pd
import pytest

from tests.conftest import compose
from xrouter.build import build_pool
from xrouter.data.store import ChecksumError, DataNotFoundError, FileSpec, ensure_file
from xrouter.data.traces import save_traces
from xrouter.pool.pool import UnknownModelError
from xrouter.pool.pricing import MissingPriceError
from xrouter.pool.replay import UnknownPromptError


def run(coroutine):
    return asyncio.run(coroutine)


def test_routerbench_pool_has_eleven_priced_models(routerbench_pool):
    pool = routerbench_pool
    assert len(pool.names) == 11 and "llama-2-70b-chat" in pool
    card = pool.cards["gpt-4-1106-preview"]
    assert (card.price.input_per_mtok, card.price.output_per_mtok) == (10.0, 30.0)
    schemas = pool.tool_schemas()
    assert {s["function"]["name"] for s in schemas} >= {"call_mistral-7b-chat", "call_wizardlm-13b-v1-2"}
    assert "$10 per 1M input tokens" in card.description()
    assert pool.cheapest() == "mistral-7b-chat"


def test_replay_is_deterministic_and_recorded(routerbench_pool, routerbench_traces):
    pool = routerbench_pool
    row = routerbench_traces[(routerbench_traces.model == "gpt-4-1106-preview")].iloc[5]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": row.prompt}]
    first = run(pool.call("gpt-4-1106-preview", messages, prompt_id=row.prompt_id, episode_id="e1"))
    second = run(pool.call("gpt-4-1106-preview", messages, episode_id="e1"))  # found by text
    assert first.text == second.text == row.response
    assert first.cost_usd == pytest.approx(row.cost_usd) and first.recorded_score == row.score
    assert pool.ledger.episode_cost("e1") == pytest.approx(2 * row.cost_usd)


def test_unknown_prompt_and_model_are_clear_errors(routerbench_pool):
    pool = routerbench_pool
    with pytest.raises(UnknownPromptError, match="no recorded answer for prompt_id 'nope'"):
        run(pool.call("claude-v2", [{"role": "user", "content": "x"}], prompt_id="nope", episode_id="bad"))
    with pytest.raises(UnknownPromptError, match="replay only serves prompts that are in its traces"):
        run(pool.call("claude-v2", [{"role": "user", "content": "What is the capital of Mars?"}]))
    failed = pool.ledger.episode_records("bad")
    assert len(failed) == 1 and failed[0].error and failed[0].cost_usd == 0.0
    with pytest.raises(UnknownModelError, match="unknown model 'gpt-9'; this pool has: gpt-4-1106-preview"):
        run(pool.call("gpt-9", [{"role": "user", "content": "x"}]))


def user_traces(with_tokens: bool) -> pd.DataFrame:
    rows = []
    for i in range(4):
        for model, cost in (("org/big-model", 0.01), ("small.v1", 0.001)):
            rows.append(
                dict(
                    prompt_id=f"q{i}",
                    benchmark="mine",
                    split="test",
                    prompt=f"question {i}",
                    gold="1",
                    model=model,
                    response=f"{model} says {i}",
                    score=float(i % 2),
                    cost_usd=cost,
                    input_tokens=100 if with_tokens else None,
                    output_tokens=100 if with_tokens else None,
                    latency_s=None,
                    source="my lab",
                )
            )
    return pd.DataFrame(rows)


def test_user_trace_file_becomes_a_pool_without_code(tmp_path, shared_data_dir):
    path = save_traces(user_traces(with_tokens=True), tmp_path / "mine.parquet")
    cfg = compose("stats", ["+pool=replay", f"pool.traces={path}"])
    pool = build_pool(cfg.pool, shared_data_dir)
    assert sorted(pool.names) == ["big-model", "small-v1"]
    assert pool.cards["big-model"].price.input_per_mtok == pytest.approx(0.01 / 200 * 1e6)
    answer = run(pool.call("small-v1", [{"role": "user", "content": "question 3"}]))
    assert answer.text == "small.v1 says 3" and answer.recorded_score == 1.0


def test_user_traces_without_tokens_need_prices(tmp_path, shared_data_dir):
    path = save_traces(user_traces(with_tokens=False), tmp_path / "mine.jsonl")
    cfg = compose("stats", ["+pool=replay", f"pool.traces={path}"])
    with pytest.raises(MissingPriceError, match=r"2 pool model\(s\)"):
        build_pool(cfg.pool, shared_data_dir)


def test_missing_dataset_file_names_file_upstream_and_env_var(tmp_path):
    spec = FileSpec(path="routing/x/missing.csv", url=(tmp_path / "nowhere.csv").as_uri(), sha256=None)
    with pytest.raises(DataNotFoundError) as error:
        ensure_file(tmp_path, spec)
    message = str(error.value)
    assert "missing.csv" in message and "nowhere.csv" in message and "XROUTER_DATA_DIR" in message


def test_download_is_verified(tmp_path):
    upstream = tmp_path / "upstream.csv"
    upstream.write_text("a,b\n1,2\n")
    good = hashlib.sha256(upstream.read_bytes()).hexdigest()
    target = ensure_file(tmp_path / "data", FileSpec(path="d/f.csv", url=upstream.as_uri(), sha256=good))
    assert target.read_text() == "a,b\n1,2\n"
    with pytest.raises(ChecksumError, match="does not match"):
        ensure_file(tmp_path / "data2", FileSpec(path="d/f.csv", url=upstream.as_uri(), sha256="0" * 64))
    assert not (tmp_path / "data2" / "d" / "f.csv").exists()


def test_benchmark_from_user_traces_and_from_routerbench(tmp_path, shared_data_dir):
    from xrouter.data.benchmarks import load_benchmark

    path = save_traces(user_traces(with_tokens=True), tmp_path / "mine.parquet")
    cfg = compose("stats", ["+benchmark=traces", f"benchmark.traces={path}"])
    examples = load_benchmark(cfg.benchmark, shared_data_dir, split="test")
    assert list(examples.prompt_id) == ["q0", "q1", "q2", "q3"] and set(examples.verifier) == {"recorded"}
    cfg = compose("stats", ["+benchmark=routerbench"])
    examples = load_benchmark(cfg.benchmark, shared_data_dir, split="test")
    assert len(examples) == 945
    assert examples.groupby("benchmark")["verifier"].first().to_dict() == {
        "arc_challenge": "choice",
        "mbpp": "code_mbpp",
        "winogrande": "choice",
    }
    with pytest.raises(ValueError, match="split 'dev' is not in this dataset"):
        load_benchmark(cfg.benchmark, shared_data_dir, split="dev")


@pytest.mark.parametrize(
    "pool_name,n_models,model,price",
    [
        ("routellm_gsm8k", 2, "mixtral-8x7b-instruct", (0.6, 0.6)),
        ("llmrouter", 9, "gemma-2-9b-it", (0.1, 0.1)),
    ],
)
def test_other_replay_pools_build(shared_data_dir, pool_name, n_models, model, price):
    pool = build_pool(compose("stats", [f"+pool={pool_name}"]).pool, shared_data_dir)
    assert len(pool.names) == n_models and model in pool
    card = pool.cards[model]
    assert (card.price.input_per_mtok, card.price.output_per_mtok) == price
    assert all(len(pool.endpoints[name]) > 0 for name in pool.names)  # every model has recorded answers


def test_live_pool_configs_build_with_every_model_priced(shared_data_dir):
    """The paper's live pool and the local vLLM pool build offline (no call is made)."""
    paper = build_pool(compose("stats", ["+pool=xrouter_paper"]).pool, shared_data_dir)
    assert len(paper.names) == 15 and {"gpt-5", "o3", "deepseek-r1", "qwen3-235b-thinking"} <= set(paper.names)
    assert paper.cards["gpt-5"].price.output_per_mtok == 10.0
    local = build_pool(compose("stats", ["+pool=vllm_local"]).pool, shared_data_dir)
    assert local.names == ["qwen2-5-7b-instruct"]


def test_the_response_cache_answers_a_repeated_deterministic_call_without_paying_again(shared_data_dir):
    pool = build_pool(compose("train", ["pool.cache_calls=true"]).pool, shared_data_dir)
    endpoint = pool.endpoints["gpt-4-1106-preview"]
    lookups = []
    lookup = endpoint.lookup
    endpoint.lookup = lambda **kwargs: lookups.append(kwargs) or lookup(**kwargs)
    prompt_id = sorted(endpoint._by_id)[0]
    messages = [{"role": "user", "content": "q"}]
    first = run(pool.call("gpt-4-1106-preview", messages, prompt_id=prompt_id, episode_id="e1"))
    again = run(pool.call("gpt-4-1106-preview", messages, prompt_id=prompt_id, episode_id="e2"))
    sampled = run(pool.call("gpt-4-1106-preview", messages, 0.7, prompt_id=prompt_id, episode_id="e3"))
    assert again is first and sampled.text == first.text and len(lookups) == 2  # temperature > 0: called again
    booked = pool.ledger.records
    assert [r.cached for r in booked] == [False, True, False] and booked[1].cost_usd == 0.0
    assert first.cost_usd > 0 and booked[1].saved_usd == pytest.approx(first.cost_usd) and booked[1].episode_id == "e2"
    plain = build_pool(compose("evaluate").pool, shared_data_dir)  # the pool's own default (recipe=rl_only turns it on)
    run(plain.call("gpt-4-1106-preview", messages, prompt_id=prompt_id))
    run(plain.call("gpt-4-1106-preview", messages, prompt_id=prompt_id))
    assert [r.cached for r in plain.ledger.records] == [False, False]  # off unless asked
    assert compose("train").pool.cache_calls and not compose("train", ["recipe=teacher"]).pool.cache_calls

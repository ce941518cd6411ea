"""The routing environment with a scripted router against the real RouterBench replay pool."""

import asyncio
import json

import pytest

from tests.conftest import compose
from xrouter.build import build_pool
from xrouter.data.benchmarks import load_benchmark
from xrouter.env.router_env import RouterEnv
from xrouter.pool.pricing import Price
from xrouter.reward import build_reward
from xrouter.verify.registry import verify


@pytest.fixture(scope="module")
def setting(shared_data_dir):
    cfg = compose("stats", ["+pool=routerbench", "+benchmark=routerbench"])
    pool = build_pool(cfg.pool, shared_data_dir)
    examples = load_benchmark(cfg.benchmark, shared_data_dir, split="test")
    return pool, examples


def make_env(pool, **kwargs):
    reward = build_reward({"name": "xrouter", "K": 1.0, "lam": 100.0, "cap": 0.8})
    return RouterEnv(pool, verify, reward, router_price=Price(0.04, 0.10, "paper"), **kwargs)


def call(model, prompt="Answer with one letter."):
    return (
        f"<tool_call>{json.dumps({'name': f'call_{model}', 'arguments': {'optimized_system_prompt': prompt}})}"
        "</tool_call>"
    )


def select(model):
    return (
        f"<tool_call>{json.dumps({'name': 'select_response', 'arguments': {'model_call_name': f'call_{model}'}})}"
        "</tool_call>"
    )


def example(examples, benchmark="arc_challenge", i=0):
    return examples[examples.benchmark == benchmark].iloc[i].to_dict()


def test_call_then_select_returns_the_recorded_answer(setting, routerbench_traces):
    pool, examples = setting
    env = make_env(pool)
    ex = example(examples)
    episode = env.reset(ex, "e-select")
    assert episode.messages[1]["content"] == ex["prompt"]
    out = asyncio.run(env.step([episode], [call("gpt-4-1106-preview") + call("mistral-7b-chat")], [(100, 20)]))
    contents = [json.loads(c) for c in out[0]]
    assert [c["name"] for c in contents] == ["call_gpt-4-1106-preview", "call_mistral-7b-chat"]
    out = asyncio.run(env.step([episode], [select("gpt-4-1106-preview")], [(300, 10)]))
    assert out == [None] and episode.termination == "select" and episode.final_source == "call_gpt-4-1106-preview"
    recorded = routerbench_traces[(routerbench_traces.prompt_id == ex["prompt_id"])].set_index("model")
    assert episode.final_answer == recorded.loc["gpt-4-1106-preview", "response"]
    assert episode.score == recorded.loc["gpt-4-1106-preview", "score"]
    tool_cost = recorded.loc["gpt-4-1106-preview", "cost_usd"] + recorded.loc["mistralai/mistral-7b-chat", "cost_usd"]
    assert episode.tool_cost_usd == pytest.approx(tool_cost)
    router_cost = (400 * 0.04 + 30 * 0.10) / 1e6
    assert episode.router_cost_usd == pytest.approx(router_cost)
    assert episode.reward["total"] == pytest.approx(episode.score * (1 - min(100 * tool_cost, 0.8)))
    assert episode.strategy == "multi" and len(pool.ledger.episode_records("e-select")) == 4  # 2 calls + 2 router turns


def test_direct_answer_is_verified(setting):
    pool, examples = setting
    env = make_env(pool)
    ex = example(examples)
    right, wrong = env.reset(ex, "right"), env.reset(ex, "wrong")
    other = next(letter for letter in "ABCD" if letter != ex["gold"])
    asyncio.run(env.step([right, wrong], [f"The answer is {ex['gold']}.", other]))
    assert (right.termination, right.score, right.tool_cost_usd) == ("final_text", 1.0, 0.0)
    assert right.reward["total"] == 1.0 and right.strategy == "direct"
    assert wrong.score == 0.0 and wrong.reward["total"] == 0.0


def test_malformed_calls_go_back_to_the_router_and_turn_limit_scores_zero(setting):
    pool, examples = setting
    env = make_env(pool, max_turns=2)
    episode = env.reset(example(examples), "bad")
    out = asyncio.run(env.step([episode], ['<tool_call>{"name": "call_gpt-9"}</tool_call>']))
    assert "unknown tool 'call_gpt-9'" in json.loads(out[0][0])["content"]
    out = asyncio.run(env.step([episode], [select("claude-v2")]))
    assert out == [None] and episode.termination == "turn_limit" and episode.score == 0
    assert episode.n_malformed == 2 and episode.reward["total"] == 0.0


def test_calls_on_the_last_turn_are_not_run(setting):
    pool, examples = setting
    env = make_env(pool, max_turns=1)
    episode = env.reset(example(examples), "last")
    asyncio.run(env.step([episode], [call("gpt-4-1106-preview")]))
    assert episode.termination == "turn_limit" and episode.tool_cost_usd == 0.0


def test_simple_mode_one_call_is_final(setting):
    pool, examples = setting
    env = make_env(pool, mode="simple")
    assert all(t["function"]["name"] != "select_response" for t in env.tools())
    episode = env.reset(example(examples, "winogrande"), "simple")
    asyncio.run(env.step([episode], [call("yi-34b-chat") + call("gpt-4-1106-preview")]))
    assert episode.termination == "simple_call" and [c.model for c in episode.calls] == ["yi-34b-chat"]
    assert episode.score in (0.0, 1.0) and episode.tool_cost_usd > 0


def test_compact_tools_and_query_truncation(setting):
    pool, examples = setting
    env = make_env(pool, tools_in_prompt="compact", max_query_chars=100)
    tools = env.tools()
    assert tools[0]["function"] == {"name": "call_gpt-4-1106-preview", "description": "$10/$30 per 1M tokens"}
    episode = env.reset(example(examples), "short")
    assert len(episode.messages[1]["content"]) == 103

"""Router-R1's action format in the real environment (RouterBench replay): route, read the
information, answer by name or in the router's own words; malformed turns void the format reward."""

import asyncio

import pytest

from tests.conftest import compose
from xrouter.build import build_pool, router_extra_tokens
from xrouter.data.benchmarks import load_benchmark
from xrouter.env.router_env import RouterEnv
from xrouter.env.tool_calls import clip_tool_result
from xrouter.reward import build_reward
from xrouter.router.chat_format import IM_END, IM_START
from xrouter.router.r1_format import parse_r1_turn, render_answer, render_route
from xrouter.verify.registry import verify

R1_REWARD = {"name": "router_r1", "alpha": 0.3, "cost_scale": 0.01, "include_router_cost": False}


@pytest.fixture(scope="module")
def setting(shared_data_dir):
    cfg = compose("stats", ["+pool=routerbench", "+benchmark=routerbench"])
    return build_pool(cfg.pool, shared_data_dir), load_benchmark(cfg.benchmark, shared_data_dir, split="test")


def r1_env(pool, **kwargs):
    return RouterEnv(
        pool, verify, build_reward(R1_REWARD), mode="full", max_turns=3, action_format="router_r1", **kwargs
    )


def an_example(examples, benchmark="arc_challenge"):
    return examples[examples.benchmark == benchmark].iloc[0].to_dict()


def test_route_then_answer_by_name_returns_the_recorded_answer(setting, routerbench_traces):
    pool, examples = setting
    env, ex = r1_env(pool), an_example(examples)
    episode = env.reset(ex, "r1-name")
    assert env.tools() is None and "<search>model-name: sub-query</search>" in episode.messages[0]["content"]
    [contents] = asyncio.run(env.step([episode], [render_route("mixtral-8x7b-chat", "which option is right?")]))
    recorded = routerbench_traces[routerbench_traces.prompt_id == ex["prompt_id"]].set_index("model")
    answer = recorded.loc["mistralai/mixtral-8x7b-chat", "response"]
    assert contents == [f"mixtral-8x7b-chat: {clip_tool_result(answer, env.max_tool_result_chars)}"]
    assert episode.calls[0].sub_query == "which option is right?" and episode.calls[0].model == "mixtral-8x7b-chat"
    segment = env.results_segment(contents)
    assert segment.startswith(f"\n{IM_START}user\n<information>mixtral-8x7b-chat: ") and segment.endswith(
        f"</information>{IM_END}\n{IM_START}assistant\n"
    )
    assert asyncio.run(env.step([episode], [render_answer("mixtral-8x7b-chat")])) == [None]
    assert episode.termination == "select" and episode.final_answer == answer
    score, cost = (
        recorded.loc["mistralai/mixtral-8x7b-chat", "score"],
        recorded.loc["mistralai/mixtral-8x7b-chat", "cost_usd"],
    )
    assert episode.score == score
    assert episode.reward["total"] == pytest.approx(0.7 * score + 0.3 * (1 - cost / 0.01))


def test_own_answer_is_scored_by_the_verifier(setting):
    pool, examples = setting
    env, ex = r1_env(pool), an_example(examples)
    for answer, score in ((str(ex["gold"]), 1.0), ("Z", 0.0)):
        episode = env.reset(ex, f"r1-own-{answer}")
        asyncio.run(env.step([episode], [render_answer(answer)]))
        assert episode.termination == "final_text" and episode.final_source == "direct" and not episode.calls
        assert episode.score == score == verify(ex, answer).value
        assert episode.reward["total"] == pytest.approx(0.7 * score + 0.3)  # no call: the full cost reward


def test_a_malformed_turn_voids_the_format_even_when_the_answer_is_right(setting):
    pool, examples = setting
    env, ex = r1_env(pool), an_example(examples)
    episode = env.reset(ex, "r1-bad")
    [contents] = asyncio.run(env.step([episode], ["<search>claude-v9: hi</search>"]))
    assert any("open with <think>" in c for c in contents) and any("unknown model 'claude-v9'" in c for c in contents)
    assert not episode.calls  # nothing is called for an unknown model
    asyncio.run(env.step([episode], [render_route("yi-34b-chat")]))
    asyncio.run(env.step([episode], [render_answer("yi-34b-chat")]))
    assert episode.termination == "select" and episode.n_malformed == 2
    assert episode.reward["total"] == -1.0 and episode.reward["format_penalty"] == 1.0


def test_routes_after_the_last_turn_end_the_episode_without_an_answer(setting):
    pool, examples = setting
    env, ex = r1_env(pool), an_example(examples)
    episode = env.reset(ex, "r1-limit")
    for _ in range(3):
        out = asyncio.run(env.step([episode], [render_route("mistral-7b-chat")]))
    assert out == [None] and episode.termination == "turn_limit" and len(episode.calls) == 2
    assert episode.reward["total"] == -1.0


def test_r1_needs_full_mode_and_a_known_format(setting):
    pool, _ = setting
    with pytest.raises(ValueError, match="env=router_r1"):
        RouterEnv(pool, verify, build_reward(R1_REWARD), mode="simple", action_format="router_r1")
    with pytest.raises(ValueError, match="env.format must be one of"):
        RouterEnv(pool, verify, build_reward(R1_REWARD), action_format="r1")


def test_scripts_parse_back_and_names_are_whole_tokens(setting):
    from xrouter.router.model_loader import train_bpe_tokenizer

    pool, _ = setting
    env = r1_env(pool)
    for model in pool.names:
        route, answer = env.script(model)
        assert parse_r1_turn(route, pool.names).routes[0][0] == model
        assert parse_r1_turn(answer, pool.names).answer == model
    tokenizer = train_bpe_tokenizer(["a b c"], 300, router_extra_tokens(pool, "router_r1"))
    tokens = tokenizer.convert_ids_to_tokens(
        tokenizer(render_route("claude-instant-v1"), add_special_tokens=False)["input_ids"]
    )
    assert tokens[:4] == ["<think>", "</think>", "Ċ", "<search>"] and tokens[4] == "claude-instant-v1"


def test_train_evaluate_and_serve_a_router_r1_router(tmp_path, routerbench_traces):
    """``xrouter.train router=tiny env=router_r1 reward=router_r1`` end to end (debug=fast): the router directory
    records the format, evaluate rebuilds the Router-R1 environment from it, and serve answers with it."""
    import json

    import httpx

    from xrouter.build import build_run
    from xrouter.pool.http_serving import serve_in_thread
    from xrouter.serve.service import build_server
    from xrouter.train import run_train

    out = tmp_path / "r1"
    run_train(
        compose(
            "train",
            [
                "router=tiny",
                "recipe=text_only",
                "env=router_r1",
                "reward=router_r1",
                "debug=fast",
                f"output_dir={out}",
                "baselines=none",
                "threads=1",
            ],
        )
    )
    settings = json.loads((out / "router" / "xrouter.json").read_text())
    assert settings["action_format"] == "router_r1" and settings["reward"]["name"] == "router_r1"
    summary = json.loads((out / "eval_test" / "summary.json").read_text())
    assert {"malformed_rate", "calls_per_query", "accuracy", "cost_per_query"} <= set(summary)
    run = build_run(
        compose("evaluate", ["policy=router", f"policy.path={out / 'router'}", "output_dir=unused"]),
        router_path=out / "router",
    )
    assert run.env.action_format == "router_r1" and run.env.tools() is None
    assert "<search>" in run.tokenizer.convert_ids_to_tokens(run.tokenizer("<search>")["input_ids"])
    run.close()
    app, service = build_server(
        compose("serve", [f"router_path={out / 'router'}", "auth.required=false", "inference=thread", "threads=1"])
    )
    query = routerbench_traces[routerbench_traces["split"] == "test"]["prompt"].iloc[0]
    with serve_in_thread(app) as base_url:
        reply = httpx.post(
            f"{base_url}/chat/completions",
            timeout=60,
            json={"model": "xrouter", "messages": [{"role": "user", "content": query}]},
        )
    service.generator.close()
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]  # the router's answer, or the fallback's

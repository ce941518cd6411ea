"""The environment shows a called model's real recorded answer in the configured view (env.tool_result_view)."""

from __future__ import annotations

import asyncio

import pytest

from xrouter.env.router_env import RouterEnv
from xrouter.reward import build_reward
from xrouter.router.parsing import render_call
from xrouter.verify import verify
from xrouter.verify.answer_view import final_answer


def test_the_router_reads_each_view_of_a_real_answer(routerbench_pool, routerbench_traces):
    traces = routerbench_traces[routerbench_traces.model == "gpt-3.5-turbo-1106"]
    arc = traces[traces.benchmark == "arc_challenge"].iloc[0]
    mbpp = traces[(traces.benchmark == "mbpp") & (traces.response.str.len() > 200)].iloc[0]
    examples = [
        {
            "prompt_id": arc.prompt_id,
            "prompt": arc.prompt,
            "verifier": "choice",
            "gold": arc.gold,
            "letters": "ABCD",
            "benchmark": "arc_challenge",
        },
        {
            "prompt_id": mbpp.prompt_id,
            "prompt": mbpp.prompt,
            "verifier": "code_mbpp",
            "gold": None,
            "benchmark": "mbpp",
        },
    ]
    reward = build_reward({"name": "xrouter", "K": 1.0, "lam": 1.0, "cap": 0.8, "cost_unit_usd": 0.01})
    views = {}
    for view in ("clip", "answer", "full"):
        env = RouterEnv(routerbench_pool, verify, reward, mode="full", max_tool_result_chars=16, tool_result_view=view)
        episodes = [env.reset(e, f"view-{view}-{i}") for i, e in enumerate(examples)]
        results = asyncio.run(env.step(episodes, [render_call("gpt-3-5-turbo-1106")] * 2))
        views[view] = [contents[0] for contents in results]
    letter = final_answer("choice", arc.response, examples[0])
    assert letter in "ABCD" and f"answer={letter}; {len(arc.response)} chars" in views["answer"][0]
    assert f"no answer; {len(mbpp.response)} chars" in views["answer"][1]  # a program has no value to compare
    assert len(views["clip"][1]) < len(views["full"][1]) and "chars]" in views["clip"][1]
    with pytest.raises(ValueError, match="tool_result_view"):
        RouterEnv(routerbench_pool, verify, reward, tool_result_view="summary")

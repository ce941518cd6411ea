"""The agent loop's token bookkeeping: router tokens masked 1, prompt and tool results exactly 0."""

import pytest

from xrouter.rollout.hf import SamplingConfig
from xrouter.router.chat_format import IM_END
from xrouter.router.parsing import render_call, render_select


@pytest.fixture(scope="module")
def loop(tiny_full_mode_run):  # multi-turn: call, tool result, select
    return tiny_full_mode_run.loop, tiny_full_mode_run.train


def test_mask_is_one_exactly_on_router_tokens(loop):
    agent, train = loop
    scripts = [[render_call("yi-34b-chat", None), render_select("yi-34b-chat")]]
    batch = agent.run(train[:1], 1, SamplingConfig(), scripts=scripts)
    ids, mask = batch.input_ids[0], batch.response_mask[0]
    assert len(ids) == len(mask) and batch.prompt_lengths[0] == mask.index(1)
    tok = agent.tokenizer
    router_text = tok.decode([t for t, m in zip(ids, mask) if m == 1], skip_special_tokens=False)
    assert router_text == scripts[0][0] + IM_END + scripts[0][1] + IM_END
    tool_tokens = [t for t, m in zip(ids[batch.prompt_lengths[0] :], mask[batch.prompt_lengths[0] :]) if m == 0]
    tool_text = tok.decode(tool_tokens, skip_special_tokens=False)
    recorded = batch.episodes[0].calls[0].text
    assert "<tool_response>" in tool_text and recorded[:20] in tool_text  # the tool result is there, masked 0
    assert all(m == 0 for m in mask[: batch.prompt_lengths[0]])
    assert batch.episodes[0].termination == "select"


def test_generated_turns_are_appended_as_is(loop):
    agent, train = loop
    batch = agent.run(train[:2], 2, SamplingConfig(max_new_tokens=8))
    for episode, _ids, mask in zip(batch.episodes, batch.input_ids, batch.response_mask):
        generated = sum(t.router_output_tokens for t in episode.turns)
        assert sum(mask) == generated  # every generated token and nothing else is trainable
    assert batch.n_generated_tokens == sum(sum(m) for m in batch.response_mask)

"""Both action formats through the one ``ActionFormat`` interface (parse, script, write results back, validity),
and the registry's error for a format it does not know."""

import json

import pytest

from xrouter.router.chat_format import IM_END, IM_START
from xrouter.router.formats import ACTION_FORMATS, CallRequest, resolve_format

MODELS = ["gpt-4o-mini", "qwen2-72b"]
TOOL_CALL = '{"name": "call_qwen2-72b", "arguments": {"optimized_system_prompt": "be brief", "temperature": 0.3}}'
# per format: a well-formed turn routing to qwen2-72b and the call it asks for; a malformed turn and its reason;
# a turn with the router's own answer
CASES = {
    "tool_calls": {
        "route": (f"<tool_call>\n{TOOL_CALL}\n</tool_call>", CallRequest("qwen2-72b", "be brief", 0.3)),
        "malformed": ('<tool_call>{"name": "call_claude"}</tool_call>', "unknown tool 'call_claude'"),
        "answer": "The answer is 391",
    },
    "router_r1": {
        "route": (
            "<think>hard</think>\n<search>qwen2-72b: what is 17 * 23?</search>",
            CallRequest("qwen2-72b", sub_query="what is 17 * 23?"),
        ),
        "malformed": ("<think>x</think><search>claude: hi</search>", "unknown model 'claude'"),
        "answer": "<think>easy</think>\n<answer>The answer is 391</answer>",
    },
}


def test_the_registry_holds_both_formats_by_name():
    assert list(ACTION_FORMATS) == ["tool_calls", "router_r1"] == list(CASES)
    for name, action_format in ACTION_FORMATS.items():
        assert action_format.name == name and resolve_format(name) is action_format
        assert resolve_format(action_format) is action_format


def test_an_unknown_format_names_the_known_ones():
    with pytest.raises(ValueError, match=r"env.format must be one of \['tool_calls', 'router_r1'\], not 'r1'"):
        resolve_format("r1")


@pytest.mark.parametrize("name", list(CASES))
def test_well_formed_and_malformed_turns_parse_to_format_free_actions(name):
    action_format, case = resolve_format(name), CASES[name]
    text, call = case["route"]
    routed = action_format.parse(text, MODELS)
    assert routed.calls == [call] and routed.calls[0].call_name == "call_qwen2-72b"
    assert not routed.malformed and routed.select is None and routed.answer is None
    text, reason = case["malformed"]
    bad = action_format.parse(text, MODELS)
    assert any(reason in r for r in bad.malformed) and not bad.calls and bad.answer is None
    answered = action_format.parse(case["answer"], MODELS)
    assert answered.answer == "The answer is 391" and answered.select is None and not answered.calls


@pytest.mark.parametrize("name", list(CASES))
def test_the_scripted_turns_for_a_model_route_to_it_then_return_its_answer(name):
    action_format = resolve_format(name)
    turns = action_format.script("qwen2-72b", "", "full", 3)
    first, last = (action_format.parse(t, MODELS) for t in (turns[0], turns[-1]))
    assert [c.model for c in first.calls] == ["qwen2-72b"] and not first.malformed
    assert last.select.call_name.removeprefix("call_") == "qwen2-72b" and not last.calls and not last.malformed
    assert not any(action_format.parse(t, MODELS).malformed for t in action_format.corpus_turns("qwen2-72b"))
    assert set(action_format.decision_tokens(MODELS)) <= set(action_format.extra_tokens(MODELS))


def test_only_the_tool_call_format_scripts_several_calls():
    escalation = ["gpt-4o-mini", "qwen2-72b"]
    assert len(resolve_format("tool_calls").script(escalation, None, "full", 3)) == 3
    with pytest.raises(ValueError, match="format=router_r1"):
        resolve_format("router_r1").script(escalation, None, "full", 3)


@pytest.mark.parametrize("name,wrapper", [("tool_calls", "<tool_response>"), ("router_r1", "<information>")])
def test_results_are_written_back_as_the_formats_segment(name, wrapper):
    action_format = resolve_format(name)
    contents = action_format.result_contents([("qwen2-72b", "391")], ["error: unknown model"])
    segment = action_format.results_segment(contents)
    assert segment.startswith(f"\n{IM_START}user\n{wrapper}") and segment.endswith(f"{IM_END}\n{IM_START}assistant\n")
    assert segment.count(wrapper) == 2 and "391" in segment and "error: unknown model" in segment
    if name == "tool_calls":
        assert json.loads(contents[0]) == {"name": "call_qwen2-72b", "content": "391"}
    else:
        assert contents[0] == "qwen2-72b: 391"
    assert action_format.result_contents([], [])  # a turn that did nothing is nudged


def test_router_r1_answers_by_name_and_voids_a_trajectory_with_a_malformed_turn():
    r1, tool_calls = resolve_format("router_r1"), resolve_format("tool_calls")
    by_name = r1.parse("<think>x</think><answer>qwen2-72b</answer>", MODELS)
    assert by_name.select.call_name == "qwen2-72b" and by_name.answer == "qwen2-72b"  # its own text if never routed
    assert r1.trajectory_valid(0) and not r1.trajectory_valid(1)
    assert tool_calls.trajectory_valid(0) and tool_calls.trajectory_valid(2)
    with pytest.raises(ValueError, match="env=router_r1"):
        r1.check_env("simple", 3)
    tool_calls.check_env("simple", 1)

"""The tool-call parser: valid Hermes calls, every kind of malformed call, plain answers; never raises."""

import pytest

from xrouter.router.parsing import parse_turn

MODELS = {"gpt-4", "mistral-7b"}


def test_two_calls_in_one_turn():
    text = (
        'Let me ask.\n<tool_call>\n{"name": "call_gpt-4", "arguments": {"optimized_system_prompt": "Be exact.", '
        '"temperature": 0.3}}\n</tool_call>\n<tool_call>{"name": "call_mistral-7b", "arguments": '
        '{"optimized_system_prompt": ""}}</tool_call>'
    )
    turn = parse_turn(text, MODELS)
    assert [c.model for c in turn.calls] == ["gpt-4", "mistral-7b"]
    assert turn.calls[0].arguments == {"optimized_system_prompt": "Be exact.", "temperature": 0.3}
    assert turn.calls[1].arguments["temperature"] == 0.0
    assert turn.text == "Let me ask." and not turn.malformed and not turn.is_final_answer


def test_plain_text_is_a_final_answer():
    turn = parse_turn("  The answer is B.  ", MODELS)
    assert turn.is_final_answer and turn.text == "The answer is B."
    assert not parse_turn("   ", MODELS).is_final_answer


def test_select_response():
    turn = parse_turn(
        '<tool_call>{"name": "select_response", "arguments": {"model_call_name": "call_gpt-4"}}</tool_call>', MODELS
    )
    assert turn.calls[0].name == "select_response" and turn.calls[0].arguments == {"model_call_name": "call_gpt-4"}


@pytest.mark.parametrize(
    "block,reason",
    [
        ('{"name": "call_gpt-4", "arguments": {', "not valid JSON"),
        ('["call_gpt-4"]', "must be a JSON object"),
        ('{"arguments": {}}', 'has no "name"'),
        (
            '{"name": "call_gpt-9", "arguments": {}}',
            "unknown tool 'call_gpt-9'; available: call_gpt-4, call_mistral-7b, select_response",
        ),
        ('{"name": "call_gpt-4", "arguments": {"optimized_system_prompt": 3}}', "must be a string"),
        ('{"name": "call_gpt-4", "arguments": {"temperature": "hot"}}', "temperature must be a number"),
        ('{"name": "call_gpt-4", "arguments": "not json"}', "not a JSON object"),
        ('{"name": "select_response", "arguments": {}}', 'needs "model_call_name"'),
    ],
)
def test_malformed_calls_are_reported_not_raised(block, reason):
    turn = parse_turn(f"<tool_call>{block}</tool_call>", MODELS)
    assert not turn.calls and len(turn.malformed) == 1 and reason in turn.malformed[0].reason


def test_unclosed_block_and_string_arguments():
    turn = parse_turn('ok <tool_call>{"name": "call_gpt-4"', MODELS)
    assert turn.malformed[0].reason.startswith("a <tool_call> block is not closed") and turn.text == "ok"
    turn = parse_turn('<tool_call>{"name": "call_gpt-4", "arguments": "{\\"temperature\\": 1}"}</tool_call>', MODELS)
    assert turn.calls[0].arguments["temperature"] == 1.0


@pytest.mark.parametrize(
    "garbage",
    [
        "<tool_call></tool_call>",
        "</tool_call>",
        "<tool_call><tool_call>{}</tool_call>",
        "\x00\uffff<tool_call>null</tool_call>",
        "{" * 1000,
    ],
)
def test_garbage_never_raises(garbage):
    parse_turn(garbage, MODELS)


def test_rendered_turns_parse_back_to_the_same_calls():
    from xrouter.router.parsing import TOOL_SCAFFOLD_TOKENS, parse_turn, render_call, render_select

    models = ["gpt-4o", "llama-3-8b"]
    turn = parse_turn(render_call("gpt-4o", "Be brief.", 0.3) + render_call("llama-3-8b", None), models)
    assert [(c.name, c.model, c.arguments) for c in turn.calls] == [
        ("call_gpt-4o", "gpt-4o", {"optimized_system_prompt": "Be brief.", "temperature": 0.3}),
        ("call_llama-3-8b", "llama-3-8b", {"optimized_system_prompt": "", "temperature": 0.0}),
    ]
    assert not turn.malformed and turn.text == ""
    select = parse_turn(render_select("gpt-4o"), models)
    assert [(c.name, c.arguments) for c in select.calls] == [("select_response", {"model_call_name": "call_gpt-4o"})]
    # the tiny router's whole tokens are pieces of exactly these texts
    rendered = render_call("gpt-4o", None) + render_select("gpt-4o")
    assert all(piece in rendered for piece in TOOL_SCAFFOLD_TOKENS)

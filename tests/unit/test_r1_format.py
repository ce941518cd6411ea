"""Router-R1's action format: rendering and parsing round-trip, every malformed shape named, and its reward."""

import pytest

from xrouter.router.r1_format import (
    parse_r1_turn,
    r1_system_prompt,
    render_answer,
    render_route,
    router_r1_reward,
    trajectory_format_ok,
)

MODELS = ["gpt-4o-mini", "qwen2-72b"]


def test_rendered_turns_parse_back():
    route = parse_r1_turn(render_route("qwen2-72b", "What is 17 * 23?", "easy arithmetic"), MODELS)
    assert route.valid and route.routes == [("qwen2-72b", "What is 17 * 23?")] and route.thoughts == ["easy arithmetic"]
    answer = parse_r1_turn(render_answer("391"), MODELS)
    assert answer.valid and answer.answer == "391" and not answer.routes


@pytest.mark.parametrize(
    "text,reason",
    [
        ("<search>qwen2-72b: hi</search>", "open with <think>"),
        ("<think>x</think><search>claude: hi</search>", "unknown model 'claude'"),
        ("<think>x</think><search>qwen2-72b</search>", "model-name: sub-query"),
        ("<think>x</think><search>qwen2-72b: a</search><answer>b</answer>", "not both"),
        ("<think>x</think><answer>a</answer><answer>b</answer>", "more than one"),
        ("<think>x</think><information>made up</information><answer>a</answer>", "written by the environment"),
        ("<think>x</think><answer>a", "unbalanced <answer>"),
        ("<think>x</think> just text", "no <search> and no <answer>"),
    ],
)
def test_malformed_turns_say_why(text, reason):
    turn = parse_r1_turn(text, MODELS)
    assert not turn.valid and any(reason in m for m in turn.malformed), turn.malformed


def test_trajectory_format_routes_then_answers():
    assert trajectory_format_ok([render_route("gpt-4o-mini", "q"), render_answer("a")], MODELS)
    assert trajectory_format_ok([render_answer("a")], MODELS)  # answering directly is a valid trajectory
    assert not trajectory_format_ok([render_route("gpt-4o-mini", "q")], MODELS)  # never answered
    assert not trajectory_format_ok([render_answer("a"), render_answer("b")], MODELS)
    assert not trajectory_format_ok([], MODELS)


def test_reward_is_hierarchical_format_then_outcome_and_cost():
    bad = router_r1_reward(1.0, 0.0, valid_final=False)
    assert bad.total == -1.0 and bad.format_penalty == 1.0
    good = router_r1_reward(1.0, 0.005, alpha=0.3, cost_scale=0.01)
    assert good.total == pytest.approx(0.7 + 0.3 * 0.5)
    assert router_r1_reward(0.0, 1.0, alpha=0.3, cost_scale=0.01).total == pytest.approx(0.0)


def test_system_prompt_lists_the_pool_with_prices():
    text = r1_system_prompt({"gpt-4o-mini": (0.15, 0.6), "qwen2-72b": (0.9, 0.9)})
    assert "<search>model-name: sub-query</search>" in text and "gpt-4o-mini: $0.15/$0.6" in text

"""The answer view: a called model's final answer as the benchmark's parser reads it, normalised so that equal
answers look equal, with whether it parsed and the response's length; and how it reaches the router."""

from __future__ import annotations

import pytest

from xrouter.policies.agreement import agreeing, plurality
from xrouter.verify.answer_view import final_answer, render_answer_view

GSM_A = (
    "Step by step... so she earns 18 dollars.\n"
    '```json\n{"reasoning": "16 - 3 - 4 = 9 eggs, 9 * $2", "answer": "$18"}\n```'
)
GSM_B = "9 eggs are left. 9 x 2 = 18.00\n#### 18"
MATH_A = '{"reasoning": "...", "answer": "\\\\dfrac{1}{2}"}'
MATH_B = "Therefore the probability is $\\boxed{\\frac{1}{2}}$."


@pytest.mark.parametrize(
    "verifier, response, expected",
    [
        ("numeric", GSM_A, "18"),
        ("numeric", GSM_B, "18"),
        ("numeric", '{"answer": "3.50"}', "3.5"),
        ("numeric", "I cannot tell.", None),
        ("numeric", "", None),
        ("math", MATH_A, "\\frac{1}{2}"),
        ("math", MATH_B, "\\frac{1}{2}"),
        ("math", '{"answer": "$42.0$"}', "42"),
        ("math", '{"answer": "90^\\\\circ"}', "90"),
        ("math", '{"answer": "\\\\text{(C)}"}', "(C)"),
        ("math", "no final answer here", None),
        ("choice", "The answer is (B).", "B"),
        ("choice", "**C**", "C"),
        ("crux", '{"answer": "[(4,1), (4, 1)]"}', "[(4, 1), (4, 1)]"),
        ("crux", '{"answer": "\'ab\'"}', "'ab'"),
        ("code_mbpp", "def f(x):\n    return x", None),
    ],
)
def test_final_answers_are_normalised_so_equal_answers_look_equal(verifier, response, expected):
    assert final_answer(verifier, response, {"letters": "ABCD"}) == expected


def test_the_view_says_the_answer_whether_it_parsed_and_how_long_the_response_was():
    assert render_answer_view("numeric", GSM_B) == f"answer=18; {len(GSM_B)} chars"
    assert render_answer_view("numeric", "no idea") == "no answer; 7 chars"
    long = '{"answer": "' + "x" * 100 + '"}'
    assert render_answer_view("exact", long, max_chars=10).startswith("answer=xxxxxxxxxx...;")


def test_agreement_needs_m_equal_parsed_answers_and_falls_back_to_the_plurality():
    assert agreeing(["18", "18", "20"], 2) == 0 and agreeing(["20", "18", "18"], 2) == 1
    assert agreeing(["18", "20"], 2) is None and agreeing([None, None], 2) is None  # unparsed answers never agree
    assert agreeing(["18", "18", "18"], 3) == 0 and agreeing(["18", "18", "20"], 3) is None
    assert plurality(["18", "20"], order=[1, 0]) == 1  # a tie goes to the more accurate model
    assert plurality([None, "20", "20"], order=[0, 1, 2]) == 1
    assert plurality([None, None], order=[1, 0]) == 1


def test_a_non_finite_number_is_kept_as_written():
    """Real ZeroEval answers include "\\infty"-like words that float() reads as inf: no OverflowError."""
    assert final_answer("math", "The answer is $\\boxed{inf}$") == "inf"
    assert final_answer("math", "The answer is $\\boxed{1e999}$") == "inf"

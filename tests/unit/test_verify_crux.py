"""The crux verifier (CRUXEval-O output prediction) and the JSON-answer extractor, from the task's rules."""

import pytest

from xrouter.verify import extract_json_answer, verify
from xrouter.verify.crux import crux_equal, extract_crux_answer


def crux(gold, response):
    return verify({"verifier": "crux", "gold": gold}, response).value


@pytest.mark.parametrize(
    "gold, response, expected",
    [
        ("[(4, 1), (4, 1)]", '{"reasoning": "r", "answer": "[(4, 1), (4, 1)]"}', 1),
        ("[(4, 1), (4, 1)]", '{"reasoning": "r", "answer": "[(4,1),(4,1)]"}', 1),  # whitespace inside a literal
        ("[(4, 1), (4, 1)]", '{"reasoning": "r", "answer": "[[4, 1], [4, 1]]"}', 0),  # lists are not tuples
        ("'abc'", '{"reasoning": "r", "answer": "\\"abc\\""}', 1),  # either quote
        ("'abc'", '{"reasoning": "r", "answer": "abc"}', 1),  # a JSON string is the string
        ("'ff'", '```json\n{\n    "reasoning": "The function returns the hex digits.",\n    "answer": "ff"\n}\n```', 1),
        ("'     7     '", '{"reasoning": "centred in 11", "answer": "     7     "}', 1),  # its spaces are kept
        ("'     7     '", '{"reasoning": "centred", "answer": "7"}', 0),  # ... and count
        ("'           '", '{"reasoning": "7 spaces", "answer": "       "}', 0),  # 7 spaces are not 11
        ("'641524'", '{"reasoning": "digits joined", "answer": "641524"}', 1),  # number-like string
        ("641524", '{"reasoning": "an int", "answer": "641524"}', 1),  # ... or the number
        ("'True'", '{"reasoning": "str(True)", "answer": "True"}', 1),
        ("True", '{"reasoning": "bool", "answer": "\'True\'"}', 0),  # the string is not the bool
        ("5", '{"reasoning": "r", "answer": "\'5\'"}', 0),  # a quoted 5 is not the int
        ("{'a': 1, 'b': [2]}", '```json\n{"reasoning": "r", "answer": "{\'b\': [2], \'a\': 1}"}\n```', 1),
        ("True", '{"answer": "True", "reasoning": "x"}', 1),
        ("'a  b'", '{"reasoning": "r", "answer": "\'a b\'"}', 0),  # string contents differ
        ("[1, 2]", '{"reasoning": "r", "answer": "```python\\n[1, 2]\\n```"}', 1),  # fenced inside the field
        ("'xx'", '{"reasoning": "r", "answer": "assert f(\'x\') == \'xx\'"}', 1),  # the assert form
        ("[1, 2]", "Running the function step by step gives:\n```python\n[1, 2]\n```", 1),  # no JSON: last fence
        ("[1, 2]", "The output is [1, 2] I think.", 0),  # prose only
        ("[1, 2]", "", 0),
        ("<function f>", '{"reasoning": "r", "answer": "<function   f>"}', 1),  # non-literal: normalised text
        ("[1, 2]", '{"reasoning": "r", "answer": [1, 2]}', 1),  # a JSON list, not a string
    ],
)
def test_crux_rules(gold, response, expected):
    assert crux(gold, response) == expected


def test_crux_equal_says_how_it_decided():
    assert crux_equal("(1, 2)", "(1,2)") == (True, "literal")
    assert crux_equal("f(1)", "f( 1 )") == (False, "text")
    assert crux_equal("a   b", "a b") == (True, "text")


def test_missing_answer_and_bad_gold_score_zero_without_raising():
    assert verify({"verifier": "crux", "gold": None}, "x").reason.startswith("bad example")
    assert extract_crux_answer(None) is None
    assert crux("[1]", '{"reasoning": "truncated answer": "[1') == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ('```json\n{\n  "reasoning": "a {b} c",\n  "answer": "-15"\n}\n```', "-15"),
        ('{"reasoning": "x", "answer": 42}', "42"),
        ("{'reasoning': 'x', 'answer': '\\\\frac{1}{2}'}", "\\frac{1}{2}"),  # Python-style dict
        ('{"reasoning": "cut off ... "answer": "7"', "7"),  # broken JSON: regex
        ('"answer": 12 }', "12"),  # unquoted value
        ("no json here, the answer is 3", None),
        ('{"reasoning": "only reasoning"}', None),
    ],
)
def test_extract_json_answer(text, expected):
    assert extract_json_answer(text) == expected

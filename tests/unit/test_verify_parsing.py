"""Hand cases for every answer extractor and the verifier registry."""

from __future__ import annotations

import json

import pytest

from xrouter.verify import (
    Score,
    exact_match,
    extract_choice,
    extract_code,
    extract_math_answer,
    extract_number,
    f1_score,
    get_verifier,
    known_verifiers,
    normalize_answer,
    verify,
    verify_many,
    verify_math_batch,
)

# ----------------------------------------------------------------------------- choice
ABCD, TEN = "ABCD", "ABCDEFGHIJ"


@pytest.mark.parametrize(
    "text, letters, expected",
    [
        ("B", ABCD, "B"),
        ("(B)", ABCD, "B"),
        ("**B**", ABCD, "B"),
        ("b", ABCD, "B"),
        ("Answer: B", ABCD, "B"),
        ("B.", ABCD, "B"),
        ("B) east", ABCD, "B"),
        ("C. blue, because the sky scatters short wavelengths", ABCD, "C"),
        ("the correct option is C", ABCD, "C"),
        ("The answer is (C) because of friction.", ABCD, "C"),
        ("Answer: **D**", ABCD, "D"),
        ("Let me think... so the final answer is: A", ABCD, "A"),
        ("Option C is correct.", ABCD, "C"),
        ("\\boxed{C}", ABCD, "C"),
        ("After comparing (A) and (B), I pick (B).", ABCD, "B"),
        ("The best choice is C, since it balances the equation.", ABCD, "C"),
        ("It is D.", ABCD, "D"),
        ("A is correct", ABCD, "A"),
        ("Final answer: I", TEN, "I"),
        ("J", TEN, "J"),
        ("I think the answer is B.", TEN, "B"),
        # false positives: English "A" / "I", and no letter at all
        ("A dog is a mammal, so it breathes air.", ABCD, None),
        ("I think it's fine", TEN, None),
        ("I believe so", TEN, None),
        ("Answer: I think B", TEN, None),
        ("In summary A lot of things happen", ABCD, None),
        ("The answer is A dog", ABCD, None),
        ("There is no good option here.", ABCD, None),
        ("(A) is odd and (C) is even", ABCD, "A"),  # leading "(A)" reads as the choice
        ("Both (A) and (C) look plausible", ABCD, None),  # several parenthesised letters: ambiguous
        ("", ABCD, None),
        (None, ABCD, None),
        ("E", ABCD, None),  # not an allowed letter
    ],
)
def test_extract_choice(text, letters, expected):
    assert extract_choice(text, letters) == expected


def test_extract_choice_maps_restated_option_text():
    options = ["London", "Paris", "Rome", "Berlin"]
    assert extract_choice("Paris", ABCD, options) == "B"
    assert extract_choice("I'd say it's Rome.", ABCD, options) == "C"
    assert extract_choice("A chart", ABCD, ["A table", "A chart", "A map", "A graph"]) == "B"
    # "1" is part of "10": the longer restated option wins; two distinct options -> ambiguous
    assert extract_choice("The answer is 10", ABCD, ["1", "10", "100", "5"]) == "B"
    assert extract_choice("London or Paris", ABCD, options) is None
    assert extract_choice("A dog", ABCD, options) is None


def test_choice_verifier_gold_letter_or_index():
    assert verify({"verifier": "choice", "gold": "C"}, "The answer is (C).").value == 1.0
    assert verify({"verifier": "choice", "gold": "2"}, "C").value == 1.0  # MMLU 0-based index
    assert verify({"verifier": "choice", "gold": "C"}, "B").value == 0.0
    got = verify({"verifier": "choice", "gold": "B", "choices": json.dumps(["x", "yes", "z", "w"])}, "yes")
    assert got.value == 1.0
    assert verify({"verifier": "choice", "gold": "Z"}, "B").reason.startswith("bad example")


# ----------------------------------------------------------------------------- numeric
@pytest.mark.parametrize(
    "text, expected",
    [
        ("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", 18),
        ("#### 1,234", 1234),
        ("The total is $1,200.50.", 1200.5),
        ("So the answer is 45%.", 45),
        ("The answer is: 7 apples, not 8.", 7),
        ("First 3, then 5, so \\boxed{12} cookies in all, checked 3 times", 12),
        ("\\boxed{\\$36}", 36),
        ("\\boxed{\\frac{3}{4}}", 0.75),
        ("It drops to -5 degrees", -5),
        ("It takes 3/4 of an hour", 0.75),
        ("He ran 10 km in 2.5 hours, i.e. 4 km/h", 4),
        ("1, 2, 3 and finally 1,000,000", 1_000_000),
        ("no digits here", None),
        ("", None),
    ],
)
def test_extract_number(text, expected):
    got = extract_number(text)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_numeric_verifier():
    gold = "Janet sells 9 eggs.\n#### 1,800"
    assert verify({"verifier": "numeric", "gold": gold}, "She earns $1,800.00 per year.").value == 1.0
    assert verify({"verifier": "numeric", "gold": gold}, "#### 1800.0000001").value == 1.0
    assert verify({"verifier": "numeric", "gold": gold}, "The answer is 1801").value == 0.0
    assert verify({"verifier": "numeric", "gold": "42"}, "forty-two").reason == "no number found"
    assert verify({"verifier": "numeric", "gold": "no number"}, "1").reason.startswith("bad example")


# ----------------------------------------------------------------------------- text
def test_normalize_exact_f1():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert exact_match("the Eiffel tower.", "Eiffel Tower") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    assert f1_score("Eiffel", "Eiffel Tower") == pytest.approx(2 / 3)
    assert f1_score("a", "the") == 1.0  # both normalise to nothing
    assert f1_score("Paris", "London") == 0.0
    golds = json.dumps(["Barack Obama", "Obama"])
    assert verify({"verifier": "exact", "gold": golds}, "obama").value == 1.0
    assert verify({"verifier": "f1", "gold": golds}, "President Obama").value == pytest.approx(2 / 3)
    assert verify({"verifier": "exact", "gold": "[]"}, "x").reason.startswith("bad example")


# ----------------------------------------------------------------------------- code extraction
def test_extract_code():
    fenced = "Sure!\n```python\ndef g(): pass\n```\n```python\ndef f(x):\n    return x\n```\n```\nf(1)\n```"
    assert extract_code(fenced, "f") == "def f(x):\n    return x\n"
    assert extract_code("Here is the code:\ndef f():\n    return 1\n\nThis works.") == "def f():\n    return 1\n"
    assert extract_code("R = 3\ndef f(): return R") == "R = 3\ndef f(): return R\n"
    assert extract_code("    return x + 1") == "    return x + 1\n"  # a body completion keeps its indent
    assert extract_code("```python\ndef f():\n    return 2") == "def f():\n    return 2\n"  # unclosed fence
    assert extract_code(None) == ""


# ----------------------------------------------------------------------------- math
def test_extract_math_answer():
    assert extract_math_answer("so $x=2$ and \\boxed{1} then \\boxed{\\frac{1}{2}}.") == "\\frac{1}{2}"
    assert extract_math_answer("\\boxed{\\{1, 2\\}}") == "\\{1, 2\\}"
    assert extract_math_answer("Thus the answer is $\\sqrt{2}$.") == "$\\sqrt{2}$"
    assert extract_math_answer("no final answer") is None


def test_math_equivalences():
    pairs = [  # (gold, answer, expected)
        ("\\frac{1}{2}", "0.5", 1),
        ("0.5", "The answer is $\\frac{1}{2}$.", 1),
        ("\\frac{1}{2}", "We get \\boxed{\\dfrac{2}{4}}", 1),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\boxed{(3, \\pi/2)}", 1),
        ("x^2+2x+1", "$(x+1)^2$", 1),
        ("2\\sqrt{2}", "\\boxed{\\sqrt{8}}", 1),
        ("\\boxed{7}", "first \\boxed{3}, finally \\boxed{7}", 1),
        ("\\frac{1}{2}", "\\boxed{\\frac{1}{3}}", 0),
        ("3", "I am not sure.", 0),
    ]
    scores = verify_math_batch([g for g, _, _ in pairs], [a for _, a, _ in pairs], timeout_s=10)
    assert [s.value for s in scores] == [float(e) for _, _, e in pairs], scores
    assert scores[-1].reason == "no answer found"


# ----------------------------------------------------------------------------- registry
def test_registry_and_bad_examples():
    assert set(known_verifiers()) >= {"math", "numeric", "choice", "exact", "f1", "code_mbpp", "code_humaneval"}
    with pytest.raises(KeyError, match="known verifiers: .*choice"):
        get_verifier("nope")
    assert verify({"verifier": "nope", "gold": "1"}, "1").reason.startswith("bad example: unknown verifier")
    assert verify({"gold": "1"}, "1").reason == "bad example: missing 'verifier' name"
    assert verify({"verifier": "numeric"}, "1").reason == "bad example: missing 'gold'"
    assert verify({"verifier": "math", "gold": None}, "1").reason == "bad example: gold is None"
    assert verify("not a mapping", "1").reason.startswith("bad example")  # type: ignore[arg-type]
    assert verify({"verifier": "code_mbpp", "gold": "{}"}, "x").reason.startswith("bad example")
    assert verify({"verifier": "numeric", "gold": "5"}, None).value == 0.0
    with pytest.raises(ValueError):
        Score(1.5, "too big")
    many = verify_many(
        [{"verifier": "numeric", "gold": "5"}, {"verifier": "math", "gold": "5"}, {"verifier": "f1", "gold": "x"}],
        ["5", "\\boxed{5}", "y"],
    )
    assert [s.value for s in many] == [1.0, 1.0, 0.0]


def test_digit_labels_are_read_literally_and_code_llama_tags_are_code():
    from xrouter.verify.choice import gold_letter
    from xrouter.verify.code import extract_code

    assert gold_letter("1", "1234") == "1" and gold_letter("1", "ABCD") == "B" and gold_letter("B", "ABCD") == "B"
    assert extract_code("Sure. [PYTHON]\ndef f(x):\n    return x\n[/PYTHON]") == "def f(x):\n    return x\n"

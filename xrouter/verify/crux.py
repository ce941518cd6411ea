"""CRUXEval-O answers (predict a Python function's output): literal equality, else normalised text.

The gold is a Python literal (``[(4, 1), (4, 1)]``, ``'abc'``, ``True``).  The answer is taken
from the response's JSON ``answer`` field (ZeroEval's format), else from the last fenced code
block, else from the last ``answer is X`` / ``Answer: X`` line, else the whole response.  An
``assert f(...) == X`` line or a ``f(...) == X`` form is reduced to ``X``.  Correct iff
``ast.literal_eval`` of answer and gold are equal (Python's ``==``: ``(1, 2)`` is not ``[1, 2]``,
``"a"`` written with either quote is ``'a'``; ``1 == 1.0 == True`` as in Python); when either is not
a literal, iff their texts are equal after collapsing whitespace (surrounding backquotes and a code
fence dropped).

A JSON ``answer`` string is also the string it holds: ``"answer": "ff"`` is the gold ``'ff'`` and
``"answer": "     7     "`` is ``'     7     '`` (its spaces kept), as ZeroEval's own scorer
(``crux_eval.py``) quotes a bare string before comparing.  Where the two differ we keep the literal
reading: a number-like or ``True``-like JSON string (``"641524"``, ``"True"``) equals the gold *string*
``'641524'`` / ``'True'`` (it is that string; ZeroEval leaves it unquoted and scores it 0), and a JSON list
is compared as a Python value (``[1, 2]`` is not the gold tuple ``(1, 2)``, as in ZeroEval).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from xrouter.verify.base import Score, require_gold
from xrouter.verify.json_answer import MISSING_ANSWER, extract_json_answer, json_answer_value

_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*\s*\n?(.*?)```", re.DOTALL)
_ANSWER_IS = re.compile(r"(?i:answer)\s*(?:is|:)\s*:?\s*(.+)")
_ASSERT = re.compile(r"^\s*(?:assert\s+)?[\w.]+\(.*\)\s*==\s*(.+?)\s*$", re.DOTALL)
_MISSING = object()


def _strip_call(text: str) -> str:
    """``assert f(x) == [1]`` -> ``[1]`` (only when the left side is a call)."""
    match = _ASSERT.match(text)
    return match.group(1) if match else text


def extract_crux_answer(text: str | None) -> str | None:
    """The predicted output as text (see the module docstring), or None for an empty response."""
    if not text or not text.strip():
        return None
    answer = extract_json_answer(text)
    if answer is None:
        fences = [f.strip() for f in _FENCE.findall(text) if f.strip()]
        if fences:
            answer = fences[-1]
        else:
            stated = _ANSWER_IS.findall(text)
            answer = stated[-1] if stated else text
    answer = answer.strip()
    fenced = _FENCE.fullmatch(answer)
    if fenced:
        answer = fenced.group(1).strip()
    if len(answer) >= 2 and answer[0] == answer[-1] == "`":
        answer = answer[1:-1].strip()
    return _strip_call(answer).strip()


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except Exception:  # noqa: BLE001 (SyntaxError, unhashable set members, deep nesting: not a literal)
        return _MISSING


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 (an exotic literal that cannot be compared is not equal)
        return False


def _normalised(text: str) -> str:
    return " ".join(text.split())


def crux_equal(answer: str, gold: str) -> tuple[bool, str]:
    """(correct?, how decided) for an extracted answer and the gold literal text."""
    gold_value, answer_value = _literal(gold), _literal(answer)
    if gold_value is not _MISSING and answer_value is not _MISSING:
        return _equal(answer_value, gold_value), "literal"
    return _normalised(answer) == _normalised(gold), "text"


def json_string_equal(value: Any, gold: str) -> bool:
    """Whether a JSON ``answer`` value is the gold: a string field that is exactly the gold string's contents
    (spaces included), or a non-string field (list, number, bool) equal to the gold as a Python value."""
    gold_value = _literal(gold)
    if gold_value is _MISSING:
        return False
    if isinstance(value, str):
        return isinstance(gold_value, str) and value == gold_value
    return value is not None and _equal(value, gold_value)


def verify_crux(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "crux": 1 iff the response's predicted output equals the gold literal."""
    gold = require_gold(example)
    answer = extract_crux_answer(answer_text)
    if answer is None:
        return Score(0.0, "no answer found")
    ok, how = crux_equal(answer, gold)
    if not ok:
        field = json_answer_value(answer_text)
        if field is not MISSING_ANSWER and json_string_equal(field, gold):
            ok, how = True, "json string"
    return Score(1.0 if ok else 0.0, f"{how} {'match' if ok else 'mismatch'}")

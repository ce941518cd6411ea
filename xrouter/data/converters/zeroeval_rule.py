"""ZeroEval's own scoring rule, re-implemented to audit ours against its published accuracies.

ZeroEval (``src/evaluation/math_eval.py`` and ``gsm_eval.py`` at the data's commit) reads the answer
from the first balanced ``{...}`` of the response if it parses as JSON with an ``answer`` key (newlines
removed first), else from a ``"answer": "..."`` / ``"answer": value`` regex; for Llama-3.1 models
only, else from ``\\boxed{word}``.  An item without an answer is wrong.  Then both answer and gold
lose ``$`` and ``,``; a text with ``/`` that evaluates as arithmetic becomes its float; and the item
is correct iff the FIRST number (``-?\\d+(\\.\\d+)?``) of each is equal as a float.  So
``\\frac{3}{5}`` matches gold ``\\frac{3}{4}`` (both read 3), and ``0.5`` does not match ``\\frac12``.
This module restates that rule for the audit; it is not ZeroEval's code.
"""

from __future__ import annotations

import ast
import json
import operator
import re

_FIRST_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_LLAMA31_BOXED = re.compile(r"\\boxed{([\w\d]+)}")
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _first_object(text: str) -> dict | None:
    """ZeroEval's first complete JSON object: the first balanced braces, parsed once (no retry)."""
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                try:
                    value = json.loads(text[start : i + 1].replace("\n", ""))
                except ValueError:
                    return None
                return value if isinstance(value, dict) else None
    return None


def _regex_answer(text: str) -> str | None:
    for pattern, flags in (
        (r'"answer"\s*:\s*"([^"]*?)"', 0),
        (r'"answer"\s*:\s*"(.*?)"', re.DOTALL),
        (r'"answer"\s*:\s*([^,\s]*)', 0),
        (r"answer\s*:\s*([^,\s]*)", 0),
    ):
        match = re.search(pattern, text, flags)
        if match:
            return match.group(1)
    return None


def zeroeval_answer(response: str, model: str) -> str | None:
    """The answer ZeroEval's scripts read from a response, or None ("No answer")."""
    parsed = _first_object(response)
    if parsed is not None and "answer" in parsed:
        return str(parsed["answer"])
    answer = _regex_answer(response)
    if answer is not None:
        return answer
    if "Llama-3.1" in model and "boxed" in response:
        boxed = _LLAMA31_BOXED.search(response)
        if boxed:
            return boxed.group(1)
    return None


def _arithmetic(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _arithmetic(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_arithmetic(node.left), _arithmetic(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_arithmetic(node.operand))
    raise ValueError("not plain arithmetic")


def _sanitise(text: str) -> str:
    text = text.replace("$", "").strip().replace(",", "")
    if "/" in text:
        try:
            return str(float(_arithmetic(ast.parse(text, mode="eval"))))
        except (ValueError, SyntaxError, ZeroDivisionError, TypeError, OverflowError, RecursionError):
            pass
    return text


def zeroeval_score(response: str | None, gold: str, model: str) -> tuple[float, bool]:
    """(ZeroEval's 0/1 score, whether it found an answer) for one response."""
    answer = zeroeval_answer(response or "", model)
    if answer is None:
        return 0.0, False
    said, truth = _FIRST_NUMBER.search(_sanitise(answer)), _FIRST_NUMBER.search(_sanitise(gold.replace("#", "")))
    return float(bool(said and truth and float(said.group()) == float(truth.group()))), True

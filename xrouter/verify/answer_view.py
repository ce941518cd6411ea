"""A called model's final answer as the benchmark's own parser reads it, normalised so that equal answers look equal.

``final_answer(verifier, response)`` -> the answer text, or None when the response has none that parses:

* ``numeric`` (GSM8K): the JSON ``answer`` field's number, else the response's (``verify.numeric``), written
  canonically (``18``, ``3.5``, ``-0.25``): ``18.00``, ``$18`` and ``18 dollars`` look the same;
* ``math``: the JSON ``answer`` field, else the last ``\\boxed{}`` / "answer is" span (``verify.math``), with
  ``$``, spaces, ``\\left``/``\\right``, ``\\text{}``/``\\mathrm{}`` wrappers, ``\\dfrac``/``\\tfrac`` and ``^\\circ``
  normalised away; a plain number is written canonically;
* ``choice``: the option letter (``verify.choice``);
* ``crux``: the predicted literal (``verify.crux``), re-written by ``repr`` when it is a Python literal;
* ``exact`` / ``f1``: the normalised answer text; code verifiers: None (an answer is a program, not a value).

``render_answer_view`` is what reaches a router in ``env.tool_result_view=answer``: the answer, whether it
parsed, and the response's length (a long, hedging answer is a signal too).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from typing import Any

_WRAPPERS = re.compile(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}")
_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?=[()\[\]|.\\])")


def _number_text(value: float) -> str:
    if not math.isfinite(value):  # "inf", "nan", "1e999": a word, not a number to round
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _normalise_math(text: str) -> str:
    out = text.strip().strip("$").strip()
    for _ in range(3):
        out = _WRAPPERS.sub(r"\1", out)
    out = _LEFT_RIGHT.sub("", out)
    out = out.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("^\\circ", "").replace("^{\\circ}", "")
    out = out.replace("\\!", "").replace("\\,", "").replace("\\ ", "")
    out = re.sub(r"\s+", "", out).rstrip(".")
    try:
        return _number_text(float(out.replace(",", "")))
    except ValueError:
        return out


def final_answer(verifier: str | None, response: str | None, example: Mapping[str, Any] | None = None) -> str | None:
    """The normalised final answer of ``response`` under ``verifier`` (see the module docstring), or None."""
    if not response or not response.strip():
        return None
    from xrouter.verify.json_answer import extract_json_answer

    field = extract_json_answer(response)
    if verifier == "numeric":
        from xrouter.verify.numeric import extract_number

        value = extract_number(field) if field else None
        value = extract_number(response) if value is None else value
        return None if value is None else _number_text(value)
    if verifier == "math":
        from xrouter.verify.math import extract_math_answer

        text = field or extract_math_answer(response)
        return _normalise_math(text) if text else None
    if verifier == "choice":
        from xrouter.verify.choice import extract_choice

        letters = str((example or {}).get("letters") or "ABCD")
        return extract_choice(response, letters)
    if verifier == "crux":
        from xrouter.verify.crux import extract_crux_answer

        text = extract_crux_answer(response)
        if text is None:
            return None
        try:
            return repr(ast.literal_eval(text))
        except Exception:  # noqa: BLE001 (not a literal: its text, whitespace collapsed)
            return " ".join(text.split())
    if verifier in ("exact", "f1"):
        from xrouter.verify.text import normalize_answer

        text = field or response
        return normalize_answer(text) or None
    return None


def render_answer_view(
    verifier: str | None, response: str | None, example: Mapping[str, Any] | None = None, max_chars: int = 48
) -> str:
    """``answer=<a>`` (clipped to ``max_chars``) or ``no answer``, then the response's length in characters."""
    answer = final_answer(verifier, response, example)
    length = len(response or "")
    if answer is None:
        return f"no answer; {length} chars"
    if len(answer) > max_chars:
        answer = answer[:max_chars] + "..."
    return f"answer={answer}; {length} chars"

"""Numeric answers (GSM8K-style): compare the final number of a response with the gold number."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from xrouter.verify.base import BadExample, Score, require_gold

# 1,234,567.89 | 1234.5 | .5 | 3/4 (a simple fraction) ; an optional sign
_NUM = r"[-\u2212]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?"
_NUMBER = re.compile(rf"(?<![\w.]){_NUM}")
_HASHES = re.compile(r"####\s*(.+)")
_ANSWER_IS = re.compile(r"(?i:answer)\s*(?:is|:|=)\s*(?:[:=])?\s*(.{0,80})")
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}")


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for i in range(brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[brace + 1 : i]
    return None


def _clean(text: str) -> str:
    """LaTeX and currency noise removed so that the number regex sees plain digits."""
    text = _FRAC.sub(r"\1/\2", text)
    text = re.sub(r"\\(?:text|mathrm|mbox)\s*\{([^{}]*)\}", r" \1 ", text)
    text = text.replace("\\$", "$").replace("\\%", "%").replace("\\!", "").replace("{,}", ",")
    text = text.replace("\\left", "").replace("\\right", "")
    return re.sub(r"(?<=\d) (?=\d{3}\b)", ",", text)  # thin-space thousands: "1 000" (rare)


def parse_number(token: str) -> float | None:
    """``"1,234.5"`` -> 1234.5, ``"-3/4"`` -> -0.75; None when it is not a number."""
    token = token.strip().replace(",", "").replace("\u2212", "-").replace(" ", "")
    try:
        if "/" in token:
            num, den = token.split("/", 1)
            return float(num) / float(den) if float(den) != 0 else None
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _first_number(text: str) -> float | None:
    found = _NUMBER.search(_clean(text))
    return parse_number(found.group(0)) if found else None


def _last_number(text: str) -> float | None:
    found = _NUMBER.findall(_clean(text))
    return parse_number(found[-1]) if found else None


def extract_number(text: str | None) -> float | None:
    """The final numeric answer of a response, or None.

    Preference: the last "#### n"; the last "answer is n" / "Answer: n"; the last ``\\boxed{n}``;
    else the last number in the text.  Thousands commas, ``$``, units and ``%`` are ignored
    (``"$1,200.50"`` -> 1200.5, ``"45%"`` -> 45); ``\\frac{a}{b}`` and ``a/b`` become a/b.
    """
    if not text:
        return None
    hashes = _HASHES.findall(text)
    if hashes and (value := _first_number(hashes[-1])) is not None:
        return value
    stated = _ANSWER_IS.findall(text)
    if stated and (value := _first_number(stated[-1])) is not None:
        return value
    boxed = _last_boxed(text)
    if boxed is not None and (value := _first_number(boxed)) is not None:
        return value
    return _last_number(text)


def gold_number(gold: str) -> float:
    """GSM8K gold: the number after ``####`` (or the whole string when there is none)."""
    if "####" in gold:
        value = _first_number(gold.rsplit("####", 1)[1])
    else:
        value = _last_number(gold)
    if value is None:
        raise BadExample(f"gold {gold[-60:]!r} holds no number")
    return value


def numbers_equal(a: float, b: float, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def verify_numeric(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "numeric": 1 if the response's final number equals the gold number."""
    gold = gold_number(require_gold(example))
    said = extract_number(answer_text)
    if said is None:
        return Score(0.0, "no number found")
    if numbers_equal(said, gold):
        return Score(1.0, "match")
    return Score(0.0, f"{said:g} != {gold:g}")

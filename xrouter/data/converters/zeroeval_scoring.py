"""Our scores of ZeroEval responses: the task's verifier on the answer the ZeroEval prompt asks for.

ZeroEval's prompt asks for ``{"reasoning": ..., "answer": ...}``.  For ``math`` the JSON ``answer``
field is checked with math-verify as ``\\boxed{<answer>}``; when the response has no such field, or
math-verify finds nothing in it, the whole response is checked (its last ``\\boxed{}``, else an
"answer is" line, else its tail).  For ``numeric`` the final number of the field is compared
(``xrouter.verify.numeric``), else the response's ("####", "answer is", ``\\boxed{}``, last
number).  Any other verifier (``crux``, ``exact``, ...) gets the whole response and does its own
extraction.  math-verify runs in its worker pool, in parallel (``XROUTER_MATH_WORKERS``).
"""

from __future__ import annotations

from collections.abc import Sequence

from xrouter.verify.base import Score
from xrouter.verify.json_answer import extract_json_answer
from xrouter.verify.math import verify_math_batch
from xrouter.verify.registry import verify, verify_many


def score_rows(
    golds: Sequence[str], responses: Sequence[str | None], verifier: str, math_timeout_s: float = 5.0
) -> list[tuple[Score, str | None]]:
    """(score, the answer text we read) for each (gold, response) pair under ``verifier``."""
    answers = [extract_json_answer(r) for r in responses]
    if verifier == "math":
        firsts = [f"\\boxed{{{a}}}" if a else (r or "") for a, r in zip(answers, responses)]
        scores = verify_math_batch(list(golds), firsts, timeout_s=math_timeout_s)
        retry = [i for i, (s, a) in enumerate(zip(scores, answers)) if a and s.reason == "no answer found"]
        if retry:
            again = verify_math_batch([golds[i] for i in retry], [responses[i] or "" for i in retry], math_timeout_s)
            for i, s in zip(retry, again):
                scores[i] = Score(s.value, f"{s.reason} (whole response: the answer field did not parse)")
        return list(zip(scores, answers))
    if verifier == "numeric":
        return [
            (verify({"verifier": "numeric", "gold": g}, a if a else (r or "")), a)
            for g, a, r in zip(golds, answers, responses)
        ]
    scores = verify_many([{"verifier": verifier, "gold": g} for g in golds], list(responses))
    return list(zip(scores, answers))

"""Short free-text answers: SQuAD-style exact match and token F1 (max over acceptable golds)."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping
from typing import Any

from xrouter.verify.base import BadExample, Score, maybe_json

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation, drop articles (a/an/the), collapse whitespace (SQuAD v1.1)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """Token-level F1 between the normalised prediction and gold (1.0 when both are empty)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(gold: Any) -> list[str]:
    """Acceptable answers: a JSON list (or a list) of strings, or a single string."""
    if gold is None:
        raise BadExample("gold is None")
    gold = maybe_json(gold)
    answers = [str(g) for g in gold] if isinstance(gold, (list, tuple)) else [str(gold)]
    answers = [a for a in answers if a.strip()]
    if not answers:
        raise BadExample("no non-empty gold answer")
    return answers


def verify_exact(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "exact": 1 if the normalised answer equals any normalised gold."""
    golds = gold_answers(example.get("gold"))
    hit = next((g for g in golds if exact_match(answer_text, g)), None)
    return Score(1.0, "exact match") if hit is not None else Score(0.0, "no exact match")


def verify_f1(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "f1": the best token F1 against any gold."""
    golds = gold_answers(example.get("gold"))
    best = max(f1_score(answer_text, g) for g in golds)
    return Score(best, f"f1 {best:.3f}")

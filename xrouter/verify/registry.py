"""Verifiers by name: ``verify(example, answer_text) -> Score`` dispatches on ``example["verifier"]``.

``known_verifiers()`` lists the names; ``register`` adds one.  Built-in verifiers are imported on
first use, so importing this module stays cheap; ``verify_many`` sends math and code examples
through their parallel batch APIs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from xrouter.verify.base import Score, VerifierFn, guarded

# name -> "module:function"; resolved on first use so that importing this module stays cheap.
_BUILTIN: dict[str, str] = {
    "math": "xrouter.verify.math:verify_math_example",
    "numeric": "xrouter.verify.numeric:verify_numeric",
    "choice": "xrouter.verify.choice:verify_choice",
    "exact": "xrouter.verify.text:verify_exact",
    "f1": "xrouter.verify.text:verify_f1",
    "code_mbpp": "xrouter.verify.code:verify_mbpp",
    "code_humaneval": "xrouter.verify.code:verify_humaneval",
    "crux": "xrouter.verify.crux:verify_crux",
}
_REGISTRY: dict[str, VerifierFn] = {}


def known_verifiers() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def register(name: str, fn: VerifierFn) -> None:
    """Add (or replace) a verifier under ``name``."""
    _REGISTRY[name] = fn


def get_verifier(name: str) -> VerifierFn:
    """The verifier function registered as ``name``; ``KeyError`` naming the known ones otherwise."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name not in _BUILTIN:
        raise KeyError(f"unknown verifier {name!r}; known verifiers: {', '.join(known_verifiers())}")
    module_name, fn_name = _BUILTIN[name].split(":")
    fn = getattr(importlib.import_module(module_name), fn_name)
    _REGISTRY[name] = fn
    return fn


def verify(example: Mapping[str, Any], answer_text: str | None) -> Score:
    """Score ``answer_text`` against ``example`` with the verifier the example names. Never raises."""
    if not isinstance(example, Mapping):
        return Score(0.0, f"bad example: example must be a mapping, got {type(example).__name__}")
    name = example.get("verifier")
    if not isinstance(name, str):
        return Score(0.0, "bad example: missing 'verifier' name")
    try:
        fn = get_verifier(name)
    except KeyError as err:
        return Score(0.0, f"bad example: {err.args[0]}")
    return guarded(fn, example, answer_text)


def verify_many(examples: Sequence[Mapping[str, Any]], answers: Sequence[str | None]) -> list[Score]:
    """``verify`` over pairs; math and code examples go through their parallel batch APIs."""
    if len(examples) != len(answers):
        raise ValueError(f"{len(examples)} examples but {len(answers)} answers")
    scores: list[Score | None] = [None] * len(examples)
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        name = ex.get("verifier") if isinstance(ex, Mapping) else None
        if name == "math" and isinstance(ex.get("gold"), str):
            groups.setdefault("math", []).append(i)
        elif name in ("code_mbpp", "code_humaneval"):
            groups.setdefault("code", []).append(i)
        else:
            scores[i] = verify(ex, answers[i])
    if "math" in groups:
        from xrouter.verify.math import verify_math_batch

        idx = groups["math"]
        for i, s in zip(idx, verify_math_batch([examples[i]["gold"] for i in idx], [answers[i] for i in idx])):
            scores[i] = s
    if "code" in groups:
        from xrouter.verify.code import verify_code_batch

        idx = groups["code"]
        for i, s in zip(idx, verify_code_batch([examples[i] for i in idx], [answers[i] for i in idx])):
            scores[i] = s
    return [s if s is not None else Score(0.0, "internal: unscored") for s in scores]

"""The verifier interface: ``verify(example, answer_text) -> Score`` for every benchmark.

An *example* is a mapping with at least ``gold`` (str or None) and ``verifier`` (a registered
name); verifier-specific keys are optional (``letters``/``choices`` for choice; ``tests``,
``test_setup_code``, ``entry_point``, ``prompt``, ``task_id`` for code).  A verifier that cannot
decide returns ``Score(0, reason)``; ``verify`` never raises (a malformed example becomes
``Score(0, "bad example: ...")``), because a reward function that raises kills a training run.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

VerifierFn = Callable[[Mapping[str, Any], str], "Score"]


@dataclass(frozen=True)
class Score:
    """A verifier's decision: ``value`` in [0, 1] and a short human-readable ``reason``."""

    value: float
    reason: str = ""

    def __post_init__(self) -> None:
        value = float(self.value)
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise ValueError(f"Score.value must be in [0, 1], got {self.value!r}")
        object.__setattr__(self, "value", value)

    def __bool__(self) -> bool:  # "is it correct?" reads naturally: ``if score: ...``
        return self.value > 0


class BadExample(ValueError):
    """The example lacks a field its verifier needs, or the field has the wrong shape."""


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
    try:
        if not isinstance(example, Mapping):
            raise BadExample(f"example must be a mapping, got {type(example).__name__}")
        name = example.get("verifier")
        if not isinstance(name, str):
            raise BadExample("missing 'verifier' name")
        try:
            fn = get_verifier(name)
        except KeyError as err:
            raise BadExample(str(err.args[0])) from None
        if "gold" not in example:
            raise BadExample("missing 'gold'")
        return fn(example, answer_text if isinstance(answer_text, str) else "")
    except BadExample as err:
        return Score(0.0, f"bad example: {err}")
    except Exception as err:  # a verifier bug must not take the caller down
        return Score(0.0, f"verifier error: {type(err).__name__}: {err}")


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


# ----------------------------------------------------------------------------- helpers for verifiers
def require_gold(example: Mapping[str, Any]) -> str:
    """The example's gold as a non-empty string, else ``BadExample``."""
    gold = example.get("gold")
    if gold is None:
        raise BadExample("gold is None")
    if not isinstance(gold, (str, int, float)):
        raise BadExample(f"gold must be a string, got {type(gold).__name__}")
    gold = str(gold)
    if not gold.strip():
        raise BadExample("gold is empty")
    return gold


def maybe_json(value: Any) -> Any:
    """``value`` decoded if it is a string holding a JSON list or object, else ``value`` itself."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value

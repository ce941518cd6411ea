"""What every verifier shares: ``Score``, ``BadExample``, the never-raise guard, and field helpers.

The dispatch by verifier name (``verify``, ``verify_many``, the registry) is ``registry.py``, which
imports the verifiers; the verifiers import only this module, so imports run one way.  An *example* is a
mapping with at least ``gold`` (str or None) and ``verifier`` (a registered
name); verifier-specific keys are optional (``letters``/``choices`` for choice; ``tests``,
``test_setup_code``, ``entry_point``, ``prompt``, ``task_id`` for code).  A verifier that cannot
decide returns ``Score(0, reason)``; ``verify`` never raises (a malformed example becomes
``Score(0, "bad example: ...")``), because a reward function that raises kills a training run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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


def guarded(fn: VerifierFn, example: Mapping[str, Any], answer_text: str | None) -> Score:
    """``fn(example, answer_text)`` that never raises: a malformed example or a verifier bug scores 0
    with the reason, because a reward function that raises kills a training run."""
    try:
        if "gold" not in example:
            raise BadExample("missing 'gold'")
        return fn(example, answer_text if isinstance(answer_text, str) else "")
    except BadExample as err:
        return Score(0.0, f"bad example: {err}")
    except Exception as err:  # a verifier bug must not take the caller down
        return Score(0.0, f"verifier error: {type(err).__name__}: {err}")


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

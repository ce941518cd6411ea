"""Drawing the cost weight lambda per prompt group, so that one router is trained for every budget.

``reward.lam_sampling: {low, high, zero_prob}``: with probability ``zero_prob`` lambda is 0 (accuracy
only), else log-uniform over ``[low, high]``.  Each prompt's group of episodes shares one lambda, so
GRPO's group-relative advantages compare routes under the same trade-off; the router is told the
lambda (``xrouter/router/conditioning.py``) and the reward uses it (``RouterEnv`` reads an example's
``lam``).  ``null`` keeps the paper's fixed-lambda training.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LamSampling:
    low: float
    high: float
    zero_prob: float = 0.1

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> LamSampling | None:
        if not cfg:
            return None
        cfg = dict(cfg)
        unknown = sorted(set(cfg) - {"low", "high", "zero_prob"})
        if unknown:
            raise ValueError(f"reward.lam_sampling: unknown keys {unknown}; use low, high, zero_prob")
        try:
            sampling = cls(float(cfg["low"]), float(cfg["high"]), float(cfg.get("zero_prob", 0.1)))
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"reward.lam_sampling must be {{low: <number>, high: <number>, zero_prob: <number>}}, not {cfg}"
            ) from None
        if not 0 < sampling.low <= sampling.high or not math.isfinite(sampling.high):
            raise ValueError(
                f"reward.lam_sampling needs 0 < low <= high (finite), not low={sampling.low}, high={sampling.high}"
            )
        if not 0 <= sampling.zero_prob <= 1:
            raise ValueError(f"reward.lam_sampling.zero_prob must be in [0, 1], not {sampling.zero_prob}")
        return sampling

    def draw(self, rng: random.Random) -> float:
        if rng.random() < self.zero_prob:
            return 0.0
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))


def with_lams(examples: list[dict[str, Any]], sampling: LamSampling | None, rng: random.Random) -> list[dict[str, Any]]:
    """Copies of ``examples``, each with its own drawn ``lam`` (unchanged when ``sampling`` is None)."""
    if sampling is None:
        return examples
    return [{**example, "lam": sampling.draw(rng)} for example in examples]

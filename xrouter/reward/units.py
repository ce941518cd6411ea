"""The cost unit of the xrouter reward (``reward.cost_unit_usd``): a number in USD, or ``pool``, a unit set by the
pool's prices, so that one lambda range spans the trade-offs of a pool of GPT-4-class models and of one of 7B open
models alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from math import sqrt
from typing import Any

from omegaconf import DictConfig, open_dict

REFERENCE_TOKENS = 5_000
"""``pool_cost_unit``'s request size: 5,000 tokens at RouterBench's middle price ($2/M) is $0.01, the cent
that lambda was measured in before the unit followed the pool."""


def pool_cost_unit(prices_per_mtok: Iterable[tuple[float, float]], reference_tokens: int = REFERENCE_TOKENS) -> float:
    """The cost unit of a pool: ``reference_tokens`` at the geometric mean of its cheapest and dearest blended
    price (the mean of input and output USD per 1M tokens; free models are left out).

    Lambda then sits on the pool's own price scale (a ``reference_tokens`` call at the middle price costs
    lambda of reward, before the cap), and the range [0.01, 30] reaches from
    the dearest model's end to the cheapest one's on RouterBench ($0.2-$20 per 1M: unit $0.01), LLMRouter's
    open models ($0.1-$0.9: $0.0015) and ZeroEval's ($0.04-$9: $0.003) alike.  A pool whose models are all free
    gets $0.01: its costs are 0 whatever the unit."""
    blended = [(float(i) + float(o)) / 2 for i, o in prices_per_mtok]
    paid = [b for b in blended if b > 0]
    if not paid:
        return 0.01
    return reference_tokens * sqrt(min(paid) * max(paid)) / 1e6


def with_cost_unit(reward_cfg: Mapping[str, Any], prices_per_mtok: Iterable[tuple[float, float]]) -> dict[str, Any]:
    """A copy of ``reward_cfg`` whose ``cost_unit_usd: pool`` is the number ``pool_cost_unit`` gives for these
    prices ((input, output) USD per 1M tokens, one pair per pool model); a number is kept as it is."""
    reward_cfg = dict(reward_cfg)
    unit = reward_cfg.get("cost_unit_usd")
    if isinstance(unit, str):
        if unit != "pool":
            raise ValueError(
                f"reward.cost_unit_usd={unit!r}: give USD per unit of cost (0.01: lambda per cent) "
                "or 'pool' (a unit set by the pool's prices)"
            )
        reward_cfg["cost_unit_usd"] = pool_cost_unit(prices_per_mtok)
    return reward_cfg


def resolve_cost_unit(cfg: DictConfig, prices_per_mtok: Iterable[tuple[float, float]]) -> float | None:
    """Write the pool's unit into ``cfg.reward`` in place of ``cost_unit_usd: pool``, so that every reader of the
    config (rewards, baselines, teachers, the router's saved settings) uses the same number; returns it (None when
    the config gives a number or has no reward)."""
    if "reward" not in cfg or not isinstance(cfg.reward.get("cost_unit_usd"), str):
        return None
    resolved = with_cost_unit(dict(cfg.reward), prices_per_mtok)["cost_unit_usd"]
    with open_dict(cfg):
        cfg.reward.cost_unit_usd = resolved
    return resolved

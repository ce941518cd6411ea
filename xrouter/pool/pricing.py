"""Per-model token prices: the ``genai-prices`` package by default, overridable in ``conf/pricing/``.

A price entry in config is either a reference into genai-prices::

    gpt-5: {price_ref: gpt-5, provider: openai}

or explicit USD per 1M tokens, with where the figure comes from::

    claude-instant-v1: {input_per_mtok: 0.8, output_per_mtok: 2.4, source: "RouterBench paper, Table 6"}
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_PROBE_TOKENS = 1_000


class MissingPriceError(LookupError):
    """One or more pool models have no price."""


@dataclass(frozen=True)
class Price:
    """USD per 1M input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float
    source: str

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for the tokens; a count that is not a non-negative integer is a ValueError (never a
        negative or boolean cost)."""
        for count in (input_tokens, output_tokens):
            if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
                raise ValueError(f"token counts must be non-negative integers, got {count!r}")
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


def price_from_genai_prices(price_ref: str, provider: str | None = None) -> Price:
    """Look a model up in the genai-prices snapshot shipped with the package (no network)."""
    from genai_prices import Usage, calc_price

    # priced at 1,000 tokens and scaled: a 1M-token request would hit the long-context tier of models
    # priced by prompt length (Gemini 1.5 above 128k tokens costs twice as much)
    calc = calc_price(
        Usage(input_tokens=_PROBE_TOKENS, output_tokens=_PROBE_TOKENS), model_ref=price_ref, provider_id=provider
    )
    scale = 1_000_000 / _PROBE_TOKENS
    return Price(
        float(calc.input_price) * scale,
        float(calc.output_price) * scale,
        source=f"genai-prices {calc.provider.id}/{calc.model.id}",
    )


class PriceTable:
    """Resolved prices for a set of models."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)

    @classmethod
    def from_config(cls, entries: Mapping[str, Mapping[str, Any]] | None, models: Iterable[str]) -> PriceTable:
        """Resolve a price for every model; raise one error listing every model that has none."""
        entries = dict(entries or {})
        prices: dict[str, Price] = {}
        problems: list[str] = []
        for model in models:
            entry = entries.get(model)
            if entry is None:
                problems.append(f"{model}: no entry in the pricing config")
                continue
            try:
                prices[model] = parse_price_entry(model, entry)
            except (LookupError, ValueError, TypeError) as error:
                problems.append(f"{model}: {error}")
        if problems:
            raise MissingPriceError(
                "no price for "
                + str(len(problems))
                + " pool model(s):\n  "
                + "\n  ".join(problems)
                + "\nFix: add each to the pool's pricing config (conf/pricing/<name>.yaml) as "
                "{price_ref: <genai-prices model id>, provider: <id>} or "
                "{input_per_mtok: <usd>, output_per_mtok: <usd>, source: <where from>}."
            )
        return cls(prices)

    def __contains__(self, model: str) -> bool:
        return model in self._prices

    def __getitem__(self, model: str) -> Price:
        try:
            return self._prices[model]
        except KeyError:
            raise MissingPriceError(f"no price for model '{model}'; known: {sorted(self._prices)}") from None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        return self[model].cost(input_tokens, output_tokens)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            m: {"input_per_mtok": p.input_per_mtok, "output_per_mtok": p.output_per_mtok, "source": p.source}
            for m, p in self._prices.items()
        }


def parse_price_entry(model: str, entry: Mapping[str, Any]) -> Price:
    if "input_per_mtok" in entry or "output_per_mtok" in entry:
        if "input_per_mtok" not in entry or "output_per_mtok" not in entry:
            raise ValueError("give both input_per_mtok and output_per_mtok")
        values = float(entry["input_per_mtok"]), float(entry["output_per_mtok"])
        if min(values) < 0:
            raise ValueError(f"negative price {values}")
        return Price(*values, source=str(entry.get("source", "config")))
    if "price_ref" in entry:
        return price_from_genai_prices(str(entry["price_ref"]), entry.get("provider"))
    raise ValueError(f"entry {dict(entry)} has neither input_per_mtok/output_per_mtok nor price_ref")

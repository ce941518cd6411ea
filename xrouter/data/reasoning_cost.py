"""Hidden reasoning tokens of replayed reasoning models: an explicit, configurable estimate of what they cost.

A reasoning model (o1-mini, o1-preview) is billed for reasoning tokens that its recorded output does not
contain, so a cost counted from the visible output is a lower bound.  A pool can state a rule instead
(``pool.hidden_reasoning``): ``reasoning tokens = ratio x visible output tokens``, billed at the model's
output price.  Each affected row gets ``reasoning_tokens``, its ``cost_usd`` raised by their price, and its
``source`` saying that the cost holds an estimate at that ratio (``cost_estimated`` stays true).  The ratio
is an assumption, not a measurement (no per-problem figure for these recordings is published): report a
result at several ratios to see which conclusions depend on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd


def check_rule(rule: Mapping[str, Any]) -> tuple[float, list[str], str]:
    """(ratio, trace model ids, price file name or path) of a ``pool.hidden_reasoning`` mapping, checked."""
    unknown = sorted(set(rule) - {"ratio", "models", "pricing", "note"})
    if unknown:
        raise ValueError(f"pool.hidden_reasoning: unknown keys {unknown}; use ratio, models, pricing, note")
    try:
        ratio = float(rule["ratio"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"pool.hidden_reasoning.ratio must be a number >= 0 (reasoning tokens per visible output "
            f"token), not {rule.get('ratio')!r}"
        ) from None
    if not math.isfinite(ratio) or ratio < 0:
        raise ValueError(f"pool.hidden_reasoning.ratio must be a finite number >= 0, not {ratio}")
    models = [str(m) for m in rule.get("models") or []]
    if not models:
        raise ValueError("pool.hidden_reasoning.models must list the trace model ids it applies to")
    return ratio, models, str(rule.get("pricing", "zeroeval"))


def with_hidden_reasoning(traces: pd.DataFrame, rule: Mapping[str, Any] | None) -> pd.DataFrame:
    """``traces`` with the rule applied (a copy; unchanged without a rule or at ratio 0)."""
    if not rule:
        return traces
    ratio, models, pricing = check_rule(rule)
    missing = sorted(set(models) - set(traces["model"].unique()))
    if missing:
        raise ValueError(f"pool.hidden_reasoning.models {missing} are not in the traces")
    from omegaconf import OmegaConf

    from xrouter.config import to_plain
    from xrouter.data.converters.zeroeval import pricing_file
    from xrouter.pool.pricing import PriceTable

    prices = PriceTable.from_config(to_plain(OmegaConf.load(pricing_file(pricing))), models)
    out = traces.copy()
    rows = out["model"].isin(models)
    if out.loc[rows, "output_tokens"].isna().any():
        raise ValueError("pool.hidden_reasoning needs the visible output token counts of its models' rows")
    reasoning = (out.loc[rows, "output_tokens"].astype(float) * ratio).round().astype("int64")
    per_out = out.loc[rows, "model"].map(lambda m: prices[m].output_per_mtok)
    out["reasoning_tokens"] = pd.array([None] * len(out), dtype="Int64")
    out.loc[rows, "reasoning_tokens"] = reasoning.to_numpy()
    out.loc[rows, "cost_usd"] = out.loc[rows, "cost_usd"] + reasoning * per_out / 1e6
    out.loc[rows, "cost_estimated"] = True
    note = rule.get("note") or "an assumption"
    out.loc[rows, "source"] = (
        out.loc[rows, "source"].str.replace(
            "; hidden reasoning tokens are not in the output: cost is a lower bound", "", regex=False
        )
        + f"; cost includes estimated hidden reasoning tokens = {ratio:g} x visible output "
        f"tokens at the output price ({note})"
    )
    return out

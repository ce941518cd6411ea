"""Pareto frontier and AIQ over tidy run rows; the metrics themselves are ``xrouter.metrics``'s."""

from __future__ import annotations

import pandas as pd

from xrouter.metrics import aiq, common_cost_range, pareto_frontier

ORACLE, SINGLE = "oracle", "single"


def points_of(rows: pd.DataFrame) -> list[tuple[float, float]]:
    return list(zip(rows["cost_per_query"].astype(float), rows["accuracy"].astype(float)))


def frontier_of(rows: pd.DataFrame, exclude_oracle: bool = True) -> pd.DataFrame:
    """The rows of one panel (one benchmark and scope) on the cost-accuracy Pareto frontier, by cost
    (runs with the same cost and accuracy as a frontier run included).  The oracle is left out by default: it is
    an upper bound, not a policy one can deploy."""
    pool = rows[rows["policy"] != ORACLE] if exclude_oracle else rows
    if pool.empty:
        return pool
    points = points_of(pool)
    front = {points[i] for i in pareto_frontier(points)}  # runs that tie a frontier point are on it too
    return pool[[p in front for p in points]].sort_values("cost_per_query")


def cost_range_of(rows: pd.DataFrame) -> tuple[float, float]:
    """The common cost range every policy of one panel is scored on: the single models' cost range
    (RouterBench's choice, and ``xrouter.evaluate``'s ``aiq_single_model_range``) when the panel has
    two or more single-model runs, else the range of all its non-oracle runs."""
    singles = rows[rows["policy"] == SINGLE]
    if singles["cost_per_query"].nunique() >= 2:
        return common_cost_range([points_of(singles)])
    deployable = rows[rows["policy"] != ORACLE]
    return common_cost_range([points_of(deployable if len(deployable) else rows)])


def aiq_of(rows: pd.DataFrame, cost_range: tuple[float, float]) -> float:
    """AIQ of one policy's points (a sweep, or a single point) over the panel's common cost range."""
    return float(aiq(points_of(rows), cost_range))

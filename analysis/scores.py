"""Pareto frontier and AIQ over tidy run rows; the metrics themselves are ``xrouter.eval.metrics``'s."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

try:  # the evaluation issue's metrics; the fallback below only keeps analysis usable without them
    from xrouter.eval.metrics import aiq, common_cost_range, pareto_frontier
except ImportError:  # pragma: no cover - removed once xrouter.eval.metrics is committed
    def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
        """Indices of the non-dominated (cost, quality) points, by increasing cost."""
        order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
        frontier, best = [], -math.inf
        for i in order:
            if points[i][1] > best:
                frontier.append(i)
                best = points[i][1]
        return frontier

    def aiq(points: Sequence[tuple[float, float]], cost_range: tuple[float, float] | None = None) -> float:
        """RouterBench's AIQ: the mean over ``cost_range`` of the non-decreasing concave hull of the
        points, flat after its best point and 0 before its cheapest."""
        pts = np.array([points[i] for i in pareto_frontier(points)], dtype=float)
        hull = [pts[0]]
        for p in pts[1:]:
            while len(hull) >= 2 and np.cross(hull[-1] - hull[-2], p - hull[-2]) >= 0:
                hull.pop()
            hull.append(p)
        hull = np.array(hull)
        lo, hi = cost_range or (hull[0, 0], max(p[0] for p in points))
        if hi == lo:
            return float(hull[-1, 1]) if lo >= hull[0, 0] else 0.0
        start = max(lo, hull[0, 0])  # H is 0 before the cheapest vertex
        if start >= hi:
            return 0.0
        xs = np.unique(np.clip(np.concatenate([[start, hi], hull[:, 0]]), start, hi))
        ys = np.interp(xs, hull[:, 0], hull[:, 1])
        return float(np.sum(0.5 * (ys[1:] + ys[:-1]) * np.diff(xs)) / (hi - lo))

    def common_cost_range(curves) -> tuple[float, float]:
        costs = [p[0] for c in curves for p in c]
        return float(min(costs)), float(max(costs))

ORACLE, SINGLE = "oracle", "single"


def points_of(rows: pd.DataFrame) -> list[tuple[float, float]]:
    return list(zip(rows["cost_per_query"].astype(float), rows["accuracy"].astype(float)))


def frontier_of(rows: pd.DataFrame, exclude_oracle: bool = True) -> pd.DataFrame:
    """The rows of one panel (one benchmark and scope) on the cost-accuracy Pareto frontier, by cost
    (runs with the same cost and accuracy as a frontier run included).  The oracle is left out by default: it is an upper bound, not a policy one can deploy."""
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

"""Cost-quality metrics of routers: pure functions of scores, costs and (cost, quality) points.

Points are ``(cost, quality)`` pairs, one per run of a router (e.g. one per value of its knob):
cost is the mean cost per query (any unit, the same for all points compared), quality the mean
score (accuracy).  Every formula is stated in its function's docstring.

* RouterBench (Hu et al., 2024): ``nondecreasing_convex_hull``, ``aiq``.
* RouteLLM (Ong et al., 2024), two-model pools: ``pgr``, ``apgr``, ``cpt``; there the x axis is
  the fraction of queries sent to the strong model.
* ``pareto_frontier``, ``cost_save`` (at the accuracy of the best single model), ``oracle_gap``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Point = tuple[float, float]


# ----------------------------------------------------------------------------- per-run figures
def accuracy(scores: Sequence[float]) -> float:
    """``sum(s_i) / n`` (scores in [0, 1]; fractional scores count as partial credit)."""
    scores = np.asarray(scores, dtype=float)
    return float(scores.mean()) if scores.size else float("nan")


def cost_per_query(costs: Sequence[float]) -> float:
    """``sum(c_i) / n``."""
    costs = np.asarray(costs, dtype=float)
    return float(costs.mean()) if costs.size else float("nan")


def cost_per_correct(scores: Sequence[float], costs: Sequence[float]) -> float:
    """``sum(c_i) / sum(s_i)``: dollars per correct answer (``inf`` when nothing is correct)."""
    total_score = float(np.sum(np.asarray(scores, dtype=float)))
    total_cost = float(np.sum(np.asarray(costs, dtype=float)))
    return total_cost / total_score if total_score > 0 else float("inf")


# ----------------------------------------------------------------------------- curves
def _as_points(points: Iterable[Sequence[float]]) -> np.ndarray:
    array = np.asarray([tuple(map(float, p)) for p in points], dtype=float).reshape(-1, 2)
    if not np.isfinite(array).all():
        raise ValueError(f"points must be finite (cost, quality) pairs, got {array.tolist()}")
    return array


def pareto_frontier(points: Iterable[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points, by increasing cost.

    Point ``i`` is dominated when some ``j`` has ``cost_j <= cost_i`` and ``quality_j >= quality_i``
    with at least one strict inequality.  Duplicates of a non-dominated point: the first is kept.
    """
    array = _as_points(points)
    order = sorted(range(len(array)), key=lambda i: (array[i, 0], -array[i, 1], i))
    frontier, best = [], -np.inf
    for i in order:
        if array[i, 1] > best:
            frontier.append(i)
            best = array[i, 1]
    return frontier


def nondecreasing_convex_hull(points: Iterable[Sequence[float]]) -> np.ndarray:
    """RouterBench's non-decreasing convex hull: the vertices ``[(c, q), ...]`` by increasing cost.

    The upper convex hull of the points (probabilistic mixtures of two runs reach any point on the
    segment between them), cut at its highest-quality vertex: beyond it a router can spend more
    for the same quality, so the curve stays flat.  At equal cost only the best quality counts.
    """
    array = _as_points(points)
    if len(array) == 0:
        return array
    best: dict[float, float] = {}
    for cost, quality in array:
        best[cost] = max(best.get(cost, -np.inf), quality)
    xs = sorted(best)
    hull: list[tuple[float, float]] = []
    for x in xs:  # monotone chain, upper hull (left to right, keep clockwise turns)
        p = (x, best[x])
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:  # hull[-1] is on or below the chord
                hull.pop()
            else:
                break
        hull.append(p)
    top = int(np.argmax([q for _, q in hull]))  # first vertex of maximum quality
    return np.asarray(hull[: top + 1], dtype=float)


def hull_quality_at(hull: np.ndarray, cost: float) -> float:
    """Quality of the hull at ``cost``: linear between vertices, flat after the last one, and
    ``nan`` below the cheapest vertex (no mixture of the runs costs that little)."""
    if len(hull) == 0 or cost < hull[0, 0]:
        return float("nan")
    if cost >= hull[-1, 0]:
        return float(hull[-1, 1])
    return float(np.interp(cost, hull[:, 0], hull[:, 1]))


def aiq(points: Iterable[Sequence[float]], cost_range: tuple[float, float] | None = None) -> float:
    """Average Improvement in Quality (RouterBench, Hu et al. 2024, Sec. 3.2).

    ``AIQ = 1 / (c_max - c_min) * integral_{c_min}^{c_max} H(c) dc`` where ``H`` is the
    non-decreasing convex hull of the router's (cost, quality) points (``nondecreasing_convex_hull``),
    extended flat to the right of its last vertex (extrapolation: spending more never lowers
    quality) and taken as 0 to the left of its cheapest vertex (no run of the router costs that
    little, as in RouterBench's ``calc_AIQ``, which integrates from the first hull point and
    normalises by the full range).  Routers are compared on one ``cost_range``; by default it is the
    points' own cost range (a single point then has AIQ = its quality).
    """
    hull = nondecreasing_convex_hull(points)
    if len(hull) == 0:
        return float("nan")
    lo, hi = (
        (float(hull[0, 0]), float(_as_points(points)[:, 0].max())) if cost_range is None else map(float, cost_range)
    )
    if hi < lo:
        raise ValueError(f"cost_range ({lo}, {hi}) is empty")
    if hi == lo:
        return 0.0 if lo < hull[0, 0] else hull_quality_at(hull, lo)
    xs = [lo, hi] + [x for x in hull[:, 0] if lo < x < hi]
    xs = np.asarray(sorted(set(xs)), dtype=float)
    area = 0.0
    for a, b in zip(xs[:-1], xs[1:]):  # on each piece H is linear (or 0 before the hull starts)
        if b <= hull[0, 0]:
            continue
        ya, yb = hull_quality_at(hull, a), hull_quality_at(hull, b)
        area += 0.5 * (ya + yb) * (b - a)
    return area / (hi - lo)


def common_cost_range(curves: Iterable[Iterable[Sequence[float]]]) -> tuple[float, float]:
    """``(min cost, max cost)`` over all points of several curves: the range to compare their AIQ on."""
    costs = np.concatenate([_as_points(c)[:, 0] for c in curves])
    return float(costs.min()), float(costs.max())


# ----------------------------------------------------------------------------- two-model pools (RouteLLM)
def pgr(quality: float, weak_quality: float, strong_quality: float) -> float:
    """Performance Gap Recovered: ``(q - q_weak) / (q_strong - q_weak)`` (RouteLLM Eq. 6)."""
    gap = strong_quality - weak_quality
    if gap == 0:
        raise ValueError("the strong and weak models have the same quality: PGR is undefined")
    return (quality - weak_quality) / gap


def _pgr_curve(points: Iterable[Sequence[float]], weak_quality: float, strong_quality: float) -> np.ndarray:
    """``[(strong call fraction, PGR)]`` sorted by fraction, with the all-weak (0, 0) and
    all-strong (1, 1) ends added where missing (a threshold router reaches both)."""
    array = _as_points(points)
    if ((array[:, 0] < 0) | (array[:, 0] > 1)).any():
        raise ValueError("x must be the fraction of queries sent to the strong model, in [0, 1]")
    curve = {0.0: 0.0, 1.0: 1.0}
    measured: dict[float, list[float]] = {}
    for x, q in array:
        measured.setdefault(float(x), []).append(pgr(q, weak_quality, strong_quality))
    curve.update({x: float(np.mean(v)) for x, v in measured.items()})
    return np.asarray(sorted(curve.items()), dtype=float)


def apgr(
    points: Iterable[Sequence[float]],
    weak_quality: float,
    strong_quality: float,
    method: str = "integral",
    n_bins: int = 10,
) -> float:
    """Average Performance Gap Recovered (RouteLLM, Ong et al. 2024, Eq. 7-8).

    ``points`` are ``(c, q)``: ``c`` the fraction of queries the router sent to the strong model,
    ``q`` its quality.  PGR(c) is the piecewise-linear interpolation of the points' PGR, with the
    ends PGR(0) = 0 (all weak) and PGR(1) = 1 (all strong) added where not measured.

    * ``method="integral"`` (Eq. 7): ``APGR = integral_0^1 PGR(c) dc`` (trapezoid, exact for the
      piecewise-linear curve).  The random router (PGR(c) = c) scores 0.5.
    * ``method="bins"`` (Eq. 8): ``APGR = 1/n_bins * sum_{i=1..n_bins} PGR(i / n_bins)``, the
      paper's discretisation; the random router scores 0.55 with 10 bins.
    """
    curve = _pgr_curve(points, weak_quality, strong_quality)
    if method == "integral":
        return float(np.sum(0.5 * (curve[1:, 1] + curve[:-1, 1]) * np.diff(curve[:, 0])))
    if method == "bins":
        grid = np.arange(1, n_bins + 1) / n_bins
        return float(np.mean(np.interp(grid, curve[:, 0], curve[:, 1])))
    raise ValueError(f"method must be 'integral' or 'bins', not {method!r}")


def cpt(points: Iterable[Sequence[float]], weak_quality: float, strong_quality: float, target: float) -> float:
    """Call-Performance Threshold CPT(target) (RouteLLM Sec. 3.2): the smallest fraction of calls
    to the strong model at which PGR reaches ``target`` (e.g. 0.5 or 0.8), on the same
    piecewise-linear PGR curve as ``apgr`` (the crossing is interpolated between measured points).
    Returns 1.0 when only the all-strong end reaches it."""
    if not 0 <= target <= 1:
        raise ValueError("target is a PGR level in [0, 1], e.g. 0.5 for CPT(50%)")
    curve = _pgr_curve(points, weak_quality, strong_quality)
    if curve[0, 1] >= target:
        return float(curve[0, 0])
    for (x0, y0), (x1, y1) in zip(curve[:-1], curve[1:]):
        if y1 >= target > y0:
            return float(x0 + (target - y0) / (y1 - y0) * (x1 - x0))
    return 1.0


# ----------------------------------------------------------------------------- comparisons
def cost_save(points: Iterable[Sequence[float]], reference: Sequence[float], use_hull: bool = True) -> float | None:
    """CostSave at iso-accuracy: ``1 - c_router / c_ref``, where ``reference = (c_ref, q_ref)`` is
    (usually) the best single model and ``c_router`` the least cost at which the router reaches
    quality ``q_ref``: on its non-decreasing convex hull (mixtures of its runs; ``use_hull``) or
    among its measured points.  ``None`` when the router never reaches ``q_ref``.  0.6 means the
    router matches the reference's accuracy for 40% of its cost."""
    c_ref, q_ref = map(float, reference)
    array = _as_points(points)
    if use_hull:
        hull = nondecreasing_convex_hull(array)
        if hull[-1, 1] < q_ref:
            return None
        if hull[0, 1] >= q_ref:
            cost = float(hull[0, 0])
        else:
            k = int(np.argmax(hull[:, 1] >= q_ref))
            (x0, y0), (x1, y1) = hull[k - 1], hull[k]
            cost = float(x0 + (q_ref - y0) / (y1 - y0) * (x1 - x0))
    else:
        reached = array[array[:, 1] >= q_ref]
        if len(reached) == 0:
            return None
        cost = float(reached[:, 0].min())
    return 1.0 - cost / c_ref if c_ref > 0 else None


def oracle_gap(point: Sequence[float], oracle: Sequence[float]) -> dict[str, float]:
    """How far a run is from the oracle: ``accuracy_gap = q_oracle - q`` and
    ``cost_ratio = c / c_oracle`` (the oracle: cheapest model scored correct on each query)."""
    cost, quality = map(float, point)
    c_oracle, q_oracle = map(float, oracle)
    return {"accuracy_gap": q_oracle - quality, "cost_ratio": cost / c_oracle if c_oracle > 0 else float("inf")}

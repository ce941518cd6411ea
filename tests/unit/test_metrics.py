"""Cost-quality metrics on hand-computed cases (xrouter/metrics.py)."""

import math

import numpy as np
import pytest

from xrouter import metrics as M


def test_per_run_figures():
    assert M.accuracy([1, 0, 1, 1]) == 0.75
    assert M.accuracy([0.5, 1.0]) == 0.75  # fractional scores are partial credit
    assert M.cost_per_query([0.1, 0.3]) == pytest.approx(0.2)
    assert M.cost_per_correct([1, 0, 1, 0], [1.0, 2.0, 3.0, 2.0]) == pytest.approx(4.0)  # $8 / 2 correct
    assert M.cost_per_correct([0, 0], [1.0, 1.0]) == math.inf
    assert math.isnan(M.accuracy([]))


def test_pareto_frontier_keeps_the_non_dominated_points_by_cost():
    points = [(1, 0.5), (2, 0.4), (2, 0.7), (3, 0.7), (0.5, 0.2), (1, 0.5)]
    # (2, 0.4) is dominated by (1, 0.5); (3, 0.7) by (2, 0.7); the second (1, 0.5) duplicates the first
    assert M.pareto_frontier(points) == [4, 0, 2]


def test_nondecreasing_convex_hull():
    points = [(0, 0), (1, 0.5), (2, 0.6), (3, 0.9), (4, 0.8), (1, 0.3)]
    # (2, 0.6) lies under the chord (1, 0.5)-(3, 0.9) (0.7 there); (4, 0.8) is past the top; at cost 1 the best is 0.5
    assert M.nondecreasing_convex_hull(points).tolist() == [[0, 0], [1, 0.5], [3, 0.9]]
    assert M.nondecreasing_convex_hull([(2, 0.7)]).tolist() == [[2, 0.7]]
    collinear = M.nondecreasing_convex_hull([(0, 0), (1, 0.5), (2, 1.0)])
    assert collinear.tolist() == [[0, 0], [2, 1.0]]


def test_aiq_area_under_the_hull_over_the_cost_range():
    points = [(0, 0), (1, 0.5), (2, 0.6), (3, 0.9), (4, 0.8)]
    # hull (0,0)-(1,.5)-(3,.9), flat at .9 to 4: 0.25 + 1.4 + 0.9 = 2.55 over a range of 4
    assert M.aiq(points) == pytest.approx(2.55 / 4)
    assert M.aiq(points, (1, 3)) == pytest.approx(1.4 / 2)
    assert M.aiq(points, (0, 6)) == pytest.approx((2.55 + 2 * 0.9) / 6)  # flat extrapolation to the right
    # a single point: 0 below its cost, its quality above it
    assert M.aiq([(2, 0.7)], (0, 4)) == pytest.approx(0.7 * 2 / 4)
    assert M.aiq([(2, 0.7)]) == pytest.approx(0.7)


def test_aiq_matches_routerbenchs_reference_computation():
    """RouterBench's calc_AIQ: trapezoid under the hull with (max cost, last quality) appended,
    divided by the max cost, i.e. the range (0, max cost) with nothing left of the first point."""
    points = [(0.2, 0.55), (0.5, 0.7), (0.9, 0.72), (1.5, 0.9), (2.0, 0.88)]
    hull = M.nondecreasing_convex_hull(points)
    curve = np.vstack([hull, [2.0, hull[-1, 1]]])
    reference = float(np.sum(0.5 * (curve[1:, 1] + curve[:-1, 1]) * np.diff(curve[:, 0]))) / 2.0
    assert M.aiq(points, (0.0, 2.0)) == pytest.approx(reference)


def test_common_cost_range():
    assert M.common_cost_range([[(1, 0.5), (3, 0.9)], [(0.5, 0.2)]]) == (0.5, 3.0)


def test_pgr_apgr_cpt_on_hand_computed_curves():
    weak, strong = 0.6, 0.8
    assert M.pgr(0.7, weak, strong) == pytest.approx(0.5)
    random_router = [(x, weak + x * (strong - weak)) for x in (0.25, 0.5, 0.75)]
    assert M.apgr(random_router, weak, strong) == pytest.approx(0.5)
    assert M.apgr(random_router, weak, strong, method="bins") == pytest.approx(0.55)
    # one measured point: PGR 0.75 at 50% strong calls; curve (0,0)-(0.5,0.75)-(1,1)
    router = [(0.5, 0.75)]
    assert M.apgr(router, weak, strong) == pytest.approx(0.5 * 0.75 * 0.5 + 0.5 * 1.75 * 0.5)  # 0.625
    # bins at 0.1..1.0: 1.5x up to 0.5 (0.15+...+0.75 = 2.25), then 0.8..1.0 (4.5)
    assert M.apgr(router, weak, strong, method="bins") == pytest.approx(0.675)
    assert M.cpt(router, weak, strong, 0.5) == pytest.approx(1 / 3)
    assert M.cpt(router, weak, strong, 0.8) == pytest.approx(0.6)
    assert M.cpt(router, weak, strong, 0.0) == 0.0
    assert M.cpt([(0.5, 0.6)], weak, strong, 0.5) == pytest.approx(0.75)  # only the all-strong end helps
    with pytest.raises(ValueError):
        M.pgr(0.7, 0.6, 0.6)
    with pytest.raises(ValueError):
        M.apgr([(1.5, 0.7)], weak, strong)


def test_cost_save_at_the_best_single_models_accuracy():
    router = [(1.0, 0.7), (2.0, 0.9)]
    best_single = (4.0, 0.8)
    assert M.cost_save(router, best_single) == pytest.approx(1 - 1.5 / 4)  # the hull reaches 0.8 at cost 1.5
    assert M.cost_save(router, best_single, use_hull=False) == pytest.approx(0.5)
    assert M.cost_save([(1.0, 0.7)], best_single) is None
    assert M.cost_save([(1.0, 0.85)], best_single) == pytest.approx(0.75)


def test_oracle_gap():
    assert M.oracle_gap((1.0, 0.7), (0.5, 0.9)) == {"accuracy_gap": pytest.approx(0.2), "cost_ratio": 2.0}

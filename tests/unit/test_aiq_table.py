"""experiments/query_routing/aiq_table.py: a sweep's AIQ from a sub-grid of its lambdas, and the table of real runs."""

from __future__ import annotations

import importlib.util

import pytest

from xrouter import PROJECT_ROOT, metrics


def load_script():
    spec = importlib.util.spec_from_file_location(
        "aiq_table", PROJECT_ROOT / "experiments" / "query_routing" / "aiq_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SWEEP = {
    "reference": {
        "single": {
            "cheap": {"cost_per_query": 1.0, "accuracy": 0.5},
            "dear": {"cost_per_query": 10.0, "accuracy": 0.9},
        },
        "oracle": {"cost_per_query": 1.0, "accuracy": 0.95},
    },
    "points": [
        {
            "knob": {"lam": lam},
            "label": f"router lam={lam}",
            "cost_per_query": c,
            "accuracy": q,
            "run_dir": f"lam={lam}",
        }
        for lam, c, q in [(0, 10.0, 0.9), (1, 3.0, 0.85), (10, 1.0, 0.5)]
    ],
}


def test_the_whole_grid_gives_the_sweeps_aiq_and_dropping_a_hull_point_lowers_it():
    script = load_script()
    whole = metrics.aiq([(10.0, 0.9), (3.0, 0.85), (1.0, 0.5)], (1.0, 10.0))
    assert script.subgrid_aiq(SWEEP, [0, 1, 10]) == pytest.approx(whole)
    assert script.subgrid_aiq(SWEEP, [0, 10]) == pytest.approx(metrics.aiq([(10.0, 0.9), (1.0, 0.5)], (1.0, 10.0)))
    assert script.subgrid_aiq(SWEEP, [0, 10]) < whole


def test_a_lambda_the_sweep_lacks_is_named():
    with pytest.raises(SystemExit, match=r"no point at lambda \[3.0\]"):
        load_script().subgrid_aiq(SWEEP, [0, 3])

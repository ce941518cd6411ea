"""The time-to-quality benchmark's relative target: the best single model within the cost cap on the same dev slice."""

from __future__ import annotations

import importlib.util

import pytest

from xrouter import PROJECT_ROOT


def _script():
    spec = importlib.util.spec_from_file_location("time_to_quality", PROJECT_ROOT / "benchmarks" / "time_to_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relative_target_is_the_best_single_model_within_the_cap_on_the_seeds_dev_slice(shared_data_dir):
    ttq = _script()
    points = ttq.dev_single_models(1, [])  # seed 1's RouterBench dev slice
    assert len(points) == 11 and all(0 <= acc <= 1 and cost > 0 for cost, acc in points.values())
    target = ttq.relative_target(points, 5e-4, 0.01)
    # gpt-4 is the most accurate model but costs ~10x the cap; below the cap Yi-34B is the best
    assert max(points, key=lambda m: points[m][1]) == "gpt-4-1106-preview"
    assert target["best_single"] == "yi-34b-chat" and target["best_single_cost"] <= 5e-4
    assert target["target"] == pytest.approx(points["yi-34b-chat"][1] + 0.01)
    # another seed draws another slice, so another target
    assert ttq.relative_target(ttq.dev_single_models(0, []), 5e-4, 0.0)["target"] != pytest.approx(
        points["yi-34b-chat"][1]
    )


def test_a_cap_below_every_model_is_a_clear_error():
    ttq = _script()
    with pytest.raises(SystemExit, match="no pool model costs <= .* raise --max-cost"):
        ttq.relative_target({"a": (1e-3, 0.9), "b": (2e-3, 0.95)}, 1e-4, 0.01)

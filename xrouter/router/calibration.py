"""A lambda-conditioned router's calibration: its dev curve (lambda -> cost and accuracy), saved beside it.

``xrouter.train`` evaluates the delivered router on its dev slice at every lambda of ``lam_grid`` and writes
``<router>/calibration.json``; the server reads it to turn ``"xrouter": {"max_cost_per_query": 0.001}`` into
the lambda whose dev-measured cost per query is the largest within the target (``lam_for_cost``), and says
which lambda it used and the cost and accuracy expected there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CALIBRATION_FILE = "calibration.json"


def calibration_points(curve: Mapping[str, Any]) -> list[dict[str, float]]:
    """``[{lam, cost_per_query, accuracy}]`` from a lambda sweep's report (``eval/router_sweep.py``), by lambda."""
    points = [
        {"lam": float(p["knob"]["lam"]), "cost_per_query": float(p["cost_per_query"]), "accuracy": float(p["accuracy"])}
        for p in curve["points"]
    ]
    return sorted(points, key=lambda p: p["lam"])


def save_calibration(router_dir: str | Path, points: Sequence[Mapping[str, float]], source: str) -> Path:
    path = Path(router_dir) / CALIBRATION_FILE
    path.write_text(json.dumps({"source": source, "points": list(points)}, indent=2) + "\n")
    return path


def load_calibration(router_dir: str | Path) -> list[dict[str, float]] | None:
    """The router's calibration points, or None when it has none (a router trained for one lambda)."""
    path = Path(router_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        points = json.loads(path.read_text())["points"]
        checked = [
            {"lam": float(p["lam"]), "cost_per_query": float(p["cost_per_query"]), "accuracy": float(p["accuracy"])}
            for p in points
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a calibration file ({error}); retrain the router or delete it") from None
    if not checked or not all(math.isfinite(v) for p in checked for v in p.values()):
        raise ValueError(f"{path} holds no finite calibration points; retrain the router or delete it")
    return sorted(checked, key=lambda p: p["lam"])


def lam_for_cost(points: Sequence[Mapping[str, float]], target_usd: float) -> dict[str, Any]:
    """The calibration point of largest dev cost per query within ``target_usd`` (ties: the more accurate, then
    the larger lambda); when every point costs more, the cheapest one, flagged ``within_target: false``."""
    within = [p for p in points if p["cost_per_query"] <= target_usd]
    if within:
        best = max(within, key=lambda p: (p["cost_per_query"], p["accuracy"], p["lam"]))
        return {**best, "within_target": True}
    cheapest = min(points, key=lambda p: (p["cost_per_query"], -p["accuracy"]))
    return {**cheapest, "within_target": False}

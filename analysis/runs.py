"""Find run directories by glob and load them into one tidy DataFrame (one row per run and scope).

A run directory is any directory holding a ``summary.json`` (the contract in ``analysis/__init__.py``).
``scope`` is ``"all"`` for the run's overall figures and the sub-benchmark's name (the ``benchmark``
column of its episodes, e.g. ``arc_challenge``) for each entry of ``per_benchmark``.  Figures that the
summary gives only overall (calls per query, direct-answer rate) are recomputed per scope from
``episodes.parquet`` when the run has one.
"""

from __future__ import annotations

import glob
import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

ALL = "all"
COLUMNS = [
    "run",
    "run_dir",
    "policy",
    "label",
    "family",
    "knob",
    "knob_value",
    "benchmark",
    "pool",
    "split",
    "scope",
    "n",
    "accuracy",
    "cost_per_query",
    "calls_per_query",
    "direct_answer_rate",
    "model_share",
]


def find_run_dirs(patterns: str | Iterable[str]) -> list[Path]:
    """Run directories under the glob(s): a match that is a ``summary.json`` names its folder; a matched
    folder contributes every ``summary.json`` below it.  Several patterns may be comma-separated."""
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p.strip()]
    found: set[Path] = set()
    for pattern in patterns:
        for match in glob.glob(str(Path(pattern.strip()).expanduser()), recursive=True):
            path = Path(match)
            if path.is_file() and path.name == "summary.json":
                found.add(path.parent.resolve())
            elif path.is_dir():
                found.update(p.parent.resolve() for p in path.rglob("summary.json"))
    return sorted(found)


def family_of(policy: str, label: str, knob: dict[str, Any]) -> str:
    """The curve a run belongs to: its label without the ``key=value`` tokens that name the knob (by
    key, or by value: "xrouter lam=1" with knob {"lam": 1} -> "xrouter", "threshold t=0.3" with knob
    {"threshold": 0.3} -> "threshold"); "single gpt-4" (no knob) stays itself."""

    def is_knob(token: str) -> bool:
        key, sep, value = token.strip(",;()").partition("=")
        if not sep:
            return False
        return key in knob or any(_same(value, v) for v in knob.values())

    family = " ".join(t for t in (label or policy).split() if not is_knob(t)).strip(" ,;")
    return family or policy


def seed_of(run_dir: str | Path, summary: dict[str, Any]) -> Any:
    """The run's seed: its summary's, else its ``config.yaml``'s (a training run's test evaluation writes
    the training config there), else None."""
    if summary.get("seed") is not None:
        return summary["seed"]
    config = Path(run_dir) / "config.yaml"
    if config.exists():
        from omegaconf import OmegaConf

        return OmegaConf.load(config).get("seed")
    return None


def _same(text: str, value: Any) -> bool:
    if str(value) == text:
        return True
    try:
        return float(text) == float(value)
    except (TypeError, ValueError):
        return False


def knob_value(knob: dict[str, Any]) -> float:
    """The sweep coordinate: the knob's single numeric value (NaN for none or several)."""
    values = [v for v in knob.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(values[0]) if len(values) == 1 else math.nan


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    for key in ("accuracy", "cost_per_query"):
        if key not in summary:
            raise ValueError(f"{path}: no '{key}' (see the run-file contract in analysis/__init__.py)")
    return summary


def load_episodes(run_dir: Path) -> pd.DataFrame | None:
    path = Path(run_dir) / "episodes.parquet"
    return pd.read_parquet(path) if path.exists() else None


def _episode_rates(episodes: pd.DataFrame | None) -> dict[str, dict[str, float]]:
    """Calls per query and direct-answer rate per sub-benchmark and overall, from episodes."""
    if episodes is None or not len(episodes) or "benchmark" not in episodes:
        return {}
    ep = episodes.assign(_direct=episodes.get("final_source", pd.Series(index=episodes.index)) == "direct")
    rates = {}
    for scope, rows in [(ALL, ep), *((str(b), g) for b, g in ep.groupby("benchmark", sort=True))]:
        rates[scope] = {
            "calls_per_query": float(rows["n_calls"].mean()) if "n_calls" in rows else math.nan,
            "direct_answer_rate": float(rows["_direct"].mean()),
        }
    return rates


def run_rows(run_dir: Path, root: Path | None = None) -> list[dict[str, Any]]:
    """The tidy rows of one run: its overall figures and one row per sub-benchmark."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    knob = summary.get("knob") or {}
    policy = summary.get("policy") or "unknown"
    label = summary.get("label") or policy
    name = str(run_dir.relative_to(root)) if root is not None and run_dir.is_relative_to(root) else run_dir.name
    identity = {
        "run": name,
        "run_dir": str(run_dir),
        "policy": policy,
        "label": label,
        "family": family_of(policy, label, knob),
        "knob": knob,
        "knob_value": knob_value(knob),
        "benchmark": summary.get("benchmark") or "unknown",
        "pool": summary.get("pool"),
        "split": summary.get("split"),
    }
    per_benchmark = summary.get("per_benchmark") or {}
    rates = _episode_rates(load_episodes(run_dir) if (run_dir / "episodes.parquet").exists() else None)
    rows = []
    for scope, figures in [(ALL, summary), *sorted(per_benchmark.items())]:
        rate = rates.get(scope, {})
        rows.append(
            {
                **identity,
                "scope": scope,
                "n": figures.get("n"),
                "accuracy": figures.get("accuracy"),
                "cost_per_query": figures.get("cost_per_query"),
                "calls_per_query": figures.get("calls_per_query", rate.get("calls_per_query", math.nan)),
                "direct_answer_rate": figures.get("direct_answer_rate", rate.get("direct_answer_rate", math.nan)),
                "model_share": figures.get("model_share") or {},
            }
        )
    return rows


def load_runs(patterns: str | Iterable[str]) -> pd.DataFrame:
    """Every run under the glob(s) as a tidy DataFrame (columns ``COLUMNS``); errors name the file."""
    run_dirs = find_run_dirs(patterns)
    if not run_dirs:
        raise FileNotFoundError(f"no run directory (no summary.json) matches {patterns!r}")
    root = Path(_common_root(run_dirs))
    rows = [row for d in run_dirs for row in run_rows(d, root)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    finite = frame[["accuracy", "cost_per_query"]].astype(float).map(math.isfinite).all(axis=1)
    if not finite.all():  # e.g. a sub-benchmark with no episodes
        bad = frame.loc[~finite, ["run", "scope"]].astype(str).agg("/".join, axis=1)
        warnings.warn(f"left out (no finite accuracy and cost): {', '.join(bad)}", stacklevel=2)
        frame = frame[finite]
    frame["n"] = frame["n"].astype("Int64")
    return frame.sort_values(["benchmark", "scope", "cost_per_query", "run"]).reset_index(drop=True)


def _common_root(dirs: list[Path]) -> str:
    if len(dirs) == 1:
        return str(dirs[0].parent)
    import os

    return os.path.commonpath([str(d) for d in dirs])

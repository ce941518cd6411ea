"""The Pareto figure of one training run, from its files: ``<run>/pareto_<benchmark>.png``.

The delivered router's one-checkpoint curve on test (``eval_test_curve/``), the baselines' curves printed beside
it (``eval_test_baselines/*``), and the single models and the oracle on the same prompts (the curve's
``sweep.json`` reference).  ``xrouter.train`` draws it at the end of a run; ``python -m analysis.run_figure <run>``
draws it again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402  (after the backend is chosen)

from analysis import plots  # noqa: E402
from analysis.runs import ALL, COLUMNS, load_runs  # noqa: E402
from analysis.scores import ORACLE  # noqa: E402


def reference_rows(curve_dir: Path, benchmark: str) -> list[dict]:
    """Rows for the single models and the oracle of a curve's ``sweep.json`` (overall scope)."""
    reference = json.loads((curve_dir / "sweep.json").read_text()).get("reference") or {}
    split = curve_dir.name.removeprefix("eval_").removesuffix("_curve")
    common = {"scope": ALL, "benchmark": benchmark, "split": split, "knob": {}, "knob_value": float("nan")}
    rows = [
        {
            **common,
            "run": f"single {model}",
            "policy": "single",
            "label": f"single {model}",
            "family": f"single {model}",
            "model_share": {model: 1.0},
            **point,
        }
        for model, point in (reference.get("single") or {}).items()
    ]
    if reference.get("oracle"):
        rows.append(
            {
                **common,
                "run": ORACLE,
                "policy": ORACLE,
                "label": ORACLE,
                "family": ORACLE,
                "model_share": {},
                **reference["oracle"],
            }
        )
    return rows


def run_figure(run_dir: str | Path, split: str = "test") -> Path:
    """Draw ``<run_dir>/pareto_<benchmark>.png`` (overall scope) from the run's ``split`` curves; return its path."""
    run_dir = Path(run_dir)
    curve = run_dir / f"eval_{split}_curve"
    if not (curve / "sweep.json").exists():
        raise FileNotFoundError(
            f"{curve}/sweep.json: this run has no test curve (lam_grid unset, or evaluate_test=false)"
        )
    baselines = run_dir / f"eval_{split}_baselines"
    patterns = [str(curve)] + ([str(baselines / "*")] if baselines.exists() else [])
    frame = load_runs(patterns)
    frame = frame[frame["scope"] == ALL]
    benchmark = str(frame["benchmark"].iloc[0])
    frame = pd.concat([frame, pd.DataFrame(reference_rows(curve, benchmark), columns=COLUMNS)], ignore_index=True)
    fig = plots.pareto_figure(frame, benchmark)
    path = run_dir / f"pareto_{benchmark}.png"
    plots.save(fig, path)
    return path


if __name__ == "__main__":
    for arg in sys.argv[1:] or [sys.exit("usage: python -m analysis.run_figure <training run directory> [...]")]:
        print(run_figure(arg))

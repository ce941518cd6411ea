"""Tables from tidy run rows: all runs ranked by AIQ, policy families ranked by AIQ, sweep ablations."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from analysis.runs import ALL
from analysis.scores import aiq_of, cost_range_of, frontier_of

ROUTER_POLICIES = ("router", "router_prompted")


def panel(frame: pd.DataFrame, benchmark: str, scope: str = ALL) -> pd.DataFrame:
    rows = frame[(frame["benchmark"] == benchmark) & (frame["scope"] == scope)]
    if rows.empty:
        raise ValueError(
            f"no runs for benchmark={benchmark!r} scope={scope!r}; "
            f"have {sorted(set(zip(frame['benchmark'], frame['scope'])))}"
        )
    return rows


def runs_ranked(frame: pd.DataFrame, benchmark: str, scope: str = ALL) -> pd.DataFrame:
    """One row per run, ranked by its AIQ: each run as a one-point curve over the panel's common cost
    range (``scores.cost_range_of``: the single models' range).  Ties go to the cheaper run.
    ``pareto`` marks frontier runs; the oracle is ranked too, as an upper bound, not a policy."""
    rows = panel(frame, benchmark, scope)
    span = cost_range_of(rows)
    front = set(frontier_of(rows)["run"])
    table = pd.DataFrame(
        {
            "policy": rows["policy"],
            "label": rows["label"],
            "accuracy": rows["accuracy"],
            "cost_per_query": rows["cost_per_query"],
            "calls_per_query": rows["calls_per_query"],
            "direct_rate": rows["direct_answer_rate"],
            "AIQ": [aiq_of(rows.loc[[i]], span) for i in rows.index],
            "pareto": ["yes" if r in front else "" for r in rows["run"]],
            "run": rows["run"],
        }
    )
    table = table.sort_values(["AIQ", "cost_per_query", "label"], ascending=[False, True, True])
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def families_ranked(frame: pd.DataFrame, benchmark: str, scope: str = ALL) -> pd.DataFrame:
    """One row per policy family (a sweep's points together, a single model alone), ranked by the AIQ
    of its points' non-decreasing hull over the panel's common cost range (RouterBench's AIQ)."""
    rows = panel(frame, benchmark, scope)
    span = cost_range_of(rows)
    out = []
    for family, fam in rows.groupby("family", sort=False):
        best = fam.loc[fam["accuracy"].idxmax()]
        out.append(
            {
                "family": family,
                "policy": fam["policy"].iloc[0],
                "points": len(fam),
                "AIQ": aiq_of(fam, span),
                "best_accuracy": best["accuracy"],
                "cost_at_best": best["cost_per_query"],
                "min_cost": fam["cost_per_query"].min(),
                "max_cost": fam["cost_per_query"].max(),
            }
        )
    table = pd.DataFrame(out).sort_values(["AIQ", "min_cost"], ascending=[False, True])
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def sweep_table(frame: pd.DataFrame, benchmark: str, family: str, scope: str = ALL) -> pd.DataFrame:
    """The ablation table of one swept family: one row per knob value (lambda for the router) with
    accuracy, cost, calls per query, direct-answer rate and the point's AIQ, then a ``sweep`` row with
    the AIQ of the whole curve."""
    rows = panel(frame, benchmark, scope)
    span = cost_range_of(rows)
    fam = rows[rows["family"] == family].sort_values("knob_value")
    if fam.empty:
        raise ValueError(f"no runs of family {family!r} for {benchmark}/{scope}")
    knob_names = sorted({k for knob in fam["knob"] for k in knob})
    knob_name = "lambda" if knob_names == ["lam"] else ("/".join(knob_names) or "knob")
    table = pd.DataFrame(
        {
            knob_name: [_knob_text(k) for k in fam["knob"]],
            "accuracy": list(fam["accuracy"]),
            "cost_per_query": list(fam["cost_per_query"]),
            "calls_per_query": list(fam["calls_per_query"]),
            "direct_rate": list(fam["direct_answer_rate"]),
            "AIQ": [aiq_of(fam.loc[[i]], span) for i in fam.index],
        }
    )
    curve = {
        knob_name: "sweep (curve)",
        "accuracy": math.nan,
        "cost_per_query": math.nan,
        "calls_per_query": math.nan,
        "direct_rate": math.nan,
        "AIQ": aiq_of(fam, span),
    }
    return pd.concat([table, pd.DataFrame([curve])], ignore_index=True)


def _knob_text(knob: dict) -> str:
    values = list(knob.values())
    if len(values) == 1:
        v = values[0]
        return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
    return ", ".join(f"{k}={v}" for k, v in knob.items())


def swept_families(frame: pd.DataFrame, benchmark: str) -> list[str]:
    """Families with two or more knob values on this benchmark, router families first."""
    rows = frame[(frame["benchmark"] == benchmark) & (frame["scope"] == ALL) & frame["knob_value"].notna()]
    counts = rows.groupby("family")["knob_value"].nunique()
    fams = [f for f, c in counts.items() if c >= 2]
    policy = rows.groupby("family")["policy"].first()
    return sorted(fams, key=lambda f: (policy[f] not in ROUTER_POLICIES, f))


def lambda_families(frame: pd.DataFrame, benchmark: str) -> list[str]:
    rows = frame[(frame["benchmark"] == benchmark) & frame["policy"].isin(ROUTER_POLICIES)]
    return [f for f in swept_families(frame, benchmark) if f in set(rows["family"])]


FORMATS = {
    "accuracy": "{:.4f}",
    "cost_per_query": "{:.3e}",
    "calls_per_query": "{:.2f}",
    "direct_rate": "{:.2f}",
    "AIQ": "{:.4f}",
    "best_accuracy": "{:.4f}",
    "cost_at_best": "{:.3e}",
    "min_cost": "{:.3e}",
    "max_cost": "{:.3e}",
}


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Numbers as text (fixed digits per column; NaN as blank) for markdown and LaTeX alike."""
    out = table.copy()
    for column, fmt in FORMATS.items():
        if column in out:
            out[column] = [
                ("" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)) for v in out[column]
            ]
    return out


def write_table(table: pd.DataFrame, stem: Path, caption: str) -> tuple[Path, Path]:
    """``<stem>.md`` (pipe table under a caption line) and ``<stem>.tex`` (booktabs tabular)."""
    text = formatted(table)
    md, tex = stem.with_suffix(".md"), stem.with_suffix(".tex")
    align = ["right" if c in FORMATS or c in ("rank", "points") else "left" for c in text.columns]
    md.write_text(f"{caption}\n\n{text.to_markdown(index=False, disable_numparse=True, colalign=align)}\n")
    latex = text.to_latex(index=False, caption=caption, label=f"tab:{stem.name}", escape=True)
    tex.write_text(latex)
    return md, tex

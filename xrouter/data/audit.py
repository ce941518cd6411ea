"""Our scores beside an upstream's: per-model accuracy table, median gap, and the disagreements.

For traces that carry ``zeroeval_score`` (ZeroEval's first-number rule on each row, restated in
``xrouter.data.converters.zeroeval_rule``) and ``zeroeval_accuracy`` (the model's accuracy in
ZeroEval's summary file).  The restated rule is checked against the summary (column "rule"): where
they agree, every disagreement below is one between our verifier and ZeroEval's own scoring.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

CATEGORIES = {
    "ours_right_upstream_no_answer": "ours 1, ZeroEval 0: ZeroEval read no answer "
    "(we did: boxed / last number / lenient JSON)",
    "ours_right_first_numbers_differ": "ours 1, ZeroEval 0: equivalent answers whose first numbers differ "
    "(0.5 vs \\frac12, 'x = 3', units)",
    "upstream_right_we_no_answer": "ours 0, ZeroEval 1: we read no answer",
    "upstream_right_first_number_only": "ours 0, ZeroEval 1: only the first numbers agree "
    "(\\frac{3}{5} vs \\frac{3}{4}, 3\\sqrt2 vs 3)",
    "upstream_right_verifier_failed": "ours 0, ZeroEval 1: math-verify timed out or failed",
}


def accuracy_table(traces: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """A per-(benchmark, model) accuracy table, and the median |ours - ZeroEval's| in points per benchmark."""
    has_upstream = "zeroeval_accuracy" in traces.columns
    agg = {"ours": ("score", "mean"), "n": ("score", "size")}
    if has_upstream:
        agg.update(rule=("zeroeval_score", "mean"), summary=("zeroeval_accuracy", "first"))
    table = traces.groupby(["benchmark", "model"], sort=True).agg(**agg).reset_index()
    header = f"{'benchmark':10s} {'model':42s} {'n':>5s} {'ours':>7s}"
    if has_upstream:
        header += f" {'ZeroEval':>9s} {'diff':>6s} {'rule':>7s}"
    lines, gaps = [header], {}
    for bench, rows in table.groupby("benchmark", sort=True):
        for r in rows.sort_values("ours", ascending=False).itertuples():
            line = f"{bench:10s} {r.model:42s} {r.n:5d} {100 * r.ours:7.2f}"
            if has_upstream:
                summary = "" if pd.isna(r.summary) else f"{100 * r.summary:9.2f} {100 * (r.ours - r.summary):+6.2f}"
                line += f" {summary:>16s} {100 * r.rule:7.2f}"
            lines.append(line)
        if has_upstream and rows["summary"].notna().any():
            gap = (100 * (rows["ours"] - rows["summary"]).abs()).median()
            gaps[str(bench)] = round(float(gap), 2)
            lines.append(
                f"{bench:10s} median |ours - ZeroEval| = {gap:.2f} points over "
                f"{int(rows['summary'].notna().sum())} "
                "models ('rule': ZeroEval's rule restated here, on the same rows)"
            )
    return "\n".join(lines), gaps


def _category(row: Any) -> str | None:
    ours, theirs = row.score >= 0.5, row.zeroeval_score >= 0.5
    if ours == theirs:
        return None
    reason = str(row.score_reason or "")
    if ours:
        return "ours_right_upstream_no_answer" if not row.zeroeval_answered else "ours_right_first_numbers_differ"
    if reason.startswith("no answer") or reason.startswith("no number"):
        return "upstream_right_we_no_answer"
    if "timeout" in reason or reason.startswith("error") or "crashed" in reason:
        return "upstream_right_verifier_failed"
    return "upstream_right_first_number_only"


def disagreements(traces: pd.DataFrame) -> dict[str, Any]:
    """Rows where our score and ZeroEval's rule differ, by ``<benchmark>: <category>``."""
    rows = traces[(traces["score"] >= 0.5) != (traces["zeroeval_score"] >= 0.5)]
    cats = [_category(r) for r in rows.itertuples()]
    rows = rows.assign(category=[f"{b}: {c}" for b, c in zip(rows["benchmark"], cats)])
    counts = rows["category"].value_counts().sort_index()
    totals = traces.groupby("benchmark").size()
    return {
        "counts": {k: int(v) for k, v in counts.items()},
        "rows": rows,
        "share": {k: round(int(v) / int(totals[k.split(":")[0]]), 4) for k, v in counts.items()},
    }


def _clip(text: Any, n: int = 160) -> str:
    text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    text = " ".join(text.split())
    return (text if len(text) <= n else "..." + text[-n:]).replace("|", "\\|")


def audit_markdown(traces: pd.DataFrame, audit: dict[str, Any], examples: int = 3) -> str:
    """The audit as markdown: the accuracy table, counts per category, a few examples each."""
    table, gaps = accuracy_table(traces)
    out = [
        "# Our scores vs ZeroEval's",
        "",
        "```",
        table,
        "```",
        "",
        "Median |ours - ZeroEval| in points: " + ", ".join(f"{b} {g}" for b, g in gaps.items()),
        "",
        "| category | rows | share of the benchmark's rows |",
        "|---|---|---|",
    ]
    for key, n in audit["counts"].items():
        bench, cat = key.split(": ", 1)
        out.append(f"| {bench}: {CATEGORIES.get(cat, cat)} | {n} | {audit['share'][key]:.4f} |")
    rows = audit["rows"]
    for key in audit["counts"]:
        out += [
            "",
            f"## {key}",
            "",
            "| prompt_id | model | gold | our answer | ours | ZeroEval | response end |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows[rows["category"] == key].sort_values(["prompt_id", "model"]).head(examples).itertuples():
            out.append(
                f"| {r.prompt_id} | {r.model} | {_clip(r.gold, 40)} | {_clip(r.extracted_answer, 60)} | "
                f"{r.score:.0f} ({_clip(r.score_reason, 40)}) | {r.zeroeval_score:.0f} | "
                f"{_clip(r.response, 120)} |"
            )
    return "\n".join(out) + "\n"

"""``python -m analysis.paper_tables runs='<glob>'``: the published xRouter table beside our runs.

Prints the paper's layout (rows: the paper's models and xRouter-7B; per benchmark: "score ($cost)")
from ``analysis/reference/xrouter_published.csv``, with an "ours" score and cost beside each paper
figure where one of our runs matches: a single-model run of the same model on the same benchmark
(names compared without case and punctuation: ``gpt-4-1`` is GPT-4.1), and, as extra rows, our
other policies (router, baselines) on a paper benchmark.  Everything else is "—", and the script
says which benchmarks our runs are on.  Our scores are put on the paper's scale (MT-Bench x10,
LiveBench x100) and LiveBench cost is the total over the benchmark, as published.

Options (``key=value``): ``runs`` (glob(s); optional: without it only the paper's figures print),
``layout`` (``wide``, the paper's, default; or ``long``: one row per model, benchmark and metric),
``out`` (optional: also write ``paper_table.md`` and ``paper_table.tex`` there).
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pandas as pd

from analysis.runs import ALL, load_runs

REFERENCE = Path(__file__).parent / "reference" / "xrouter_published.csv"
DASH = "—"
# our benchmark names that mean a paper benchmark, beyond case and punctuation
ALIASES = {
    "livecodebenchv5": ["livecodebench", "lcb", "lcbv5", "livecodebenchv5"],
    "gpqadiamond": ["gpqadiamond", "gpqa"],
    "aime25": ["aime25", "aime2025"],
    "mtbench": ["mtbench"],
    "ifeval": ["ifeval"],
    "livebench": ["livebench"],
}
SCALE = {"score_1_10": 10.0, "score_0_100": 100.0}  # our 0-1 scores onto the paper's scale
TOTAL_COST = {"LiveBench"}  # published cost is the benchmark's total, not per query


def norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def load_reference(path: Path = REFERENCE) -> pd.DataFrame:
    return pd.read_csv(path)


def paper_benchmark_of(name: str, paper_benchmarks: list[str]) -> str | None:
    key = norm(name)
    for bench in paper_benchmarks:
        if key in ALIASES.get(norm(bench), [norm(bench)]):
            return bench
    return None


def single_model_of(row: pd.Series) -> str:
    shares = row["model_share"] or {}
    return next(iter(shares)) if len(shares) == 1 else str(row["label"]).removeprefix("single").strip()


def our_figures(frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Our runs that fall on a paper benchmark: one row per (row name, benchmark) with score and cost
    on the paper's scale; ``row`` is the paper's model name for single-model runs of a paper model,
    else ``ours: <label>``."""
    benches = list(dict.fromkeys(reference["benchmark"]))
    metric = reference.groupby("benchmark", sort=False)["metric"].first()  # the benchmark's headline metric
    paper_models = {norm(m): m for m in reference["model"].unique()}
    out = []
    for _, r in frame.iterrows():
        bench = paper_benchmark_of(r["scope"] if r["scope"] != ALL else r["benchmark"], benches)
        if bench is None:
            continue
        if r["policy"] == "single":
            model = single_model_of(r)
            name = paper_models.get(norm(model), f"ours: single {model}")
        else:
            name = f"ours: {r['label']}"
        cost = r["cost_per_query"] * (r["n"] if bench in TOTAL_COST and pd.notna(r["n"]) else 1)
        out.append(
            {
                "row": name,
                "benchmark": bench,
                "metric": metric[bench],
                "score": r["accuracy"] * SCALE.get(metric[bench], 1.0),
                "cost_usd": cost,
                "run": r["run"],
            }
        )
    return pd.DataFrame(out, columns=["row", "benchmark", "metric", "score", "cost_usd", "run"])


def long_table(reference: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, benchmark, metric): paper score and cost, ours beside them (NaN: none)."""
    paper = reference.rename(columns={"model": "row", "score": "paper_score", "cost_usd": "paper_cost_usd"})
    mine = ours.drop(columns="run").rename(columns={"score": "our_score", "cost_usd": "our_cost_usd"})
    mine = mine.drop_duplicates(["row", "benchmark", "metric"], keep="last")
    table = paper.merge(mine, on=["row", "benchmark", "metric"], how="outer")
    orders = {
        "row": list(reference["model"]) + list(ours["row"]),
        "benchmark": list(reference["benchmark"]),
        "metric": list(reference["metric"]),
    }
    ranks = {col: {v: i for i, v in enumerate(dict.fromkeys(values))} for col, values in orders.items()}
    return table.sort_values(list(orders), key=lambda s: s.map(ranks[s.name])).reset_index(drop=True)


def _fmt(value: float, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if kind == "cost":
        return f"{value:.4g}" if value >= 1 else f"{value:.2e}"
    return f"{value:.4f}" if value <= 1 else f"{value:.2f}"


def wide_table(long: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: one row per model, one column per benchmark (IFEval: per metric) holding
    "score ($cost)", the paper's figure and then ours."""
    columns: dict[str, dict[str, str]] = {}
    rows = list(dict.fromkeys(long["row"]))
    n_metrics = long.groupby("benchmark")["metric"].nunique()
    for (bench, metric), group in long.groupby(["benchmark", "metric"], sort=False):
        name = bench if n_metrics[bench] == 1 else f"{bench} {metric}"
        by_row = group.set_index("row")
        for head, score, cost in (("", "paper_score", "paper_cost_usd"), (" ours", "our_score", "our_cost_usd")):
            columns[f"{name}{head}"] = {
                r: _cell(by_row[score].get(r, math.nan), by_row[cost].get(r, math.nan)) for r in rows
            }
    table = pd.DataFrame(columns, index=rows)
    table.index.name = "model"
    return table.fillna(DASH).reset_index()


def _cell(score: float, cost: float) -> str:
    if pd.isna(score):
        return DASH
    return f"{_fmt(score, 'score')} (${_fmt(cost, 'cost')})"


def report(frame: pd.DataFrame | None, reference: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    ours = (
        our_figures(frame, reference)
        if frame is not None
        else our_figures(
            pd.DataFrame(
                columns=[
                    "scope",
                    "benchmark",
                    "policy",
                    "label",
                    "model_share",
                    "cost_per_query",
                    "n",
                    "accuracy",
                    "run",
                ]
            ),
            reference,
        )
    )
    long = long_table(reference, ours)
    if frame is None:
        note = "no runs given (runs=<glob>): the paper's figures only; every 'ours' column is —."
    else:
        have = sorted({f"{b}/{s}" if s != ALL else b for b, s in zip(frame["benchmark"], frame["scope"])})
        matched = sorted(set(ours["benchmark"]))
        note = (
            f"our runs ({frame[frame.scope == ALL].shape[0]}) are on: {', '.join(have)}.  "
            + (
                f"Paper benchmarks matched: {', '.join(matched)}; "
                if matched
                else "None of them is a paper benchmark, so every 'ours' column is —; "
            )
            + "— means no matching run (same benchmark, and for the paper's models the same model)."
        )
    return long, wide_table(long), note


def main(argv: list[str] | None = None) -> None:
    options = {}
    for arg in sys.argv[1:] if argv is None else argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in {"runs", "layout", "out"}:
            raise SystemExit(f"paper_tables: error: expected [runs=<glob>] [layout=wide|long] [out=<dir>], got {arg!r}")
        options[key] = value
    try:
        frame = load_runs(options["runs"]) if options.get("runs") else None
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"paper_tables: error: {error}") from None
    reference = load_reference()
    long, wide, note = report(frame, reference)
    layout = options.get("layout", "wide")
    if layout not in ("wide", "long"):
        raise SystemExit(f"paper_tables: error: layout must be wide or long, got {layout!r}")
    shown = (
        wide
        if layout == "wide"
        else long.assign(
            **{
                c: long[c].map(lambda v, k=("cost" if "cost" in c else "score"): _fmt(v, k))
                for c in long.columns
                if "_" in c and c != "metric"
            }
        )
    )
    title = (
        "xRouter (arXiv 2510.08439) published figures; 'ours' from our runs. Cost: USD per query "
        "(LiveBench: total over the benchmark)."
    )
    text = shown.to_markdown(index=False, disable_numparse=True)
    print(title)
    print(text)
    print(f"\nnote: {note}")
    if options.get("out"):
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "paper_table.md").write_text(f"{title}\n\n{text}\n\nnote: {note}\n")
        (out / "paper_table.tex").write_text(shown.to_latex(index=False, caption=title, label="tab:paper"))


if __name__ == "__main__":
    main()

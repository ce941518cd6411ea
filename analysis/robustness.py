"""``python -m analysis.robustness <run dirs or globs> [out=<dir>]``: a DSC-style escalation report.

After "How Robust Are Router-LLMs? Analysis of the Fragility of LLM Routing Capabilities" (the DSC
benchmark), which found routers sending simple queries to strong models.  From run files only, it
groups the test queries by category (``CATEGORIES``: each sub-benchmark mapped to coding, math,
translation, instructions, general knowledge or jailbreak) and reports, for every routing policy:

- ``escalation``: share of queries sent to the top price tier (any call to a top-tier model);
- ``over_escalation``: share of queries sent to the top tier although the pool's cheapest model
  answered them correctly;
- ``under_escalation``: share of queries kept below the top tier whose answer was wrong although a
  top-tier model answered correctly.

All three are shares of the category's queries (and of each sub-benchmark's, where a category holds
several: ZeroEval's math is MATH level 5 and GSM8K).  No dataset here has jailbreak prompts.  Per-query
outcomes of each model come from the
``policy=single`` runs among the inputs (same benchmark, pool and split); the top price tier is the
models whose mean cost per query is at least ``top_tier_ratio`` (default 1/3) of the dearest one's.
A swept policy is represented by its *matched-cost* point: the run whose cost per query is nearest,
in log cost, to the geometric middle of the single models' cost range; seeds of one family are
averaged.  Writes ``robustness_<benchmark>.md`` and ``robustness_<benchmark>.png`` into ``out``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.runs import family_of, find_run_dirs, load_episodes, read_summary, seed_of

CATEGORIES = {  # sub-benchmark (episodes' ``benchmark`` column) -> DSC category
    "arc_challenge": "general knowledge",
    "winogrande": "general knowledge",
    "mmlu": "general knowledge",
    "mmlu_pro": "general knowledge",
    "gpqa": "general knowledge",
    "mbpp": "coding",
    "humaneval": "coding",
    "livecodebench": "coding",
    "math-l5": "math",
    "gsm": "math",
    "gsm8k": "math",
    "math500": "math",
    "aime24": "math",
    "aime25": "math",
    "amc23": "math",
    "olympiadbench": "math",
    "minerva_math": "math",
    "mt_bench": "instructions",
    "ifeval": "instructions",
    "alpaca_eval": "instructions",
    "wmt": "translation",
    "flores": "translation",
    "jailbreakbench": "jailbreak",
    "advbench": "jailbreak",
}
RATES = ["escalation", "over_escalation", "under_escalation"]


def category_of(sub_benchmark: str) -> str:
    return CATEGORIES.get(str(sub_benchmark), "other")


def load(patterns: list[str]) -> list[dict[str, Any]]:
    """Every run under the patterns: its summary and episodes."""
    runs = []
    for run_dir in find_run_dirs(patterns):
        episodes = load_episodes(run_dir)
        if episodes is not None:
            runs.append({"dir": run_dir, "summary": read_summary(run_dir), "episodes": episodes})
    if not runs:
        raise FileNotFoundError(f"no run directory with episodes.parquet matches {patterns}")
    return runs


def model_outcomes(singles: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.Series]:
    """(score [prompt x model], mean cost per query per model) from single-model runs."""
    scores, costs = {}, {}
    for run in singles:
        episodes = run["episodes"]
        model = str(episodes["models_called"].iloc[0][0])
        scores[model] = episodes.set_index("prompt_id")["score"].astype(float)
        costs[model] = float(run["summary"]["cost_per_query"])
    return pd.DataFrame(scores), pd.Series(costs)


def top_tier(costs: pd.Series, ratio: float) -> set[str]:
    """The models whose mean cost per query is at least ``ratio`` of the dearest model's."""
    return set(costs[costs >= ratio * costs.max()].index)


def escalation_rates(episodes: pd.DataFrame, scores: pd.DataFrame, top: set[str], cheapest: str) -> pd.DataFrame:
    """Per query: escalated, over-escalated, under-escalated (0/1), with its category."""
    missing = set(episodes["prompt_id"]) - set(scores.index)
    if missing:
        raise ValueError(
            f"{len(missing)} episodes have no single-model outcomes (e.g. {sorted(missing)[:2]}): "
            "pass the single-model runs of the same benchmark, pool and split"
        )
    outcome = scores.loc[episodes["prompt_id"].to_numpy()]
    top_right = outcome[sorted(top)].max(axis=1).to_numpy() >= 0.5
    cheap_right = outcome[cheapest].to_numpy() >= 0.5
    escalated = episodes["models_called"].map(lambda ms: any(str(m) in top for m in ms)).to_numpy()
    wrong = episodes["score"].astype(float).to_numpy() < 0.5
    return pd.DataFrame(
        {
            "category": episodes["benchmark"].map(category_of).to_numpy(),
            "sub_benchmark": episodes["benchmark"].astype(str).to_numpy(),
            "escalation": escalated.astype(float),
            "over_escalation": (escalated & cheap_right).astype(float),
            "under_escalation": (~escalated & wrong & top_right).astype(float),
            "accuracy": episodes["score"].astype(float).to_numpy(),
        }
    )


def scopes(per_query: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``all``, each category, and ``category: sub-benchmark`` where a category holds several."""
    out = [("all", per_query)]
    for category, part in per_query.groupby("category", sort=True):
        out.append((category, part))
        if part["sub_benchmark"].nunique() > 1:
            out.extend((f"{category}: {sub}", rows) for sub, rows in part.groupby("sub_benchmark", sort=True))
    return out


def matched_point(runs: list[dict[str, Any]], target_cost: float) -> dict[str, Any]:
    return min(runs, key=lambda r: abs(math.log(max(float(r["summary"]["cost_per_query"]), 1e-12) / target_cost)))


def report(runs: list[dict[str, Any]], top_tier_ratio: float = 1 / 3) -> dict[str, pd.DataFrame]:
    """``{benchmark: table}``: one row per (policy family, category), rates averaged over seeds."""
    tables = {}
    keys = sorted(
        {(r["summary"].get("benchmark"), r["summary"].get("pool"), r["summary"].get("split")) for r in runs}, key=str
    )
    for benchmark, pool, split in keys:
        here = [
            r
            for r in runs
            if (r["summary"].get("benchmark"), r["summary"].get("pool"), r["summary"].get("split"))
            == (benchmark, pool, split)
        ]
        singles = [r for r in here if r["summary"].get("policy") == "single"]
        if not singles:
            print(f"robustness: {benchmark}/{split}: no single-model runs, skipped", file=sys.stderr)
            continue
        scores, costs = model_outcomes(singles)
        top, cheapest = top_tier(costs, top_tier_ratio), str(costs.idxmin())
        target = math.sqrt(costs.min() * costs.max())
        groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
        for r in here:
            s = r["summary"]
            if s.get("policy") == "single":
                continue
            family = family_of(s.get("policy", ""), s.get("label", ""), s.get("knob") or {})
            groups.setdefault((family, seed_of(r["dir"], s)), []).append(r)
        rows = []
        for (family, seed), members in groups.items():
            chosen = matched_point(members, target)
            per_query = escalation_rates(chosen["episodes"], scores, top, cheapest)
            for category, part in scopes(per_query):
                rows.append(
                    {
                        "policy": family,
                        "seed": seed,
                        "category": category,
                        "n": len(part),
                        "knob": json.dumps(chosen["summary"].get("knob") or {}),
                        "cost_per_query": float(
                            chosen["episodes"].loc[part.index, "tool_cost_usd"].mean()
                            + chosen["episodes"].loc[part.index, "router_cost_usd"].mean()
                        ),
                        **{k: float(part[k].mean()) for k in ["accuracy", *RATES]},
                    }
                )
        frame = pd.DataFrame(rows)
        table = (
            frame.groupby(["policy", "category"], sort=True)
            .agg(
                seeds=("seed", "nunique"),
                n=("n", "first"),
                knob=("knob", lambda k: ", ".join(sorted(set(k)))),
                accuracy=("accuracy", "mean"),
                cost_per_query=("cost_per_query", "mean"),
                **{k: (k, "mean") for k in RATES},
            )
            .reset_index()
        )
        table.attrs.update(top_tier=sorted(top), cheapest=cheapest, target_cost=target)
        tables[str(benchmark)] = table
    return tables


def to_markdown(table: pd.DataFrame) -> str:
    head = (
        f"top price tier: {', '.join(table.attrs['top_tier'])}; cheapest model: {table.attrs['cheapest']}; "
        f"matched cost ${table.attrs['target_cost']:.2e}/query\n\n"
    )
    lines = [
        "| policy | category | seeds | n | point | accuracy | $/query "
        "| escalation | over-escalation | under-escalation |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.policy} | {r.category} | {r.seeds} | {r.n} | {r.knob} | {r.accuracy:.3f} | "
            f"{r.cost_per_query:.2e} | {r.escalation:.3f} | {r.over_escalation:.3f} | "
            f"{r.under_escalation:.3f} |"
        )
    return head + "\n".join(lines) + "\n"


def figure(table: pd.DataFrame, title: str):
    """Three panels (escalation, over-, under-escalation): per category, one bar per policy."""
    import matplotlib.pyplot as plt

    categories = sorted(table["category"].unique(), key=lambda c: (c != "all", c))
    policies = sorted(table["policy"].unique())
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    width = 0.8 / max(len(policies), 1)
    for ax, rate in zip(axes, RATES):
        for i, policy in enumerate(policies):
            rows = table[table["policy"] == policy].set_index("category")
            values = [float(rows[rate].get(c, float("nan"))) for c in categories]
            ax.bar([j + i * width for j in range(len(categories))], values, width, label=policy)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(categories))], categories, rotation=25, ha="right")
        ax.set_title(rate.replace("_", "-"))
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("share of the category's queries")
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv: list[str]) -> dict[str, list[str]]:
    options = dict(a.split("=", 1) for a in argv if "=" in a and not Path(a).exists())
    patterns = [a for a in argv if a not in {f"{k}={v}" for k, v in options.items()}]
    unknown = set(options) - {"out", "top_tier_ratio"}
    if unknown or not patterns:
        raise SystemExit(
            "usage: python -m analysis.robustness <run dirs or globs> [out=<dir>] [top_tier_ratio=0.33]"
            + (f" (unknown option {sorted(unknown)})" if unknown else "")
        )
    import matplotlib

    matplotlib.use("Agg")
    out = Path(options.get("out", "outputs/robustness"))
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    for benchmark, table in report(load(patterns), float(options.get("top_tier_ratio", 1 / 3))).items():
        md, png = out / f"robustness_{benchmark}.md", out / f"robustness_{benchmark}.png"
        md.write_text(to_markdown(table))
        figure(table, f"{benchmark}: escalation at the matched-cost point").savefig(png, dpi=120)
        print(to_markdown(table))
        written[benchmark] = [str(md), str(png)]
    print(json.dumps(written))
    return written


if __name__ == "__main__":
    main(sys.argv[1:])

"""Cost-accuracy Pareto plots and model-call shares from tidy run rows.

Functions return matplotlib Figures; ``python -m analysis.make_figures`` renders them with the Agg
backend, a notebook shows them inline.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from analysis.runs import ALL
from analysis.scores import ORACLE, frontier_of

ROUTER_POLICIES = ("router", "router_prompted")
POINT_POLICIES = ("single", ORACLE)


def scopes_of(rows: pd.DataFrame) -> list[str]:
    """``all`` first, then the sub-benchmarks (a run set with one sub-benchmark shows only ``all``)."""
    subs = sorted(s for s in rows["scope"].unique() if s != ALL)
    return [ALL] + (subs if len(subs) > 1 else [])


def short_model(name: str) -> str:
    return str(name).split("/")[-1]


def cost_floor(costs: pd.Series) -> float:
    """Where a zero cost is drawn on the log axis: a decade below the cheapest positive cost."""
    positive = costs[costs > 0]
    return float(positive.min()) / 10 if len(positive) else 1e-6


def _curve_order(family_rows: pd.DataFrame) -> pd.DataFrame:
    has_knob = family_rows["knob_value"].notna().all() and family_rows["policy"].iloc[0] in ROUTER_POLICIES
    return family_rows.sort_values("knob_value" if has_knob else "cost_per_query")


def pareto_panel(ax, rows: pd.DataFrame, title: str) -> None:
    """One panel: single models as labelled points, the oracle, each baseline's curve, the router's
    lambda sweep (joined in lambda order, points annotated) and the frontier of all non-oracle runs."""
    rows = rows.copy()
    floor = cost_floor(rows["cost_per_query"])
    rows["x"] = rows["cost_per_query"].where(rows["cost_per_query"] > 0, floor)
    singles = rows[rows["policy"] == "single"]
    if len(singles):
        ax.scatter(singles["x"], singles["accuracy"], color="0.45", s=22, zorder=3, label="single models")
    for _, r in singles.iterrows():
        model = next(iter(r["model_share"]), None) if r["model_share"] else None
        name = short_model(model or r["label"].removeprefix("single").strip())
        ax.annotate(
            name, (r["x"], r["accuracy"]), textcoords="offset points", xytext=(4, -3), fontsize=6.5, color="0.3"
        )
    oracle = rows[rows["policy"] == ORACLE]
    if len(oracle):
        ax.scatter(
            oracle["x"], oracle["accuracy"], marker="*", s=140, color="gold", edgecolor="k", zorder=5, label="oracle"
        )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    others = rows[~rows["policy"].isin(POINT_POLICIES)]
    families = sorted(
        others["family"].unique(),
        key=lambda f: (others.loc[others.family == f, "policy"].iloc[0] not in ROUTER_POLICIES, f),
    )
    for i, family in enumerate(families):
        fam = _curve_order(others[others["family"] == family])
        is_router = fam["policy"].iloc[0] in ROUTER_POLICIES
        style = (
            dict(color="crimson", lw=2.2, marker="o", ms=5, zorder=6)
            if is_router and i == 0
            else dict(color=colours[i % len(colours)], lw=1.3, marker="o" if is_router else ".", ms=4, zorder=4)
        )
        if len(fam) == 1:
            style.update(marker="D", ms=6, lw=0)
        ax.plot(fam["x"], fam["accuracy"], label=family, **style)
        if is_router:  # one note per distinct point: "λ=1,3" where two lambdas land on the same point
            knobs = fam.dropna(subset=["knob_value"]).groupby(["x", "accuracy"], sort=False)["knob_value"]
            for (x, acc), values in knobs:
                ax.annotate(
                    "λ=" + ",".join(f"{v:g}" for v in sorted(values)),
                    (x, acc),
                    textcoords="offset points",
                    xytext=(3, 4),
                    fontsize=6.5,
                    color=style["color"],
                )
    front = frontier_of(rows)
    if len(front) > 1:
        ax.step(
            front["x"],
            front["accuracy"],
            where="post",
            color="k",
            ls="--",
            lw=0.9,
            alpha=0.7,
            zorder=2,
            label="Pareto frontier",
        )
    ax.set_xscale("log")
    ax.set_xlabel(
        "cost per query (USD, log)" + (f"; 0 drawn at {floor:.0e}" if (rows["cost_per_query"] <= 0).any() else "")
    )
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)


def pareto_figure(frame: pd.DataFrame, benchmark: str) -> Figure:
    """One panel per scope (overall, then each sub-benchmark) of one benchmark's runs."""
    rows = frame[frame["benchmark"] == benchmark]
    scopes = scopes_of(rows)
    ncols = 2 if len(scopes) == 4 else min(len(scopes), 3)
    nrows = math.ceil(len(scopes) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.0 * ncols, 4.6 * nrows), squeeze=False)
    for ax, scope in zip(axes.flat, scopes):
        sub = rows[rows["scope"] == scope]
        n = sub["n"].dropna()
        pareto_panel(ax, sub, f"{benchmark} / {scope}" + (f" (n={int(n.max())})" if len(n) else ""))
    for ax in list(axes.flat)[len(scopes) :]:
        ax.set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = min(len(labels), 6)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, (0.035 + 0.03 * math.ceil(len(labels) / ncol)) / nrows, 1, 1))
    return fig


def thin_sweeps(rows: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """At most ``max_points`` runs per family (evenly spaced in knob order, both ends kept)."""
    keep = []
    for _, fam in rows.groupby("family", sort=False):
        fam = fam.sort_values(["knob_value", "label"])
        if len(fam) > max_points:
            picks = sorted({round(i * (len(fam) - 1) / (max_points - 1)) for i in range(max_points)})
            fam = fam.iloc[picks]
        keep.append(fam)
    return pd.concat(keep) if keep else rows


def shares_figure(frame: pd.DataFrame, benchmark: str, max_points: int = 8) -> Figure:
    """Each routing run's share of model calls (stacked bars, one bar per run), one panel per scope; a
    run that answers some queries itself shows its direct-answer rate on its bar.  Single-model
    runs (one model, share 1) are left out when there is anything else to show; a sweep shows at
    most ``max_points`` of its runs."""
    rows = frame[frame["benchmark"] == benchmark]
    routed = rows[~rows["policy"].isin(("single",))]
    rows = routed if len(routed) else rows
    shown = set(thin_sweeps(rows[rows["scope"] == ALL], max_points)["run"])
    rows = rows[rows["run"].isin(shown)]
    scopes = scopes_of(rows)
    models = sorted({m for shares in rows["model_share"] for m in shares}, key=short_model)
    colours = plt.get_cmap("tab20")(range(max(len(models), 1)))
    n_bars = rows[rows["scope"] == ALL].shape[0]
    fig, axes = plt.subplots(
        1, len(scopes), figsize=(4.6 * len(scopes), 1.2 + 0.32 * n_bars), squeeze=False, sharey=True
    )
    for ax, scope in zip(axes[0], scopes):
        sub = rows[rows["scope"] == scope].sort_values(["family", "knob_value", "label"], ascending=False)
        left = [0.0] * len(sub)
        labels = list(sub["label"])
        for colour, model in zip(colours, models):
            share = [float(s.get(model, 0.0)) for s in sub["model_share"]]
            ax.barh(labels, share, left=left, color=colour, label=short_model(model), height=0.8)
            left = [a + b for a, b in zip(left, share)]
        for label, rate in zip(labels, sub["direct_answer_rate"].fillna(0)):
            if rate > 0:
                ax.text(
                    0.98,
                    label,
                    f"direct {rate:.0%}",
                    ha="right",
                    va="center",
                    fontsize=6.5,
                    bbox=dict(facecolor="white", alpha=0.8, lw=0, pad=1),
                )
        ax.set_xlim(0, 1)
        ax.set_title(f"{benchmark} / {scope}", fontsize=10)
        ax.set_xlabel("share of model calls")
        ax.tick_params(axis="y", labelsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(labels), 6),
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout()
    return fig


def save(fig: Figure, path) -> None:
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)

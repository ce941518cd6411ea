"""Recorded outcomes of every pool model on a set of prompts: what the baselines learn from.

A ``RouteTable`` is the trace matrix of one split: for each prompt (row) and pool model (column)
the recorded score, cost and response.  Models are the pool's names (``call_<name>``), mapped from
the traces' model ids by the pool config's ``trace_model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrouter.config import to_plain


@dataclass
class RouteTable:
    prompt_ids: np.ndarray  # [n] str
    prompts: list[str]  # [n]
    benchmarks: np.ndarray  # [n] str (sub-benchmark of each prompt)
    models: list[str]  # [m] pool names
    score: np.ndarray  # [n, m] float
    cost_usd: np.ndarray  # [n, m] float
    responses: np.ndarray  # [n, m] object (str or None)
    trace_models: list[str] = field(default_factory=list)  # [m] the models' ids in the traces
    traces: pd.DataFrame = field(repr=False, default=None)  # the canonical rows behind it

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def subset(self, rows: np.ndarray) -> RouteTable:
        rows = np.asarray(rows)
        keep = set(self.prompt_ids[rows].tolist())
        traces = self.traces[self.traces["prompt_id"].isin(keep)] if self.traces is not None else None
        return RouteTable(
            self.prompt_ids[rows],
            [self.prompts[i] for i in rows],
            self.benchmarks[rows],
            self.models,
            self.score[rows],
            self.cost_usd[rows],
            self.responses[rows],
            self.trace_models,
            traces,
        )

    def single_model_points(self, cost_unit_usd: float = 1.0) -> dict[str, tuple[float, float]]:
        """``{model: (mean cost / cost_unit_usd, mean score)}`` over the table's prompts."""
        cost, score = self.cost_usd.mean(0) / cost_unit_usd, self.score.mean(0)
        return {m: (float(cost[j]), float(score[j])) for j, m in enumerate(self.models)}


def pool_trace_models(pool_cfg: Mapping[str, Any], traces: pd.DataFrame | None = None) -> dict[str, str]:
    """``{pool name: model id in the traces}`` of a replay pool config."""
    from xrouter.pool.specs import model_specs

    specs = model_specs(to_plain(pool_cfg), traces)
    return {name: spec.get("trace_model", name) for name, spec in specs.items()}


def route_table(
    traces: pd.DataFrame, trace_models: Mapping[str, str], split: str | None = None, prompt_ids: list[str] | None = None
) -> RouteTable:
    """The table of ``split`` (or of ``prompt_ids``, in that order): prompts every pool model answered."""
    from xrouter.data.datasets import select_split
    from xrouter.data.traces import complete_prompts

    names = list(trace_models)
    to_name = {t: n for n, t in trace_models.items()}
    rows = select_split(traces, split) if split is not None else traces
    rows = rows[rows["model"].isin(list(to_name))]
    rows, _ = complete_prompts(rows, list(to_name))
    if prompt_ids is not None:
        wanted = pd.Index(prompt_ids)
        missing = wanted.difference(pd.Index(rows["prompt_id"].unique()))
        if len(missing):
            raise KeyError(
                f"{len(missing)} prompts have no recorded answer from every pool model (e.g. {list(missing[:3])})"
            )
        rows = rows[rows["prompt_id"].isin(wanted)]
        order = list(prompt_ids)
    else:
        order = list(dict.fromkeys(rows["prompt_id"].tolist()))
    if not order:
        raise ValueError(f"no prompts with answers from every pool model ({names}) in split {split!r}")
    index = {p: i for i, p in enumerate(order)}
    column = {n: j for j, n in enumerate(names)}
    n, m = len(order), len(names)
    score, cost = np.zeros((n, m)), np.zeros((n, m))
    responses = np.empty((n, m), dtype=object)
    prompts, benchmarks = [""] * n, np.empty(n, dtype=object)
    for pid, model, s, c, response, prompt, bench in rows[
        ["prompt_id", "model", "score", "cost_usd", "response", "prompt", "benchmark"]
    ].itertuples(index=False, name=None):
        i, j = index[pid], column[to_name[model]]
        score[i, j], cost[i, j] = float(s), float(c)
        responses[i, j] = (
            None
            if response is None or response is pd.NA or (isinstance(response, float) and np.isnan(response))
            else str(response)
        )
        prompts[i], benchmarks[i] = str(prompt), str(bench)
    return RouteTable(
        np.asarray(order, dtype=object),
        prompts,
        benchmarks,
        names,
        score,
        cost,
        responses,
        [trace_models[n] for n in names],
        rows.reset_index(drop=True),
    )


def recorded_table(
    pool_cfg: Mapping[str, Any],
    prompt_ids: list[str],
    data_dir: Path,
    cache_dir: Path | None,
    traces: pd.DataFrame | None = None,
) -> RouteTable:
    """The table of the pool's own recorded traces (``traces`` when already loaded) on ``prompt_ids``."""
    if traces is None:
        traces = load_traces_for(to_plain(pool_cfg), None, data_dir, cache_dir)
    return route_table(traces, pool_trace_models(pool_cfg, traces), None, prompt_ids=prompt_ids)


def load_traces_for(
    pool_cfg: Mapping[str, Any], source: str | None, data_dir: Path, cache_dir: Path | None
) -> pd.DataFrame:
    """Recorded traces to learn from: ``source`` (a dataset name or trace file), else the pool's own."""
    from xrouter.data.datasets import load_pool_traces, pool_traces

    if source:  # a policy's own traces (another recording of the same models)
        return load_pool_traces(str(source), data_dir, cache_dir)
    if not pool_cfg.get("traces") or pool_cfg.get("traces") == "???":
        raise ValueError(
            f"pool '{pool_cfg.get('name')}' has no recorded traces: learned and oracle baselines "
            "need them; set policy.traces=<dataset name or canonical trace file>"
        )
    return pool_traces(pool_cfg, data_dir, cache_dir)

"""Query-blind and hindsight baselines: single, cheapest, random, oracle, best_fixed_per_task."""

from __future__ import annotations

from typing import Any

import numpy as np

from xrouter.metrics import nondecreasing_convex_hull
from xrouter.policies.base import LearnedPolicy, Policy, choose_by_utility, stable_uniform
from xrouter.policies.table import RouteTable


class Single(Policy):
    """Every query to one pool model (``policy.model``)."""

    name = "single"

    def prepare(self, examples):
        super().prepare(examples)
        if not self.cfg.get("model") or self.cfg["model"] == "???":
            raise ValueError(f"policy=single needs policy.model=<one of {', '.join(self.ctx.pool_names)}>")
        self.model = self._check_model(str(self.cfg["model"]))

    @property
    def label(self) -> str:
        return f"single {self.cfg.get('model')}"

    def first(self, rows):
        return [self.model] * len(rows)


class Cheapest(Policy):
    """Every query to the pool's cheapest model by list price (``ModelPool.cheapest``: lowest
    output price, then input price)."""

    name = "cheapest"

    @property
    def label(self) -> str:
        return f"cheapest ({self.ctx.cheapest})"

    def first(self, rows):
        return [self.ctx.cheapest] * len(rows)


class Random(Policy):
    """Query-blind random routing, seeded per prompt id (so order and resumption do not matter).

    * ``budget: null``: uniform over the pool's models (or ``policy.models``).
    * ``budget: b`` in [0, 1] (the knob): RouterBench's *zero router*: a random mixture of the two
      single models that bracket the target cost ``c_lo + b * (c_hi - c_lo)`` on the non-decreasing
      convex hull of the single models' (mean cost, accuracy) on the fit split; sweeping ``b``
      traces that hull, the best any query-blind router can do in expectation.
    """

    name = "random"
    knob_name = "budget"

    def prepare(self, examples):
        super().prepare(examples)
        models = self.cfg.get("models") or self.ctx.pool_names
        self.models = [self._check_model(m) for m in models]
        self._hull = None
        self._u = [stable_uniform(self.ctx.seed, f"random/{e['prompt_id']}") for e in self.examples]

    def _fit_hull(self) -> list[tuple[str, float, float]]:
        if self._hull is None:
            mode = self.cfg.get("fit_split") or self.ctx.fit_split
            mode = (
                ("train" if "train" in self.ctx.splits_available() else "crossfit") if mode in (None, "auto") else mode
            )
            table = (
                self.ctx.eval_table([str(e["prompt_id"]) for e in self.examples])
                if mode == "crossfit"
                else self.ctx.fit_table(mode)
            )
            points = table.single_model_points(self.ctx.cost_unit_usd)
            names = [m for m in table.models if m in self.models]
            array = np.asarray([points[m] for m in names])
            hull = nondecreasing_convex_hull(array)
            chosen = []
            for cost, quality in hull:  # the model behind each vertex (the cheapest at that point)
                j = min(
                    (k for k in range(len(names)) if array[k, 0] == cost and array[k, 1] == quality),
                    key=lambda k: names[k],
                )
                chosen.append((names[j], float(cost), float(quality)))
            self._hull = chosen
            self.info["hull"] = [m for m, _, _ in chosen]
            self.info["fit"] = f"single-model hull on split {mode} ({len(table)} prompts)"
        return self._hull

    def first(self, rows):
        u = [self._u[i] for i in rows]
        if self.knob_value is None:
            return [self.models[min(int(x * len(self.models)), len(self.models) - 1)] for x in u]
        hull = self._fit_hull()
        budget = min(max(float(self.knob_value), 0.0), 1.0)
        lo, hi = hull[0][1], hull[-1][1]
        target = lo + budget * (hi - lo)
        if len(hull) == 1 or target <= lo:
            return [hull[0][0]] * len(rows)
        k = next(i for i in range(1, len(hull)) if hull[i][1] >= target)
        (m0, c0, _), (m1, c1, _) = hull[k - 1], hull[k]
        p_upper = (target - c0) / (c1 - c0)
        return [m1 if x < p_upper else m0 for x in u]


class Oracle(Policy):
    """Hindsight upper bound: per query the cheapest model whose recorded answer scored correct,
    else the cheapest (``xrouter.data.stats.oracle_choice``: best score, then lowest recorded
    cost, then model id).  Needs the evaluated prompts' recorded outcomes (a replay pool)."""

    name = "oracle"
    needs_recorded_outcomes = True

    def prepare(self, examples):
        from xrouter.data.stats import oracle_choice

        super().prepare(examples)
        ids = [str(e["prompt_id"]) for e in self.examples]
        table = self.ctx.eval_table(ids)
        to_name = dict(zip(table.trace_models, table.models))
        choice = oracle_choice(table.traces).set_index("prompt_id")["model"]
        self.choice = [to_name[choice[p]] for p in ids]

    def first(self, rows):
        return [self.choice[i] for i in rows]


class BestFixedPerTask(LearnedPolicy):
    """Per sub-benchmark (the examples' ``benchmark``), the one model maximising
    ``mean score - lam * mean cost`` on the fit split, cost in the reward's units
    (``reward.cost_unit_usd``); ties go to the cheaper model.  A sub-benchmark missing from the
    fit split uses the figures over all of it."""

    name = "best_fixed_per_task"
    knob_name = "lam"

    def fit(self, table: RouteTable) -> dict[str, Any]:
        unit = self.ctx.cost_unit_usd
        per = {
            b: (table.score[table.benchmarks == b].mean(0), table.cost_usd[table.benchmarks == b].mean(0) / unit)
            for b in sorted(set(table.benchmarks.tolist()))
        }
        per[None] = (table.score.mean(0), table.cost_usd.mean(0) / unit)
        return {"per": per, "models": table.models}

    def predict(self, state, rows):
        order = [state["models"].index(m) for m in self.ctx.pool_names]
        score = np.stack(
            [state["per"].get(self.examples[i].get("benchmark"), state["per"][None])[0][order] for i in rows]
        )
        cost = np.stack(
            [state["per"].get(self.examples[i].get("benchmark"), state["per"][None])[1][order] for i in rows]
        )
        return {"score": score, "cost": cost}

    def first(self, rows):
        rows = np.asarray(rows, dtype=int)
        pick = choose_by_utility(self.pred["score"][rows], self.pred["cost"][rows], float(self.knob_value or 0.0))
        return [self.ctx.pool_names[j] for j in pick]

    def chosen_per_task(self) -> dict[str, str]:
        out = {}
        for i, e in enumerate(self.examples):
            out.setdefault(str(e.get("benchmark")), self.first([i])[0])
        return out

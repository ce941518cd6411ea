"""``cascade`` (FrugalGPT style) and ``threshold`` (RouteLLM style) routers.

cascade: call the chain's cheapest model; while a learned correctness predictor says its answer is
likely wrong (P(correct) < ``threshold``), escalate to the next model of the chain; the last
answer is final and every call is paid for.  One logistic regression per chain model but the
last, on the query embedding plus simple features of the answer (``answer_features``), fitted on
the recorded answers of the fit split.  The chain defaults to the models on the non-decreasing
convex hull of the single models' (mean cost, accuracy) on the fit split, cheapest first, at most
``max_chain`` of them (always keeping the cheapest and the most accurate).  FrugalGPT learns one
threshold per stage under a budget; one shared threshold is the knob here.

threshold: for a two-model pool, a logistic regression on the query embedding predicts the strong
model's win rate, P(score_strong > score_weak); the strong model is called when it exceeds the
``threshold`` (RouteLLM calls the strong model when the predicted win rate is at least alpha; a
classifier on embeddings stands in for their BERT / matrix-factorisation routers).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from xrouter.metrics import nondecreasing_convex_hull
from xrouter.policies.base import LearnedPolicy
from xrouter.policies.predictors import fit_logistic
from xrouter.policies.table import RouteTable

_OPTION_START = re.compile(r"^\s*\(?[A-Ea-e]\)?(?:[\s.):,]|$)")
_OPTION_ANY = re.compile(r"(?:^|\s|\()([A-E])(?:\)|\.|:)")
_HEDGE = re.compile(r"\b(sorry|cannot|can't|unable|not sure|unclear|however|neither|none of)\b", re.IGNORECASE)
ANSWER_FEATURES = [
    "log_chars",
    "log_words",
    "log_lines",
    "empty",
    "code",
    "option_first",
    "options_named",
    "hedge",
    "has_number",
    "final_marker",
]


def answer_features(text: str | None) -> list[float]:
    """Ten cheap features of an answer (``ANSWER_FEATURES``): its length, whether it is code, opens
    with an option letter, names several options, hedges or refuses, holds a number, or marks a
    final answer (``####``, "answer is", ``\\boxed``)."""
    text = text or ""
    stripped = text.strip()
    return [
        math.log1p(len(text)),
        math.log1p(len(text.split())),
        math.log1p(text.count("\n")),
        float(not stripped),
        float("```" in text or "def " in text or "[PYTHON]" in text),
        float(bool(_OPTION_START.match(stripped))),
        float(len(set(_OPTION_ANY.findall(text)))),
        float(bool(_HEDGE.search(text))),
        float(bool(re.search(r"\d", text))),
        float("####" in text or "answer is" in text.lower() or "\\boxed" in text),
    ]


def hull_chain(table: RouteTable, models: list[str], max_chain: int) -> list[str]:
    """The models on the fit split's non-decreasing convex hull of (mean cost, accuracy), cheapest
    first; thinned to ``max_chain`` keeping both ends."""
    points = table.single_model_points()
    array = np.asarray([points[m] for m in models])
    hull = nondecreasing_convex_hull(array)
    chain = []
    for cost, quality in hull:
        j = min(
            (k for k in range(len(models)) if array[k, 0] == cost and array[k, 1] == quality), key=lambda k: models[k]
        )
        chain.append(models[j])
    if len(chain) > max_chain:
        keep = np.unique(np.round(np.linspace(0, len(chain) - 1, max_chain)).astype(int))
        chain = [chain[i] for i in keep]
    return chain


class Cascade(LearnedPolicy):
    name = "cascade"
    knob_name = "threshold"

    @property
    def max_calls(self) -> int:  # type: ignore[override]
        return len(self.cfg.get("chain") or []) or int(self.cfg.get("max_chain", 3))

    def fit(self, table: RouteTable) -> dict[str, Any]:
        names = list(self.ctx.pool_names)
        chain = list(self.cfg.get("chain") or hull_chain(table, names, int(self.cfg.get("max_chain", 3))))
        for m in chain:
            self._check_model(m)
        x_query = self.ctx.embedder().embed(table.prompts).astype(np.float64)
        predictors = []
        for model in chain[:-1]:
            j = table.models.index(model)
            feats = np.asarray([answer_features(t) for t in table.responses[:, j]])
            predictors.append(
                fit_logistic(np.hstack([x_query, feats]), table.score[:, j], l2=float(self.cfg.get("l2", 10.0)))
            )
        return {"chain": chain, "predictors": predictors, "d": x_query.shape[1]}

    def predict(self, state, rows):
        x = self.embed_examples(rows).astype(np.float64)
        d = state["d"]
        parts = []
        for p in state["predictors"]:  # the query's part of each logit (knob- and answer-independent)
            z = (x - p.mean[:d]) / p.std[:d]
            parts.append((z * p.w[:d]).sum(axis=1) + p.b)
        return {"query_logit": np.stack(parts, axis=1) if parts else np.zeros((len(rows), 0))}

    def prepare(self, examples):
        self._p_cache: dict[tuple[int, int, str | None], float] = {}
        super().prepare(examples)
        chains = {tuple(s["chain"]) for s in self.states}
        if len(chains) > 1:  # cross-fitting: folds may see different hulls; use the first fold's
            self.info["chain_per_fold"] = [list(c) for c in chains]
        self.chain = list(self.states[0]["chain"])
        self.info["chain"] = self.chain

    def chain_of(self, row: int) -> list[str]:
        return self.states[self.row_fold[row]]["chain"]

    def p_correct(self, row: int, stage: int, answer: str | None) -> float:
        """P(the stage's model answered correctly), for one query and its answer (memoised: it does
        not depend on the knob, so a sweep computes it once)."""
        key = (row, stage, answer)
        if key not in self._p_cache:
            self._p_cache[key] = self._p_correct(row, stage, answer)
        return self._p_cache[key]

    def _p_correct(self, row: int, stage: int, answer: str | None) -> float:
        state = self.states[self.row_fold[row]]
        p = state["predictors"][stage]
        d = state["d"]
        z = (np.asarray(answer_features(answer), dtype=np.float64) - p.mean[d:]) / p.std[d:]
        logit = float(self.pred["query_logit"][row, stage]) + float((z * p.w[d:]).sum())
        return 1.0 / (1.0 + math.exp(-logit))

    def first(self, rows):
        return [self.chain_of(i)[0] for i in rows]

    def next(self, rows, histories):
        threshold = float(self.knob_value if self.knob_value is not None else 0.5)
        out: list[str | None] = []
        for row, history in zip(rows, histories):
            chain = self.chain_of(row)
            model, answer = history[-1]
            stage = chain.index(model) if model in chain else len(chain) - 1
            if stage >= len(chain) - 1 or self.p_correct(row, stage, answer) >= threshold:
                out.append(None)
            else:
                out.append(chain[stage + 1])
        return out

    @property
    def label(self) -> str:
        return f"{super().label} ({self.ctx.embedder().label})"


class Threshold(LearnedPolicy):
    name = "threshold"
    knob_name = "threshold"

    def _pair(self) -> tuple[str, str]:
        names = self.ctx.pool_names
        strong, weak = self.cfg.get("strong"), self.cfg.get("weak")
        if not (strong and weak):
            if len(names) != 2:
                raise ValueError(
                    f"policy=threshold routes between two models; this pool has {len(names)}: "
                    "set policy.strong=<model> policy.weak=<model>"
                )
            by_price = sorted(names, key=lambda n: self.ctx.prices[n][::-1])  # (output, input) price
            weak, strong = weak or by_price[0], strong or by_price[-1]
        return self._check_model(strong), self._check_model(weak)

    def fit(self, table: RouteTable) -> dict[str, Any]:
        strong, weak = self._pair()
        s, w = table.models.index(strong), table.models.index(weak)
        wins = (table.score[:, s] > table.score[:, w]).astype(float)
        x = self.ctx.embedder().embed(table.prompts)
        return {
            "model": fit_logistic(x, wins, l2=float(self.cfg.get("l2", 10.0))),
            "strong": strong,
            "weak": weak,
            "base_rate": float(wins.mean()),
        }

    def predict(self, state, rows):
        return {"win_rate": state["model"].proba(self.embed_examples(rows))}

    def prepare(self, examples):
        super().prepare(examples)
        self.strong, self.weak = self.states[0]["strong"], self.states[0]["weak"]
        self.info.update(strong=self.strong, weak=self.weak, train_win_rate=self.states[0]["base_rate"])

    def first(self, rows):
        threshold = float(self.knob_value if self.knob_value is not None else 0.5)
        win = self.pred["win_rate"][np.asarray(rows, dtype=int)]
        return [self.strong if p > threshold else self.weak for p in win]

    @property
    def label(self) -> str:
        return f"{super().label} ({self.ctx.embedder().label})"

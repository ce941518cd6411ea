"""The baseline policy interface: which pool model(s) to call for each query.

A baseline episode is a sequence of pool calls; the last call's answer is the final answer.  A
policy is asked ``first(rows)`` (the model to call first, for many queries at once; a tuple of models is
called in parallel in one turn) and, when ``max_calls > 1``, ``next(rows, histories)`` (the next turn's
model(s), or None to stop, given the calls so far as ``(model, answer text)``) and, once it stops,
``select(rows, histories)`` (whose answer is final: by default the last call that answered).  Everything a policy
learns or predicts that does not depend on its knob is computed once in ``prepare(examples)`` for the whole
evaluated split, so a resumed run or a knob sweep takes exactly the same decisions.

Learned policies (``LearnedPolicy``) fit on recorded traces: the ``train`` split of the pool's
traces, or, where the data has no train split (``fit_split=auto``), by K-fold *cross-fitting* on
the evaluated split: the predictions for each fold come from a model fitted on the other folds,
so no query's own outcome is used to route it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xrouter.policies.table import RouteTable

log = logging.getLogger(__name__)


@dataclass
class PolicyContext:
    """What policies may use: the pool, the reward's cost unit, a seed, and lazy data loaders."""

    pool_names: list[str]
    prices: dict[str, tuple[float, float]]  # {model: (input, output) USD per 1M tokens}
    cheapest: str
    cost_unit_usd: float = 1.0
    seed: int = 0
    fit_split: str = "auto"  # a split name, "crossfit" or "auto"
    folds: int = 5
    splits_available: Callable[[], list[str]] = field(default=lambda: [])
    fit_table: Callable[[str], RouteTable] | None = None  # split -> table of that split
    eval_table: Callable[[list[str]], RouteTable] | None = None  # prompt ids -> their recorded outcomes
    embedder: Callable[[], Any] | None = None


def stable_uniform(seed: int, key: str) -> float:
    """A uniform number in [0, 1) fixed by ``seed`` and ``key`` (not by order or Python's hash)."""
    return int(hashlib.sha256(f"{seed}/{key}".encode()).hexdigest()[:13], 16) / 16**13


def choose_by_utility(score: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """Per row, the column maximising ``score - lam * cost``; ties: lower cost, then lower index."""
    utility = score - lam * cost
    best = utility.max(axis=1, keepdims=True)
    masked = np.where(utility == best, cost, np.inf)
    return masked.argmin(axis=1)


class Policy:
    """Base class; subclasses set ``name`` and implement ``first`` (and ``next`` for several calls)."""

    name = "policy"
    knob_name: str | None = None
    max_calls = 1
    max_call_turns: int | None = None  # turns of calls (None: one call per turn, max_calls of them)
    needs_recorded_outcomes = False  # True: uses the evaluated prompts' recorded scores (oracle)

    def __init__(self, cfg: Mapping[str, Any], ctx: PolicyContext) -> None:
        self.cfg, self.ctx = dict(cfg), ctx
        self.knob_value = self.cfg.get(self.knob_name) if self.knob_name else None
        self.examples: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}

    # ---- identity ---------------------------------------------------------------------------
    @property
    def knob(self) -> dict[str, Any]:
        return {self.knob_name: self.knob_value} if self.knob_name and self.knob_value is not None else {}

    def set_knob(self, value: Any) -> None:
        if not self.knob_name:
            raise ValueError(f"policy {self.name} has no knob to sweep")
        self.knob_value = value

    @property
    def label(self) -> str:
        knob = " ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in self.knob.items())
        return f"{self.name} {knob}".strip()

    # ---- deciding ---------------------------------------------------------------------------
    def prepare(self, examples: Sequence[Mapping[str, Any]]) -> None:
        """Knob-independent work for the whole evaluated split (fit, predict)."""
        self.examples = [dict(e) for e in examples]

    @property
    def call_turns(self) -> int:
        return self.max_call_turns or self.max_calls

    def first(self, rows: Sequence[int]) -> list[str | tuple[str, ...]]:
        """The model to call first for each row (a tuple: several models called in parallel in one turn)."""
        raise NotImplementedError

    def next(
        self, rows: Sequence[int], histories: Sequence[Sequence[tuple[str, str | None]]]
    ) -> list[str | tuple[str, ...] | None]:
        """The next turn's model(s) given the calls so far (``(model, answer text or None)``), or None to stop."""
        return [None] * len(rows)

    def select(self, rows: Sequence[int], histories: Sequence[Sequence[tuple[str, str | None]]]) -> list[str]:
        """Whose answer is final when a policy of several calls stops (default: the last call that answered)."""
        return [next((m for m, text in reversed(h) if text is not None), h[-1][0]) for h in histories]

    def _check_model(self, model: str) -> str:
        if model not in self.ctx.pool_names:
            raise ValueError(
                f"policy {self.name}: model {model!r} is not in the pool ({', '.join(self.ctx.pool_names)})"
            )
        return model


class LearnedPolicy(Policy):
    """A policy fitted on recorded traces (``fit``) that predicts per query (``predict``)."""

    def fit(self, table: RouteTable) -> Any:
        raise NotImplementedError

    def predict(self, state: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Knob-independent predictions for ``rows`` of the prepared examples: arrays of len(rows)."""
        raise NotImplementedError

    def fit_mode(self) -> str:
        wanted = self.cfg.get("fit_split") or self.ctx.fit_split or "auto"
        if wanted != "auto":
            return wanted
        return "train" if "train" in self.ctx.splits_available() else "crossfit"

    def prepare(self, examples: Sequence[Mapping[str, Any]]) -> None:
        from threadpoolctl import threadpool_limits

        # one BLAS thread: these problems are small, many threads only contend on a busy machine,
        # and a fixed thread count keeps the floating-point results the same on every machine
        with threadpool_limits(limits=1, user_api="blas"):
            self._prepare(examples)

    def _prepare(self, examples: Sequence[Mapping[str, Any]]) -> None:
        super().prepare(examples)
        n = len(self.examples)
        mode = self.fit_mode()
        if mode == "crossfit":
            ids = [str(e["prompt_id"]) for e in self.examples]
            table = self.ctx.eval_table(ids)
            k = max(2, int(self.cfg.get("folds") or self.ctx.folds))
            self.row_fold = np.asarray([int(stable_uniform(self.ctx.seed, f"fold/{p}") * k) for p in ids])
            self.states = [self.fit(table.subset(np.flatnonzero(self.row_fold != f))) for f in range(k)]
            self.info["fit"] = f"crossfit: {k} folds of the evaluated split ({n} prompts)"
            log.warning(
                "%s: no train split in the traces; cross-fitting on %d folds of the evaluated split", self.name, k
            )
        else:
            table = self.ctx.fit_table(mode)
            self.row_fold = np.zeros(n, dtype=int)
            self.states = [self.fit(table)]
            self.info["fit"] = f"split {mode} ({len(table)} prompts)"
        self.pred: dict[str, np.ndarray] = {}
        for f in range(len(self.states)):
            rows = np.flatnonzero(self.row_fold == f)
            if len(rows) == 0:
                continue
            for key, value in self.predict(self.states[f], rows).items():
                if key not in self.pred:
                    self.pred[key] = np.zeros((n,) + value.shape[1:], dtype=value.dtype)
                self.pred[key][rows] = value

    def embed_examples(self, rows: np.ndarray) -> np.ndarray:
        return self.ctx.embedder().embed([str(self.examples[i]["prompt"]) for i in rows])

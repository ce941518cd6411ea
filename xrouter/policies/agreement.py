"""``agreement``: a consistency cascade (after Yue et al., ICLR 2024): cheap models in parallel, their answer
when enough of them agree, else the premium model.

Stage 1 calls a group of cheap models in one turn.  Their final answers are read as the benchmark's parser
reads them and normalised (``xrouter/verify/answer_view.py``); when at least ``m`` of them give the same
parsed answer, it is final (the first call that gave it is selected).  Otherwise stage 2 calls the
escalation model, whose answer is final; a candidate without escalation selects the largest group's answer
(ties: the group member most accurate on the fit split).

Everything is chosen on the fit split's recorded answers, where every candidate's accuracy and mean cost
are exact: the candidates are each pool model alone, and every group of 2 or 3 of the ``cheap`` models
(the most accurate models costing at most ``cheap_cost_share`` of the escalation model's cost), with each
agreement threshold ``m`` from 2 to the group's size, escalating to the fit split's most accurate model or
not at all.  The knob ``budget`` (USD per query) picks the most accurate candidate whose fit-split cost is
within it; a budget sweep traces the curve.  Episodes run through the environment's full mode (parallel
calls in one turn, then ``select_response`` or the escalation call), so the ledger and costs are exact.

Simplification: Yue et al. sample one model several times (temperature > 0) or mix prompt styles; a replay
pool holds one greedy answer per model, so the agreement is between different models' answers.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xrouter.policies.base import LearnedPolicy
from xrouter.policies.table import RouteTable
from xrouter.verify.answer_view import final_answer


@dataclass(frozen=True)
class Candidate:
    group: tuple[str, ...]  # stage 1: called in parallel (one model: a single-model policy)
    m: int  # agreement needed to stop at stage 1
    escalate: str | None  # stage 2's model, or None
    accuracy: float = 0.0  # on the fit split
    cost: float = 0.0  # mean USD per query on the fit split

    @property
    def label(self) -> str:
        if len(self.group) == 1:
            return f"single {self.group[0]}"
        return f"{'+'.join(self.group)} agree>={self.m}" + (f" else {self.escalate}" if self.escalate else "")


def agreeing(answers: Sequence[str | None], m: int) -> int | None:
    """Index of the first answer of the largest group of equal parsed answers when it has >= ``m`` members."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    answer, size = counts.most_common(1)[0]
    return answers.index(answer) if size >= m else None


def plurality(answers: Sequence[str | None], order: Sequence[int]) -> int:
    """Index of the largest group's answer (ties and unparsed answers: the first of ``order``, most accurate first)."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return order[0]
    top = max(counts.values())
    return next(i for i in order if answers[i] is not None and counts[answers[i]] == top)


class Agreement(LearnedPolicy):
    name = "agreement"
    knob_name = "budget"
    max_calls = 4  # a group of up to 3, then the escalation
    max_call_turns = 2  # the group in one turn, the escalation in the next

    # ---- fitting: every candidate scored exactly on the fit split ------------------------------------
    def _verifiers(self) -> dict[str, str]:
        return {str(e.get("benchmark")): str(e.get("verifier")) for e in self.examples}

    def parsed_answers(self, table: RouteTable) -> np.ndarray:
        verifiers = self._verifiers()
        out = np.empty(table.responses.shape, dtype=object)
        for i in range(len(table)):
            verifier = verifiers.get(str(table.benchmarks[i]), "exact")
            for j in range(len(table.models)):
                out[i, j] = final_answer(verifier, table.responses[i, j])
        return out

    def fit(self, table: RouteTable) -> dict[str, Any]:
        accuracy, cost = table.score.mean(0), table.cost_usd.mean(0)
        column = {m: j for j, m in enumerate(table.models)}
        premium = table.models[int(np.argmax(accuracy))]
        share = float(self.cfg.get("cheap_cost_share", 0.34))
        affordable = [m for m in table.models if cost[column[m]] <= share * cost[column[premium]] and m != premium]
        cheap = sorted(affordable, key=lambda m: -accuracy[column[m]])[: int(self.cfg.get("cheap", 5))]
        answers = self.parsed_answers(table)
        candidates = [
            Candidate((m,), 1, None, float(accuracy[column[m]]), float(cost[column[m]])) for m in table.models
        ]
        outcomes = [(table.score[:, column[m]], table.cost_usd[:, column[m]]) for m in table.models]
        rows = np.arange(len(table))
        for k in (2, 3):
            for group in itertools.combinations(cheap, k):
                cols = [column[g] for g in group]
                order = sorted(range(k), key=lambda i: -accuracy[cols[i]])
                for m in range(2, k + 1):
                    agreed = [agreeing(list(answers[i, cols]), m) for i in rows]
                    stage_cost = table.cost_usd[:, cols].sum(1)
                    for escalate in (premium, None):
                        if escalate is None:
                            pick = np.array(
                                [
                                    cols[a if a is not None else plurality(list(answers[i, cols]), order)]
                                    for i, a in zip(rows, agreed)
                                ]
                            )
                            score, spend = table.score[rows, pick], stage_cost
                        else:
                            e = column[escalate]
                            pick = np.array([cols[a] if a is not None else e for a in agreed])
                            score = table.score[rows, pick]
                            spend = stage_cost + np.where([a is None for a in agreed], table.cost_usd[:, e], 0.0)
                        candidates.append(Candidate(group, m, escalate, float(score.mean()), float(spend.mean())))
                        outcomes.append((score, spend))
        self.info["candidates"] = len(candidates)
        return {
            "candidates": candidates,
            "accuracy": {m: float(accuracy[column[m]]) for m in table.models},
            "outcomes": outcomes,
            "answers": answers,
            "prompt_ids": table.prompt_ids,
            "benchmarks": table.benchmarks,
            "models": table.models,
        }

    def predict(self, state: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    # ---- deciding ---------------------------------------------------------------------------------
    def plan_for(self, candidate: Candidate, prompt_id: str) -> str | dict[str, Any]:
        """What ``candidate`` does on a fit-split prompt, from its recorded answers: a model (call it), or
        ``{"turns": [group(, escalation)], "select": model}`` (``RouterEnv.script``'s plan: a teacher's script)."""
        if len(candidate.group) == 1:
            return candidate.group[0]
        state = self.states[0]
        row = int(np.flatnonzero(state["prompt_ids"] == prompt_id)[0])
        cols = [state["models"].index(g) for g in candidate.group]
        answers = list(state["answers"][row, cols])
        agreed = agreeing(answers, candidate.m)
        if agreed is not None:
            return {"turns": [candidate.group], "select": candidate.group[agreed]}
        if candidate.escalate is not None:
            return {"turns": [candidate.group, candidate.escalate], "select": candidate.escalate}
        order = sorted(range(len(cols)), key=lambda i: -state["accuracy"][candidate.group[i]])
        return {"turns": [candidate.group], "select": candidate.group[plurality(answers, order)]}

    def best_for_reward(self, reward: Any, benchmark: str | None = None) -> Candidate:
        """The candidate of highest mean ``reward(score, cost_usd)`` (arrays) on the fit split, or on its prompts of
        ``benchmark`` (a sub-benchmark absent from the fit split: all of it)."""
        state = self.states[0]
        rows = state["benchmarks"] == benchmark
        if benchmark is None or not rows.any():
            rows = slice(None)
        values = [float(np.mean(reward(score[rows], cost[rows]))) for score, cost in state["outcomes"]]
        return state["candidates"][int(np.argmax(values))]

    def chosen(self) -> Candidate:
        """The most accurate candidate within the budget (cheapest on ties; the cheapest one if none fits)."""
        candidates = self.states[0]["candidates"]
        budget = float(self.knob_value if self.knob_value is not None else np.inf)
        within = [c for c in candidates if c.cost <= budget]
        if not within:
            return min(candidates, key=lambda c: (c.cost, -c.accuracy))
        return max(within, key=lambda c: (c.accuracy, -c.cost))

    @property
    def label(self) -> str:
        return f"agreement budget={self.knob_value:g}" if self.knob_value is not None else "agreement"

    def first(self, rows: Sequence[int]) -> list[str | tuple[str, ...]]:
        group = self.chosen().group
        return [group[0] if len(group) == 1 else group for _ in rows]

    def _stage1(self, row: int, history: Sequence[tuple[str, str | None]]) -> tuple[Candidate, list[str | None]]:
        candidate = self.chosen()
        example = self.examples[row]
        answers = [final_answer(example.get("verifier"), text, example) for _, text in history[: len(candidate.group)]]
        return candidate, answers

    def next(self, rows: Sequence[int], histories: Sequence[Sequence[tuple[str, str | None]]]) -> list[str | None]:
        out = []
        for row, history in zip(rows, histories):
            candidate, answers = self._stage1(row, history)
            stage_done = len(history) > len(candidate.group) or len(candidate.group) == 1
            if stage_done or candidate.escalate is None or agreeing(answers, candidate.m) is not None:
                out.append(None)
            else:
                out.append(candidate.escalate)
        return out

    def select(self, rows: Sequence[int], histories: Sequence[Sequence[tuple[str, str | None]]]) -> list[str]:
        out = []
        accuracy = self.states[0]["accuracy"]
        for row, history in zip(rows, histories):
            candidate, answers = self._stage1(row, history)
            if len(history) > len(candidate.group) or len(candidate.group) == 1:
                out.append(history[-1][0])  # the escalation (or the single model)
                continue
            agreed = agreeing(answers, candidate.m)
            order = sorted(range(len(answers)), key=lambda i: -accuracy.get(history[i][0], 0.0))
            out.append(history[agreed if agreed is not None else plurality(answers, order)][0])
        return out


def candidates_table(candidates: Sequence[Candidate]) -> list[Mapping[str, Any]]:
    """The fitted candidates as rows (label, fit-split accuracy and cost), cheapest first: the policy's own curve."""
    return [
        {"label": c.label, "accuracy": c.accuracy, "cost_usd": c.cost} for c in sorted(candidates, key=lambda c: c.cost)
    ]

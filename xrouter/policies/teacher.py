"""A fitted baseline as the cold start's teacher: the model it routes each (query, lambda) to.

``cold_start.weighting=teacher`` fits the ``teacher`` policy (conf/teacher/) (``knn`` or ``mlp``: they
predict each pool model's score and cost from the query's MiniLM embedding) on the training prompts
outside the dev slice, and scripts, for each cold-start prompt, the one trajectory that calls the
model the teacher picks at that prompt's lambda (its own draw under ``reward.lam_sampling``, else the
training lambda).  RL then starts from the teacher's routing, not from a uniform one.

``cold_start.escalation=oracle`` (full mode) adds what a query-only teacher cannot show: reading an
answer and escalating.  Where the first model's recorded answer to a training prompt is wrong and the
teacher's lambda-0 choice (the model it predicts most accurate for the query) answered it correctly,
the script calls the first model, then the second, and selects the second.  The labels use the
recorded scores (training prompts only); the router has to infer them from the query, lambda and the
first answer it reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from xrouter.policies import build_policy
from xrouter.policies.base import PolicyContext

# examples (with an optional "lam") -> a model name, or an escalation chain (first, second), per example
Teacher = Callable[[Sequence[Mapping[str, Any]]], list[str | tuple[str, str]]]
ESCALATIONS = (None, "oracle")


def fit_teacher(
    policy_cfg: Mapping[str, Any],
    ctx: PolicyContext,
    train: Sequence[Mapping[str, Any]],
    exclude_ids: set[str],
    default_lam: float,
    escalation: str | None = None,
    reward_cfg: Mapping[str, Any] | None = None,
) -> Teacher:
    """Fit ``policy_cfg`` (a utility router with knob ``lam``) on the training table minus ``exclude_ids``
    (the dev slice) and return its choice function over ``train``'s examples (``escalation="oracle"``:
    a chain where the first choice was wrong and the lambda-0 choice right, module docstring)."""
    import dataclasses

    if escalation not in ESCALATIONS:
        raise ValueError(f"cold_start.escalation must be null or oracle, not {escalation!r}")
    if policy_cfg.get("name") not in ("knn", "mlp", "agreement"):
        raise ValueError(
            f"teacher= must be knn or mlp (a policy that routes by lambda) or agreement "
            f"(full mode), not {policy_cfg.get('name')!r}"
        )
    table = ctx.fit_table("train")
    fit = table.subset(np.flatnonzero([p not in exclude_ids for p in table.prompt_ids]))
    ctx = dataclasses.replace(ctx, fit_table=lambda split: fit, splits_available=lambda: ["train"])
    policy = build_policy(dict(policy_cfg), ctx)
    policy.prepare(train)
    if policy.name == "agreement":
        return agreement_teacher(policy, default_lam, reward_cfg or {}, per_task=bool(policy_cfg.get("per_task")))
    row_of = {str(e["prompt_id"]): i for i, e in enumerate(train)}
    score_row = {p: i for i, p in enumerate(table.prompt_ids.tolist())}
    column = {m: j for j, m in enumerate(table.models)}

    def correct(prompt_id: str, model: str) -> bool:
        return bool(table.score[score_row[prompt_id], column[model]] >= 0.5)

    def choose(examples: Sequence[Mapping[str, Any]]) -> list[str | tuple[str, str]]:
        by_lam: dict[float, list[int]] = defaultdict(list)
        for j, example in enumerate(examples):
            by_lam[float(example.get("lam", default_lam))].append(j)
        out: list[str | tuple[str, str]] = [""] * len(examples)
        for lam, positions in by_lam.items():
            policy.set_knob(lam)
            rows = [row_of[str(examples[j]["prompt_id"])] for j in positions]
            for j, model in zip(positions, policy.first(rows)):
                out[j] = model
        if escalation == "oracle":
            policy.set_knob(0.0)
            strongest = policy.first([row_of[str(e["prompt_id"])] for e in examples])
            for j, (example, second) in enumerate(zip(examples, strongest)):
                first, prompt_id = out[j], str(example["prompt_id"])
                if second != first and not correct(prompt_id, first) and correct(prompt_id, second):
                    out[j] = (first, second)
        return out

    choose.label = policy.label  # type: ignore[attr-defined]
    return choose


def agreement_teacher(
    policy: Any, default_lam: float, reward_cfg: Mapping[str, Any], per_task: bool = False
) -> Teacher:
    """``teacher=agreement`` (full mode): for each prompt, at its lambda, the script of the agreement
    candidate with the highest mean reward on the fit split (``reward_cfg``: the run's xrouter reward): its
    cheap group in parallel, then the agreeing answer selected or the escalation called, as the prompt's
    recorded answers decide (``Agreement.plan_for``).  ``per_task`` (``teacher.per_task=true``): the best
    candidate on the fit prompts of the prompt's own sub-benchmark (its ``benchmark``), so that one task can
    start with the premium model alone where another starts with the cheap group, as ``best_fixed_per_task``
    picks one model per sub-benchmark; the sub-benchmark is visible in the query, so a router can learn it."""
    K, cap, unit = (
        float(reward_cfg.get("K", 1.0)),
        float(reward_cfg.get("cap", 0.8)),
        float(reward_cfg.get("cost_unit_usd", 1.0)),
    )
    best: dict[tuple[float, str | None], Any] = {}

    def at(lam: float, benchmark: str | None) -> Any:
        if (lam, benchmark) not in best:
            best[lam, benchmark] = policy.best_for_reward(
                lambda score, cost: score * (K - np.minimum(lam * cost / unit, cap)), benchmark
            )
        return best[lam, benchmark]

    def choose(examples: Sequence[Mapping[str, Any]]) -> list[Any]:
        return [
            policy.plan_for(
                at(round(float(e.get("lam", default_lam)), 4), str(e.get("benchmark")) if per_task else None),
                str(e["prompt_id"]),
            )
            for e in examples
        ]

    choose.label = (  # type: ignore[attr-defined]
        f"agreement (best fit-split reward per lambda{' and sub-benchmark' if per_task else ''})"
    )
    return choose

"""A fitted baseline as the cold start's teacher: the model it routes each (query, lambda) to.

``cold_start.weighting=teacher`` fits the ``cold_start.teacher`` policy (``knn`` or ``mlp``: they
predict each pool model's score and cost from the query's MiniLM embedding) on the training prompts
outside the dev slice, and scripts, for each cold-start prompt, the one trajectory that calls the
model the teacher picks at that prompt's lambda (its own draw under ``reward.lam_sampling``, else the
training lambda).  RL then starts from the teacher's routing, not from a uniform one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from xrouter.policies import build_policy
from xrouter.policies.base import PolicyContext

Teacher = Callable[[Sequence[Mapping[str, Any]]], list[str]]  # examples (with an optional "lam") -> model names


def fit_teacher(policy_cfg: Mapping[str, Any], ctx: PolicyContext, train: Sequence[Mapping[str, Any]],
                exclude_ids: set[str], default_lam: float) -> Teacher:
    """Fit ``policy_cfg`` (a utility router with knob ``lam``) on the training table minus ``exclude_ids``
    (the dev slice) and return its choice function over ``train``'s examples."""
    import dataclasses

    if policy_cfg.get("name") not in ("knn", "mlp"):
        raise ValueError(f"cold_start.teacher must be knn or mlp (a policy that routes by lambda), not "
                         f"{policy_cfg.get('name')!r}")
    table = ctx.fit_table("train")
    fit = table.subset(np.flatnonzero([p not in exclude_ids for p in table.prompt_ids]))
    ctx = dataclasses.replace(ctx, fit_table=lambda split: fit, splits_available=lambda: ["train"])
    policy = build_policy(dict(policy_cfg), ctx)
    policy.prepare(train)
    row_of = {str(e["prompt_id"]): i for i, e in enumerate(train)}

    def choose(examples: Sequence[Mapping[str, Any]]) -> list[str]:
        by_lam: dict[float, list[int]] = defaultdict(list)
        for j, example in enumerate(examples):
            by_lam[float(example.get("lam", default_lam))].append(j)
        out: list[str] = [""] * len(examples)
        for lam, positions in by_lam.items():
            policy.set_knob(lam)
            rows = [row_of[str(examples[j]["prompt_id"])] for j in positions]
            for j, model in zip(positions, policy.first(rows)):
                out[j] = model
        return out

    choose.label = policy.label  # type: ignore[attr-defined]
    return choose

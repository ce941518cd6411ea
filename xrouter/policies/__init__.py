"""Baseline routing policies (``conf/policy/<name>.yaml``), by name.

The trained router (``router``) and the router before RL (``router_prompted``) are not here: they
run through the agent loop (``xrouter.evaluation.router_run``).  See ``xrouter/policies/base.py`` for
the interface and ``xrouter/evaluation/engines.py`` for how episodes are run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xrouter.policies.agreement import Agreement
from xrouter.policies.barp import BaRP
from xrouter.policies.base import LearnedPolicy, Policy, PolicyContext
from xrouter.policies.cascade import Cascade, Threshold
from xrouter.policies.cscr import CSCR
from xrouter.policies.learned import KNN, MLP
from xrouter.policies.simple import BestFixedPerTask, Cheapest, Oracle, Random, Single

BASELINES: dict[str, type[Policy]] = {
    "single": Single,
    "random": Random,
    "cheapest": Cheapest,
    "oracle": Oracle,
    "best_fixed_per_task": BestFixedPerTask,
    "knn": KNN,
    "mlp": MLP,
    "cascade": Cascade,
    "threshold": Threshold,
    "barp": BaRP,
    "cscr": CSCR,
    "agreement": Agreement,
}
ROUTER_POLICIES = ("router", "router_prompted")


def build_policy(cfg: Mapping[str, Any], ctx: PolicyContext) -> Policy:
    name = cfg.get("name")
    if name not in BASELINES:
        raise ValueError(f"unknown baseline policy {name!r}; known: {sorted(BASELINES)} and {list(ROUTER_POLICIES)}")
    return BASELINES[name](cfg, ctx)


__all__ = ["BASELINES", "ROUTER_POLICIES", "LearnedPolicy", "Policy", "PolicyContext", "build_policy"]

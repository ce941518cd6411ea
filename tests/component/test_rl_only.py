"""``experiment=rl_only`` on real RouterBench replays: it trains the routing head from its own episodes only.

The audit: every recorded outcome a training run reads goes through a replay endpoint's lookup (one per
call the policy made, each booked in the ledger under an RL, validation or evaluation episode) or through
a table of every model's outcomes (``route_table``: what a teacher or a baseline fits on).  An rl_only run
must read none outside its own calls.  The same audit flags the teacher recipe (it fits on the table) and
the expected-reward cold start (it runs every pool model on every cold-start prompt), so the test fails
if any training path reads an outcome its policy did not call.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import compose
from xrouter.pool.ledger import CostLedger

pytestmark = pytest.mark.timeout(900)
SMALL = [
    "experiment=rl_only",
    "debug=fast",
    "trainer.max_steps=6",
    "trainer.val_check_interval=1",
    "rollout.max_new_tokens=16",
    "evaluate_test=false",
    "baselines=none",
    "threads=1",
    "cold_start.steps=60",
    "algo.lr=1e-3",
]  # enough cold start that the router writes calls
POLICY_EPISODE = re.compile(r"^(s\d+(r\d+)?|val\d+|eval\d+)-")  # RL rollouts, validations, evaluations


def audited_train(tmp_path, monkeypatch, name: str, overrides: list[str]):
    """Train with every outcome read recorded: (replay lookups, outcome tables built, the run's ledger, result)."""
    import xrouter.policies.table as table
    from xrouter.pool.replay import ReplayEndpoint
    from xrouter.train import run_train

    lookups, tables = [], []
    lookup, route_table = ReplayEndpoint.lookup, table.route_table

    def recorded_lookup(self, prompt_id=None, prompt=None):
        lookups.append((self.name, prompt_id))
        return lookup(self, prompt_id=prompt_id, prompt=prompt)

    def recorded_table(*args, **kwargs):
        tables.append(args[2] if len(args) > 2 else kwargs.get("split"))
        return route_table(*args, **kwargs)

    monkeypatch.setattr(ReplayEndpoint, "lookup", recorded_lookup)
    monkeypatch.setattr(table, "route_table", recorded_table)
    out = tmp_path / name
    result = run_train(compose("train", SMALL + [f"output_dir={out}", *overrides]))
    return lookups, tables, CostLedger.load(out / "ledger.jsonl"), result


def outcome_reads_outside_the_policy(lookups, tables, ledger) -> list[str]:
    calls = [r for r in ledger.records if r.kind == "tool" and not r.cached]  # a cache hit reads nothing new
    problems = [f"a table of every model's outcomes was built ({len(tables)}x)"] if tables else []
    if len(lookups) != len(calls):
        problems.append(f"{len(lookups)} recorded outcomes read for {len(calls)} calls")
    foreign = sorted({r.episode_id.split("-")[0] for r in calls if not POLICY_EPISODE.match(r.episode_id or "")})
    if foreign:
        problems.append(f"calls outside the policy's episodes: {foreign}")
    return problems


def test_rl_only_reads_only_the_outcomes_of_calls_its_policy_made(tmp_path, monkeypatch):
    lookups, tables, ledger, result = audited_train(tmp_path, monkeypatch, "rl_only", [])
    assert outcome_reads_outside_the_policy(lookups, tables, ledger) == []
    assert lookups and all(prompt_id for _, prompt_id in lookups)
    spend = result["spend"]
    assert spend["phases"].get("cold_start") is None  # the format cold start calls nothing
    assert spend["training_usd"] == pytest.approx(spend["phases"]["rl_rollouts"]["cost_usd"])
    assert spend["full_table_usd"] > 0 and result["delivered"]["dev_reward"] is not None
    settings = json.loads((tmp_path / "rl_only" / "router" / "xrouter.json").read_text())
    assert settings["conditioning"]["lam_features"] == "log"
    assert settings["reward"]["cost_unit_usd"] == 0.01  # cost_unit_usd: pool, resolved by RouterBench's prices


@pytest.mark.parametrize(
    "recipe",
    [["cold_start.weighting=teacher", "teacher=knn"], ["cold_start.weighting=expected_reward"]],
    ids=["teacher", "expected_reward"],
)
def test_the_audit_catches_recipes_that_read_outcomes_the_policy_did_not_call(tmp_path, monkeypatch, recipe):
    lookups, tables, ledger, _ = audited_train(tmp_path, monkeypatch, recipe[-1].split("=")[-1], recipe)
    assert outcome_reads_outside_the_policy(lookups, tables, ledger) != []

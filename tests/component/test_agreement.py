"""policy=agreement on a real slice of pool=zeroeval_reasoning (ZeroEval answers, o1-mini among 11 cheaper models):
its decisions follow the parsed answers of the calls it made, its episodes and ledger are exact, and the pool's
hidden-reasoning rule prices o1-mini as configured."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import compose
from xrouter.build import build_pool
from xrouter.verify.answer_view import final_answer

pytestmark = pytest.mark.timeout(900)
SETTING = ["pool=zeroeval_reasoning", "benchmark=zeroeval_math", "split=test", "limit=60", "progress=false"]


def test_the_pool_prices_hidden_reasoning_by_its_rule(shared_data_dir):
    from xrouter.data.datasets import pool_traces

    cfg = compose("evaluate", ["pool=zeroeval_reasoning"]).pool
    plain = {**cfg, "hidden_reasoning": None}
    base = pool_traces(plain, shared_data_dir)
    at5, at2 = (
        pool_traces(cfg, shared_data_dir),
        pool_traces({**cfg, "hidden_reasoning": {**cfg.hidden_reasoning, "ratio": 2}}, shared_data_dir),
    )
    o1 = base["model"] == "o1-mini-2024-09-12"
    extra = at5.loc[o1, "cost_usd"] - base.loc[o1, "cost_usd"]
    assert (at5.loc[o1, "reasoning_tokens"] == (base.loc[o1, "output_tokens"] * 5).round()).all()
    visible = base.loc[o1, "output_tokens"] > 0  # an empty recorded answer has no reasoning to price
    assert visible.mean() > 0.95 and extra[visible].gt(0).all() and extra[~visible].eq(0).all()
    assert (at2.loc[o1, "cost_usd"][visible] < at5.loc[o1, "cost_usd"][visible]).all()
    assert at5.loc[~o1, "cost_usd"].equals(base.loc[~o1, "cost_usd"])  # the other models are untouched
    assert at5.loc[o1, "source"].str.contains("5 x visible output tokens").all() and at5.loc[o1, "cost_estimated"].all()
    with pytest.raises(ValueError, match="ratio"):
        pool_traces({**cfg, "hidden_reasoning": {"ratio": -1, "models": ["o1-mini-2024-09-12"]}}, shared_data_dir)


def test_agreement_calls_cheap_models_in_parallel_and_escalates_when_they_disagree(shared_data_dir, tmp_path):
    from xrouter.build import load_examples
    from xrouter.evaluation.baseline_policy import evaluate_baseline

    cfg = compose("evaluate", ["policy=agreement", "policy.budget=3e-3", *SETTING, f"output_dir={tmp_path}"])
    pool = build_pool(cfg.pool, shared_data_dir)
    examples = load_examples(cfg, "test", 60)
    summary = evaluate_baseline(cfg, pool, examples, tmp_path, shared_data_dir, None)
    episodes = pd.read_parquet(tmp_path / "episodes.parquet").set_index("prompt_id")
    assert (
        summary["n"] == 60 and json.loads((tmp_path / "summary.json").read_text())["label"] == "agreement budget=0.003"
    )
    group = tuple(episodes["models_called"].iloc[0][:2])
    assert (episodes["models_called"].map(lambda m: tuple(m[:2])) == group).all()  # one cheap pair, in one turn
    escalations = 0
    for example in examples:
        row = episodes.loc[example["prompt_id"]]
        answers = [
            final_answer(example["verifier"], pool.endpoints[m].lookup(prompt_id=example["prompt_id"]).text, example)
            for m in group
        ]
        agree = answers[0] is not None and answers[0] == answers[1]
        assert (row.n_calls == 2) == agree  # it stops exactly when the two parsed answers agree
        assert row.final_source == (f"call_{group[0]}" if agree else f"call_{row.models_called[-1]}")
        escalations += not agree
    assert 0 < escalations < 60
    calls = [r for r in pool.ledger.records if r.kind == "tool"]
    assert len(calls) == episodes["n_calls"].sum()
    assert sum(r.cost_usd for r in calls) == pytest.approx(episodes["tool_cost_usd"].sum())

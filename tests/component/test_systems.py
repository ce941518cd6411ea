"""BaRP and CSCR on RouterBench replay (real recorded answers, MiniLM embeddings, fitted on train),
and the robustness report on real evaluate runs, checked against the replay table."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import robustness
from tests.conftest import compose
from xrouter.build import build_pool, load_examples
from xrouter.evaluation.baseline_policy import evaluate_baseline, policy_context


@pytest.fixture(scope="module")
def routerbench(shared_data_dir):
    cfg = compose("evaluate", ["progress=false", "output_dir=unused"])
    cache_dir = Path(cfg.paths.cache_dir)
    return build_pool(cfg.pool, shared_data_dir, cache_dir), load_examples(cfg, "test"), cache_dir


def evaluate(routerbench, shared_data_dir, out: Path, overrides: list[str], every: int = 1) -> dict:
    """``every``: one test prompt in ``every`` (all three sub-benchmarks, a smaller run)."""
    pool, examples, cache_dir = routerbench
    cfg = compose("evaluate", ["progress=false", *overrides, f"output_dir={out}"])
    return evaluate_baseline(cfg, pool, examples[::every], out, shared_data_dir, cache_dir)


@pytest.mark.parametrize("policy,floor", [("barp", 0.83), ("cscr", 0.83)])
def test_swept_system_beats_the_zero_router_on_routerbench_test(routerbench, shared_data_dir, tmp_path, policy, floor):
    """The default sweep (seed 0) is a curve of distinct points whose AIQ on the single models' cost
    range clears the zero router (0.823) and the floor measured when the policy was added (barp
    0.837 with its 3-policy ensemble, cscr 0.839; experiments/seed_systems/README.md)."""
    curve = evaluate(routerbench, shared_data_dir, tmp_path, [f"policy={policy}", "sweep=default"])
    points = [(p["cost_per_query"], p["accuracy"]) for p in curve["points"]]
    assert len(set(points)) >= 8
    assert curve["aiq_single_model_range"] >= floor and curve["aiq_single_model_range"] > curve["zero_router_aiq"]
    quality_first, cost_first = points[0], points[-1]  # knob 0 (quality only) .. the largest cost weight
    assert quality_first[0] > 5 * cost_first[0] and quality_first[1] > cost_first[1] + 0.1
    again = evaluate(routerbench, shared_data_dir, tmp_path / "again", [f"policy={policy}", "sweep=[0.1]"])
    first = json.loads((tmp_path / "again" / f"{curve['knob_name']}=0.1" / "summary.json").read_text())
    assert again["points"][0]["accuracy"] == first["accuracy"]  # a second fit with the same seed decides alike
    original = [p for p in curve["points"] if list(p["knob"].values()) == [0.1]]
    if original:
        assert original[0]["accuracy"] == first["accuracy"]


def test_barp_rejects_a_preference_outside_the_simplex(routerbench, shared_data_dir, tmp_path):
    with pytest.raises(ValueError, match="w_cost must be in"):
        evaluate(
            routerbench, shared_data_dir, tmp_path, ["policy=barp", "policy.w_cost=1.5", "policy.epochs=1"], every=100
        )


def test_robustness_report_agrees_with_the_replay_table(routerbench, shared_data_dir, tmp_path):
    pool, examples, cache_dir = routerbench
    every = 6
    subset = examples[::every]
    for model in pool.names:
        evaluate(
            routerbench, shared_data_dir, tmp_path / "single" / model, ["policy=single", f"policy.model={model}"], every
        )
    evaluate(routerbench, shared_data_dir, tmp_path / "oracle", ["policy=oracle"], every)
    evaluate(routerbench, shared_data_dir, tmp_path / "knn", ["policy=knn", "sweep=[0.03,0.3,3]"], every)
    written = robustness.main([str(tmp_path), f"out={tmp_path / 'report'}"])
    assert Path(written["routerbench"][1]).stat().st_size > 10_000  # the figure
    table = robustness.report(robustness.load([str(tmp_path)]))["routerbench"]
    assert table.attrs["top_tier"] == ["claude-v1", "claude-v2", "gpt-4-1106-preview"]
    oracle = table[(table["policy"] == "oracle") & (table["category"] == "all")].iloc[0]
    assert oracle["over_escalation"] == 0 and oracle["under_escalation"] == 0  # cheapest correct model, by definition
    # the knn point, recomputed from the replay table and the run's own episodes
    cfg = compose("evaluate", ["progress=false", "output_dir=unused"])
    table_rb = policy_context(cfg, pool, shared_data_dir, cache_dir).eval_table([str(e["prompt_id"]) for e in subset])
    knn = table[(table["policy"] == "knn (MiniLM)") & (table["category"] == "all")].iloc[0]
    knob = json.loads(knn["knob"])["lam"]
    episodes = pd.read_parquet(tmp_path / "knn" / f"lam={knob:g}" / "episodes.parquet").set_index("prompt_id")
    column = {m: j for j, m in enumerate(table_rb.models)}
    top = [column[m] for m in table.attrs["top_tier"]]
    chosen = np.asarray([column[episodes.loc[p, "models_called"][0]] for p in table_rb.prompt_ids])
    escalated = np.isin(chosen, top)
    score = table_rb.score[np.arange(len(subset)), chosen]
    cheap_right = table_rb.score[:, column["mistral-7b-chat"]] >= 0.5
    top_right = table_rb.score[:, top].max(axis=1) >= 0.5
    assert knn["escalation"] == pytest.approx(escalated.mean())
    assert knn["over_escalation"] == pytest.approx((escalated & cheap_right).mean())
    assert knn["under_escalation"] == pytest.approx((~escalated & (score < 0.5) & top_right).mean())
    assert set(table["category"]) >= {"all", "coding", "general knowledge", "general knowledge: winogrande"}
    assert 0 < knn["escalation"] < 1 and knn["under_escalation"] > 0

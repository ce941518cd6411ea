"""python -m xrouter.evaluate on the real RouterBench replay pool: reference figures, run files,
identical results from both engines, determinism, resumption, sweeps."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from tests.conftest import compose
from xrouter import PROJECT_ROOT
from xrouter.build import build_pool, load_examples
from xrouter.data.datasets import select_split
from xrouter.data.stats import trace_stats
from xrouter.data.traces import complete_prompts
from xrouter.evaluation.baseline_policy import evaluate_baseline

FAST = ["progress=false", "embedding=hashing", "embedding.dim=1024"]  # hashing embeddings: no model, instant
# the reference figures of ../shared/data/README.md (RouterBench test, 945 prompts)
REFERENCE = {
    "gpt-4-1106-preview": (0.8794, 5.0034e-3),
    "mistral-7b-chat": (0.5926, 0.0811e-3),
    "oracle": (0.9757, 0.2111e-3),
}


def setting(name: str, overrides: list[str], shared_data_dir: Path):
    cfg = compose("evaluate", [*FAST, *overrides, "output_dir=unused"])
    cache_dir = Path(cfg.paths.cache_dir)
    pool = build_pool(cfg.pool, shared_data_dir, cache_dir)
    return cfg, pool, load_examples(cfg, cfg.split, cfg.get("limit")), cache_dir


@pytest.fixture(scope="module")
def routerbench(shared_data_dir):
    return setting("routerbench", [], shared_data_dir)


def evaluate(routerbench, shared_data_dir, out: Path, overrides: list[str], pool=None):
    cfg, default_pool, examples, cache_dir = routerbench
    cfg = compose("evaluate", [*FAST, *overrides, f"output_dir={out}"])
    return evaluate_baseline(cfg, pool or default_pool, examples, out, shared_data_dir, cache_dir)


def test_oracle_and_every_single_model_reproduce_the_reference_figures(
    routerbench, shared_data_dir, routerbench_traces, tmp_path
):
    cfg, pool, examples, _ = routerbench
    assert len(examples) == 945
    traces, dropped = complete_prompts(select_split(routerbench_traces, "test"))
    assert dropped == 8
    stats = trace_stats(traces)
    trace_model = {name: spec["trace_model"] for name, spec in OmegaConf.to_container(cfg.pool.models).items()}
    for name in pool.names:
        s = evaluate(routerbench, shared_data_dir, tmp_path / name, ["policy=single", f"policy.model={name}"])
        expected = stats["models"][trace_model[name]]
        # equal up to summation order (the run sums episode by episode, pandas pairwise)
        assert (s["n"], s["accuracy"]) == (945, pytest.approx(expected["accuracy"], rel=1e-12))
        assert s["cost_per_query"] == pytest.approx(expected["cost_per_query"], rel=1e-12)
        assert s["model_share"] == {name: 1.0} and s["label"] == f"single {name}"
        if name in REFERENCE:
            assert (round(s["accuracy"], 4), round(s["cost_per_query"], 7)) == REFERENCE[name]
    oracle = evaluate(routerbench, shared_data_dir, tmp_path / "oracle", ["policy=oracle"])
    assert oracle["accuracy"] == pytest.approx(stats["oracle"]["accuracy"], rel=1e-12)
    assert oracle["cost_per_query"] == pytest.approx(stats["oracle"]["cost_per_query"], rel=1e-12)
    assert (round(oracle["accuracy"], 4), round(oracle["cost_per_query"], 7)) == REFERENCE["oracle"]


def test_run_files_follow_the_contract(routerbench, shared_data_dir, tmp_path):
    s = evaluate(routerbench, shared_data_dir, tmp_path, ["policy=knn", "policy.lam=0.5"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == json.loads(json.dumps(s, default=str))
    for key in (
        "n",
        "accuracy",
        "cost_per_query",
        "total_cost_usd",
        "cost_per_correct",
        "calls_per_query",
        "direct_answer_rate",
        "model_share",
        "per_benchmark",
    ):
        assert key in summary
    assert {k: summary[k] for k in ("policy", "label", "knob", "benchmark", "pool", "split")} == {
        "policy": "knn",
        "label": "knn lam=0.5 (hashing)",
        "knob": {"lam": 0.5},
        "benchmark": "routerbench",
        "pool": "routerbench",
        "split": "test",
    }
    assert set(summary["per_benchmark"]) == {"arc_challenge", "mbpp", "winogrande"}
    assert sum(b["n"] for b in summary["per_benchmark"].values()) == 945
    assert set(summary["per_benchmark"]["mbpp"]) == {"n", "accuracy", "cost_per_query", "model_share"}
    episodes = pd.read_parquet(tmp_path / "episodes.parquet")
    assert len(episodes) == 945 and episodes["prompt_id"].is_unique
    for column in (
        "episode_id",
        "prompt_id",
        "benchmark",
        "termination",
        "final_source",
        "final_answer",
        "score",
        "tool_cost_usd",
        "router_cost_usd",
        "turns",
        "n_calls",
        "models_called",
        "n_malformed",
        "strategy",
        "reward_total",
        "latency_s",
        "actions",
        "call_costs_usd",
    ):
        assert column in episodes.columns
    assert episodes["tool_cost_usd"].sum() == pytest.approx(summary["total_cost_usd"])
    assert episodes["score"].mean() == pytest.approx(summary["accuracy"])
    config = OmegaConf.load(tmp_path / "config.yaml")
    assert config.policy.name == "knn" and config.policy.lam == 0.5 and not (tmp_path / "episodes.jsonl").exists()


BASELINES = [
    ["policy=single", "policy.model=claude-v2"],
    ["policy=cheapest"],
    ["policy=random"],
    ["policy=random", "policy.budget=0.4"],
    ["policy=oracle"],
    ["policy=best_fixed_per_task", "policy.lam=0.5"],
    ["policy=knn", "policy.lam=0.3"],
    ["policy=mlp", "policy.lam=0.3", "policy.epochs=20", "policy.hidden=32"],
    ["policy=cascade", "policy.threshold=0.7"],
    ["policy=agreement", "policy.budget=1e-3"],
]


@pytest.mark.parametrize("overrides", BASELINES, ids=lambda o: "-".join(x.split("=")[1] for x in o))
def test_replay_fast_path_equals_the_environment(routerbench, shared_data_dir, tmp_path, overrides):
    """Both engines: the same rows, summary and cost ledger (the fast path is only a shortcut)."""
    cfg, _, _, cache_dir = routerbench
    results = {}
    for engine in ("env", "replay"):
        pool = build_pool(cfg.pool, shared_data_dir, cache_dir)  # a fresh ledger per engine
        summary = evaluate(routerbench, shared_data_dir, tmp_path / engine, [*overrides, f"engine={engine}"], pool=pool)
        rows = pd.read_parquet(tmp_path / engine / "episodes.parquet")
        results[engine] = (summary, rows, [vars(r) for r in pool.ledger.records])
    (s_env, rows_env, ledger_env), (s_fast, rows_fast, ledger_fast) = results["env"], results["replay"]
    pd.testing.assert_frame_equal(rows_env, rows_fast, check_exact=True)
    assert {k: v for k, v in s_env.items() if k != "engine"} == {k: v for k, v in s_fast.items() if k != "engine"}
    assert (s_env["engine"], s_fast["engine"]) == ("env", "replay")
    assert ledger_env == ledger_fast and len(ledger_env) == rows_env["n_calls"].sum()


def test_cascade_and_threshold_engines_agree_on_multi_call_and_two_model_pools(shared_data_dir, tmp_path):
    gsm = setting("gsm", ["pool=routellm_gsm8k", "benchmark=routellm_gsm8k"], shared_data_dir)
    cfg, _, _, cache_dir = gsm
    for overrides in (["policy=threshold", "policy.threshold=0.2"], ["policy=cascade", "policy.threshold=0.8"]):
        rows = {}
        for engine in ("env", "replay"):
            out = tmp_path / overrides[0].split("=")[1] / engine
            pool = build_pool(cfg.pool, shared_data_dir, cache_dir)
            evaluate(
                gsm,
                shared_data_dir,
                out,
                ["pool=routellm_gsm8k", "benchmark=routellm_gsm8k", *overrides, f"engine={engine}"],
                pool=pool,
            )
            rows[engine] = pd.read_parquet(out / "episodes.parquet")
        pd.testing.assert_frame_equal(rows["env"], rows["replay"], check_exact=True)
        assert len(rows["env"]) == 1319
    multi = rows["env"][rows["env"]["n_calls"] == 2]
    assert len(multi) > 0 and (multi["termination"] == "select").all() and (multi["turns"] == 3).all()


def test_runs_are_deterministic(routerbench, shared_data_dir, tmp_path):
    for overrides in (["policy=random"], ["policy=mlp", "policy.epochs=20", "policy.hidden=32", "policy.lam=0.2"]):
        a = evaluate(routerbench, shared_data_dir, tmp_path / "a", [*overrides, "overwrite=true"])
        b = evaluate(routerbench, shared_data_dir, tmp_path / "b", [*overrides, "overwrite=true"])
        assert a == b
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "a" / "episodes.parquet"), pd.read_parquet(tmp_path / "b" / "episodes.parquet")
        )


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_where_it_stopped(routerbench, shared_data_dir, tmp_path, monkeypatch):
    import xrouter.evaluation.engines as engines

    overrides = ["policy=knn", "policy.lam=0.3", "batch_size=100"]
    evaluate(routerbench, shared_data_dir, tmp_path / "whole", overrides)
    calls = {"n": 0}
    original = engines.ReplayEngine.run

    def run_then_stop(self, examples, rows):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Interrupted
        return original(self, examples, rows)

    monkeypatch.setattr(engines.ReplayEngine, "run", run_then_stop)
    with pytest.raises(Interrupted):
        evaluate(routerbench, shared_data_dir, tmp_path / "cut", overrides)
    log = tmp_path / "cut" / "episodes.jsonl"
    assert len(log.read_text().splitlines()) == 300 and not (tmp_path / "cut" / "summary.json").exists()
    with open(log, "a") as handle:  # a kill in the middle of a line
        handle.write('{"episode_id": "eval/cut sh')
    seen = []
    monkeypatch.setattr(
        engines.ReplayEngine, "run", lambda self, ex, rows: seen.extend(rows) or original(self, ex, rows)
    )
    resumed = evaluate(routerbench, shared_data_dir, tmp_path / "cut", overrides)
    assert len(seen) == 945 - 300 and min(seen) == 300  # only the unfinished episodes ran
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "whole" / "episodes.parquet"), pd.read_parquet(tmp_path / "cut" / "episodes.parquet")
    )
    assert resumed == json.loads((tmp_path / "whole" / "summary.json").read_text())
    seen.clear()
    evaluate(routerbench, shared_data_dir, tmp_path / "cut", overrides)  # finished: nothing to run
    assert seen == []
    with pytest.raises(RuntimeError, match="another run"):
        evaluate(routerbench, shared_data_dir, tmp_path / "cut", ["policy=knn", "policy.lam=0.5"])


def test_sweep_writes_one_run_per_knob_value_and_the_curve(routerbench, shared_data_dir, tmp_path):
    report = evaluate(routerbench, shared_data_dir, tmp_path, ["policy=best_fixed_per_task", "sweep=[0,0.5,1000]"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["lam=0", "lam=0.5", "lam=1000"]
    for value in (0, 0.5, 1000):
        summary = json.loads((tmp_path / f"lam={value:g}" / "summary.json").read_text())
        assert summary["knob"] == {"lam": value} and summary["label"] == f"best_fixed_per_task lam={value:g}"
        assert OmegaConf.load(tmp_path / f"lam={value:g}" / "config.yaml").policy.lam == value
    assert json.loads((tmp_path / "sweep.json").read_text()) == json.loads(json.dumps(report, default=str))
    assert [p["knob"] for p in report["points"]] == [{"lam": 0}, {"lam": 0.5}, {"lam": 1000}]
    assert report["points"][2]["accuracy"] == pytest.approx(
        report["reference"]["single"]["mistral-7b-chat"]["accuracy"]
    )
    assert 0 < report["aiq"] <= 1 and report["pareto"] and "oracle_gap_of_best_point" in report


def test_cli_writes_the_run_and_a_rerun_skips_finished_episodes(tmp_path, shared_data_dir):
    command = [
        sys.executable,
        "-m",
        "xrouter.evaluate",
        "policy=single",
        "policy.model=mistral-7b-chat",
        f"output_dir={tmp_path}",
        "limit=50",
    ]
    first = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr[-2000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["n"] == 50 and (tmp_path / "episodes.parquet").exists() and (tmp_path / "config.yaml").exists()
    second = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0 and "50 of 50 episodes already done" in second.stderr + second.stdout
    assert json.loads(second.stdout.strip().splitlines()[-1]) == summary

"""The analysis layer on run directories written to the run-file contract from the real RouterBench
test split: loader, ranking tables, lambda-sweep table, Pareto/share PNGs, the make_figures CLI.

The fixture runs are computed from the recorded traces (each single model, the oracle, a random
router, a length-threshold cascade, and a per-task cost-utility choice standing in for a router's
lambda sweep), so the figures they give are real figures of those simple policies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xrouter.data.datasets import select_split
from xrouter.data.stats import oracle_choice
from xrouter.data.traces import complete_prompts

LAMBDAS = (0.0, 0.3, 1.0, 3.0, 10.0)
THRESHOLDS = (0.25, 0.5, 0.75)


def _write_run(root: Path, name: str, chosen: pd.DataFrame, identity: dict, direct: pd.Series | None = None) -> Path:
    """A run directory from one chosen trace row per prompt (``direct``: prompts answered directly,
    free, scored as the chosen row) — summary.json, episodes.parquet, config.yaml."""
    run = root / name
    run.mkdir(parents=True)
    chosen = chosen.reset_index(drop=True)
    is_direct = np.zeros(len(chosen), bool) if direct is None else chosen["prompt_id"].isin(direct).to_numpy()
    cost = np.where(is_direct, 0.0, chosen["cost_usd"].astype(float))
    episodes = pd.DataFrame(
        {
            "episode_id": [f"{name}/{i}" for i in range(len(chosen))],
            "prompt_id": chosen["prompt_id"],
            "benchmark": chosen["benchmark"],
            "termination": np.where(is_direct, "final_text", "select"),
            "final_source": np.where(is_direct, "direct", "call_" + chosen["model"]),
            "final_answer": chosen["response"],
            "score": chosen["score"].astype(float),
            "tool_cost_usd": cost,
            "router_cost_usd": 0.0,
            "turns": 1,
            "n_calls": np.where(is_direct, 0, 1),
            "models_called": [[] if d else [m] for d, m in zip(is_direct, chosen["model"])],
            "n_malformed": 0,
            "strategy": np.where(is_direct, "direct", "single"),
            "latency_s": 0.0,
        }
    )
    episodes.to_parquet(run / "episodes.parquet", index=False)

    def figures(ep: pd.DataFrame) -> dict:
        called = pd.Series([m for ms in ep["models_called"] for m in ms], dtype=object)
        return {
            "n": len(ep),
            "accuracy": float(ep["score"].mean()),
            "cost_per_query": float(ep["tool_cost_usd"].mean()),
            "model_share": {m: float(s) for m, s in called.value_counts(normalize=True).sort_index().items()},
        }

    summary = {
        **figures(episodes),
        "total_cost_usd": float(episodes["tool_cost_usd"].sum()),
        "calls_per_query": float(episodes["n_calls"].mean()),
        "direct_answer_rate": float((episodes["final_source"] == "direct").mean()),
        "benchmark": "routerbench",
        "pool": "routerbench",
        "split": "test",
        **identity,
        "per_benchmark": {b: figures(g) for b, g in episodes.groupby("benchmark")},
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    (run / "config.yaml").write_text(f"policy: {identity['policy']}\nknob: {json.dumps(identity['knob'])}\n")
    return run


def write_fixture_runs(traces: pd.DataFrame, root: Path) -> list[Path]:
    """21 runs on the RouterBench test split: 11 single models, oracle, random, 3 thresholds, 5 lambdas
    (one of them answering the prompts its cheapest model gets right directly, to exercise direct rates)."""
    test, _ = complete_prompts(select_split(traces, "test"))
    train, _ = complete_prompts(select_split(traces, "train"))
    test = test.sort_values(["prompt_id", "model"]).reset_index(drop=True)
    runs = []
    for i, (model, rows) in enumerate(test.groupby("model", sort=True)):
        runs.append(
            _write_run(root, f"single_{i:02d}", rows, {"policy": "single", "label": f"single {model}", "knob": {}})
        )
    runs.append(_write_run(root, "oracle", oracle_choice(test), {"policy": "oracle", "label": "oracle", "knob": {}}))
    rng = np.random.default_rng(0)
    models = sorted(test["model"].unique())
    pick = pd.DataFrame({"prompt_id": sorted(test["prompt_id"].unique())})
    pick["model"] = rng.choice(models, len(pick))
    runs.append(_write_run(root, "random", test.merge(pick), {"policy": "random", "label": "random", "knob": {}}))
    length = test.drop_duplicates("prompt_id").set_index("prompt_id")["prompt"].str.len()
    for t in THRESHOLDS:  # long prompts to GPT-4, short ones to Mixtral
        pick = (length > length.quantile(t)).map({True: "gpt-4-1106-preview", False: "mistralai/mixtral-8x7b-chat"})
        chosen = test.merge(pick.rename("model").reset_index())
        runs.append(
            _write_run(
                root,
                f"threshold_{t}",
                chosen,
                {"policy": "threshold", "label": f"threshold t={t}", "knob": {"threshold": t}},
            )
        )
    per_task = train.groupby(["benchmark", "model"]).agg(acc=("score", "mean"), cost=("cost_usd", "mean")).reset_index()
    cheapest = test.loc[test.groupby("prompt_id")["cost_usd"].idxmin()]
    for lam in LAMBDAS:  # the per-task model maximising train accuracy - lam * cost (cost in cents)
        utility = per_task.assign(u=per_task["acc"] - lam * per_task["cost"] / 0.01)
        best = utility.loc[utility.groupby("benchmark")["u"].idxmax(), ["benchmark", "model"]]
        chosen = test.merge(best)
        direct = cheapest.loc[cheapest["score"] > 0, "prompt_id"] if lam == 10.0 else None
        runs.append(
            _write_run(
                root,
                f"router_lam{lam:g}",
                chosen,
                {"policy": "router", "label": f"xrouter lam={lam:g}", "knob": {"lam": lam}},
                direct,
            )
        )
    return runs


@pytest.fixture(scope="module")
def fixture_runs(routerbench_traces, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_fixture_runs(routerbench_traces, root)
    return root


def _summaries(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("summary.json"))]


def test_load_runs_tidy(fixture_runs):
    from analysis.runs import load_runs

    frame = load_runs(str(fixture_runs / "**" / "summary.json"))
    overall = frame[frame.scope == "all"]
    assert len(overall) == 21 and set(frame.scope) == {"all", "arc_challenge", "winogrande", "mbpp"}
    assert len(frame) == 21 * 4
    # the same runs found from the folder itself; families strip the knob from the label
    assert len(load_runs(str(fixture_runs))) == len(frame)
    assert set(overall.loc[overall.policy == "router", "family"]) == {"xrouter"}
    assert set(overall.loc[overall.policy == "threshold", "family"]) == {"threshold"}
    gpt4 = overall[overall.label == "single gpt-4-1106-preview"].iloc[0]
    assert (round(gpt4.accuracy, 4), round(gpt4.cost_per_query * 1e3, 4)) == (0.8794, 5.0034)
    oracle = overall[overall.policy == "oracle"].iloc[0]
    assert (round(oracle.accuracy, 4), round(oracle.cost_per_query * 1e3, 4)) == (0.9757, 0.2111)
    # per-scope calls and direct rates come from episodes.parquet
    lam10 = frame[(frame.label == "xrouter lam=10") & (frame.scope != "all")]
    assert lam10.direct_answer_rate.between(0, 1).all() and (lam10.direct_answer_rate > 0).any()
    assert (frame.loc[frame.policy == "single", "calls_per_query"] == 1).all()


def test_load_runs_errors_name_the_problem(tmp_path):
    from analysis.runs import load_runs

    with pytest.raises(FileNotFoundError, match="no run directory"):
        load_runs(str(tmp_path / "nothing*"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text('{"accuracy": 0.5}')
    with pytest.raises(ValueError, match=r"bad/summary.json: no 'cost_per_query'"):
        load_runs(str(tmp_path))
    (tmp_path / "bad" / "summary.json").write_text(
        json.dumps(
            {
                "accuracy": 0.5,
                "cost_per_query": 1e-3,
                "per_benchmark": {"empty": {"n": 0}, "ok": {"n": 2, "accuracy": 1.0, "cost_per_query": 0.0}},
            }
        )
    )
    with pytest.warns(UserWarning, match="bad/empty"):
        frame = load_runs(str(tmp_path))
    assert list(frame.scope) == ["all", "ok"] and frame.policy.eq("unknown").all()


def test_ranking_one_row_per_run_in_aiq_order(fixture_runs):
    from analysis.runs import load_runs
    from analysis.scores import aiq, common_cost_range
    from analysis.tables import families_ranked, runs_ranked

    frame = load_runs(str(fixture_runs))
    table = runs_ranked(frame, "routerbench")
    summaries = _summaries(fixture_runs)
    assert len(table) == len(summaries) and sorted(table["label"]) == sorted(s["label"] for s in summaries)
    # recomputed straight from the summary files: AIQ of each run as one point over the single
    # models' cost range (mistral-7b's to gpt-4's)
    span = common_cost_range([[(s["cost_per_query"], s["accuracy"]) for s in summaries if s["policy"] == "single"]])
    assert (round(span[0] * 1e3, 4), round(span[1] * 1e3, 4)) == (0.0811, 5.0034)
    expected = sorted(
        (-aiq([(s["cost_per_query"], s["accuracy"])], span), s["cost_per_query"], s["label"]) for s in summaries
    )
    assert list(table["label"]) == [label for _, _, label in expected]
    assert list(table["rank"]) == list(range(1, 22)) and table["AIQ"].is_monotonic_decreasing
    assert table.loc[0, "policy"] == "oracle"
    # the frontier: every non-oracle run that no other non-oracle run dominates
    deployable = [s for s in summaries if s["policy"] != "oracle"]
    dominated = {
        s["label"]
        for s in deployable
        for o in deployable
        if o["cost_per_query"] <= s["cost_per_query"]
        and o["accuracy"] >= s["accuracy"]
        and (o["cost_per_query"], o["accuracy"]) != (s["cost_per_query"], s["accuracy"])
    }
    assert set(table.loc[table.pareto == "yes", "label"]) == {s["label"] for s in deployable} - dominated
    assert "single gpt-4-1106-preview" not in dominated and "single claude-v1" in dominated
    families = families_ranked(frame, "routerbench")
    assert families["AIQ"].is_monotonic_decreasing and len(families) == 11 + 1 + 1 + 1 + 1
    assert families.set_index("family").loc["xrouter", "points"] == len(LAMBDAS)


def test_sweep_tables(fixture_runs):
    from analysis.runs import load_runs
    from analysis.tables import lambda_families, sweep_table, swept_families

    frame = load_runs(str(fixture_runs))
    assert lambda_families(frame, "routerbench") == ["xrouter"]
    assert swept_families(frame, "routerbench") == ["xrouter", "threshold"]
    table = sweep_table(frame, "routerbench", "xrouter")
    assert list(table.columns) == ["lambda", "accuracy", "cost_per_query", "calls_per_query", "direct_rate", "AIQ"]
    assert list(table["lambda"]) == ["0", "0.3", "1", "3", "10", "sweep (curve)"]
    points = table.iloc[:-1]
    assert points["cost_per_query"].is_monotonic_decreasing  # a higher lambda never buys dearer models
    assert points["direct_rate"].iloc[-1] > 0 and (points["direct_rate"].iloc[:-1] == 0).all()
    assert table["AIQ"].iloc[-1] >= points["AIQ"].max() - 1e-12  # the curve's hull dominates each point


def _nontrivial_png(path: Path) -> None:
    import matplotlib.image as mpimg

    image = mpimg.imread(path)  # decodes
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
    rgb = image[..., :3]
    non_background = (np.abs(rgb - 1.0).sum(axis=-1) > 0.1).mean()
    colours = len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert non_background > 0.03 and colours > 50, (path, non_background, colours)


def test_make_figures_cli(fixture_runs, tmp_path):
    out = tmp_path / "figures"
    result = subprocess.run(
        [sys.executable, "-m", "analysis.make_figures", f"runs={fixture_runs}/**", f"out={out}"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout.strip().splitlines()[-1])["files"]["routerbench"]
    names = {Path(f).name for f in files}
    assert {
        "pareto_routerbench.png",
        "shares_routerbench.png",
        "ranking_routerbench.md",
        "ranking_routerbench.tex",
        "families_routerbench.md",
        "lambda_sweep_routerbench.md",
        "lambda_sweep_routerbench.tex",
        "sweep_threshold_routerbench.md",
    } <= names
    for png in ("pareto_routerbench.png", "shares_routerbench.png"):
        _nontrivial_png(out / png)
    ranking = (out / "ranking_routerbench.md").read_text().splitlines()
    rows = [line for line in ranking if line.startswith("|")][2:]  # header and rule first
    assert len(rows) == 21 and "| oracle" in rows[0].replace("|    1 ", "")
    tex = (out / "lambda_sweep_routerbench.tex").read_text()
    assert "\\begin{tabular}" in tex and tex.count("\\\\") >= 7 and "sweep (curve)" in tex
    lam = (out / "lambda_sweep_routerbench.md").read_text()
    assert all(f"| {v} " in lam.replace("|  ", "| ") or f"{v}" in lam for v in ("0.3", "10"))


def test_make_figures_cli_errors(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "analysis.make_figures", f"runs={tmp_path}/none*"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "no run directory" in result.stderr
    result = subprocess.run([sys.executable, "-m", "analysis.make_figures", "out=x"], capture_output=True, text=True)
    assert result.returncode != 0 and "runs=<glob> is required" in result.stderr


def test_figures_from_the_evaluate_cli(tmp_path):
    """The path `make figures` takes: xrouter.evaluate run directories (two single models through a
    Hydra multirun, the oracle, a best_fixed_per_task sweep) -> make_figures -> PNGs and tables."""
    runs = tmp_path / "runs"
    evaluate = [sys.executable, "-m", "xrouter.evaluate"]
    for args in (
        [
            "-m",
            "policy=single",
            "policy.model=gpt-4-1106-preview,mistral-7b-chat",
            f"hydra.sweep.dir={runs / 'single'}",
            "hydra.sweep.subdir=${policy.model}",
        ],
        ["policy=oracle", f"output_dir={runs / 'oracle'}"],
        ["policy=best_fixed_per_task", "sweep=[0,0.3,1,10]", f"output_dir={runs / 'bfpt'}"],
    ):
        result = subprocess.run(evaluate + args + ["progress=false"], capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "figures"
    result = subprocess.run(
        [sys.executable, "-m", "analysis.make_figures", f"runs={runs}", f"out={out}"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    _nontrivial_png(out / "pareto_routerbench.png")
    ranking = [line for line in (out / "ranking_routerbench.md").read_text().splitlines() if line.startswith("|")][2:]
    assert len(ranking) == 2 + 1 + 4 and "| oracle" in ranking[0]
    sweep = (out / "sweep_best_fixed_per_task_routerbench.md").read_text()
    assert "| lambda " in sweep and "sweep (curve)" in sweep and sweep.count("\n|") == 2 + 4 + 1

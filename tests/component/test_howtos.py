"""The manual's how-tos, followed literally: their code and config blocks are read from docs/howto/*.md and run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import types

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import compose
from xrouter import PROJECT_ROOT

HOWTO = PROJECT_ROOT / "docs" / "howto"


def blocks(page: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (HOWTO / page).read_text(), flags=re.S)


def test_add_a_routing_policy(monkeypatch, tmp_path):
    from xrouter import policies
    from xrouter.evaluate import run_evaluate

    class_code, register_code = blocks("add_policy.md", "python")
    module = types.ModuleType("xrouter.policies.length_threshold")
    exec(compile(class_code, "docs/howto/add_policy.md", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(policies.BASELINES, "length_threshold", None)  # restored after the test
    exec(compile(register_code, "docs/howto/add_policy.md", "exec"), {"BASELINES": policies.BASELINES})
    assert policies.BASELINES["length_threshold"] is module.LengthThreshold
    policy = yaml.safe_load(blocks("add_policy.md", "yaml")[0])

    cfg = compose(
        "evaluate", ["split=test", "limit=60", "progress=false", "sweep=default", f"output_dir={tmp_path / 'sweep'}"]
    )
    cfg.policy = OmegaConf.create(policy)
    run_evaluate(cfg)
    points = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["points"]
    assert [p["knob"]["max_chars"] for p in points] == policy["sweep_values"]
    costs = [p["cost_per_query"] for p in points]
    assert costs[0] > costs[-1]  # more characters allowed to the cheap model: cheaper
    command = blocks("add_policy.md", "bash")[0]
    assert "policy=length_threshold sweep=default" in command  # the page's own command is the one run here


def test_run_a_lambda_sweep(tmp_path):
    from xrouter.evaluate import run_evaluate

    train_command, table_command = blocks("lambda_sweep.md", "bash")
    arguments = [a for a in command_arguments(train_command, "xrouter.train") if not a.startswith("hydra.sweep.dir=")]
    arguments = [re.sub(r"reward.lam=.*", "reward.lam=0,3", a) for a in arguments]
    sweep = tmp_path / "lams"
    done = subprocess.run(
        [sys.executable, "-m", "xrouter.train", *arguments, f"hydra.sweep.dir={sweep}", "debug=fast", "threads=1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["lam_0", "lam_3"]
    for lam in (0, 3):  # a sweep over reward.lam trains each job at its lambda: the recipe's draws are off
        job = yaml.safe_load((sweep / f"lam_{lam}" / "config.yaml").read_text())
        assert job["reward"]["lam"] == lam and job["reward"]["lam_sampling"] is None
    for name in ("knn", "mlp"):  # the baselines' curves a default run prints
        run_evaluate(
            compose(
                "evaluate",
                [
                    f"policy={name}",
                    "sweep=default",
                    "split=test",
                    "limit=6",
                    "progress=false",
                    f"output_dir={tmp_path / 'baselines' / name}",
                ],
            )
        )
    table = table_command.split()
    assert table[1] == "experiments/rl_learning/lam_table.py"
    done = subprocess.run(
        [sys.executable, table[1], str(sweep), "--baselines", str(tmp_path / "baselines")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 0") or line.startswith("| 3")]
    assert len(rows) == 2, done.stdout


def command_arguments(command: str, module: str) -> list[str]:
    """The Hydra overrides of a page's ``python -m <module> ...`` line (continuations joined)."""
    words = command.replace("\\\n", " ").split()
    return [w.strip("'") for w in words[words.index(module) + 1 :]]


@contextlib.contextmanager
def config_file(group: str, name: str, text: str):
    """The page's config written where it tells the reader to put it (``conf/<group>/<name>.yaml``), removed after."""
    from xrouter import CONF_DIR

    path = CONF_DIR / group / f"{name}.yaml"
    assert not path.exists(), f"{path} exists: the how-to's file would overwrite it"
    path.write_text(text)
    try:
        yield path
    finally:
        path.unlink()


def test_add_a_reward(monkeypatch, tmp_path):
    import pandas as pd

    from xrouter.evaluate import run_evaluate
    from xrouter.reward import functions

    (code,) = blocks("add_reward.md", "python")
    monkeypatch.setitem(functions.REWARDS, "budget", None)  # restored after the test
    namespace: dict = {}
    exec(compile(code, "docs/howto/add_reward.md", "exec"), namespace)
    assert functions.REWARDS["budget"] is namespace["budget_reward"]
    evaluate_command, train_command = blocks("add_reward.md", "bash")[0].strip().split("\n.venv/bin/python")
    with config_file("reward", "budget", blocks("add_reward.md", "yaml")[0]):
        arguments = [a for a in command_arguments(evaluate_command, "xrouter.evaluate") if "output_dir" not in a]
        run_evaluate(compose("evaluate", [*arguments, "progress=false", f"output_dir={tmp_path / 'eval'}"]))
        train_cfg = compose("train", command_arguments(train_command, "xrouter.train"))
    episodes = pd.read_parquet(tmp_path / "eval" / "episodes.parquet")
    assert len(episodes) == 50 and episodes["reward_score"].between(0, 1).all()
    factor = episodes["reward_cost_usd"].gt(0.001).map({True: 0.5, False: 1.0})
    assert episodes["reward_total"].tolist() == pytest.approx((episodes["reward_score"] * factor).tolist())
    assert train_cfg.reward.name == "budget" and train_cfg.reward.lam_sampling is None


def test_add_a_model_pool(monkeypatch, tmp_path, routerbench_pool_server):
    import pandas as pd

    from xrouter.evaluate import run_evaluate

    server_command, evaluate_command = blocks("add_pool.md", "bash")[0].strip().split("\n", 1)
    assert command_arguments(server_command, "xrouter.serve_pool") == ["pool=routerbench", "port=8001"]
    monkeypatch.setenv("MY_SERVER_KEY", "any")
    out = tmp_path / "my_server_large"
    with config_file("pool", "my_server", blocks("add_pool.md", "yaml")[0]):
        arguments = [a for a in command_arguments(evaluate_command, "xrouter.evaluate") if "output_dir" not in a]
        summary = run_evaluate(
            compose(
                "evaluate",
                [*arguments, "progress=false", f"output_dir={out}", f"pool.common.base_url={routerbench_pool_server}"],
            )
        )
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert len(episodes) == 20 and episodes["reward_cost_usd"].gt(0).all()
    assert summary["n"] == 20 and summary["model_share"] == {"large": 1.0}
    assert summary["accuracy"] > 0.5  # GPT-4's recorded answers, over HTTP


def answer_log_from_routerbench(shared_data_dir, path, per_split: int = 40):
    """A user's answer log, written from RouterBench's recorded answers of three models (every one answered)."""
    from xrouter.data.datasets import dataset_config, load_dataset

    traces = load_dataset(dataset_config("routerbench"), shared_data_dir)
    models = ["gpt-4-1106-preview", "mistralai/mistral-7b-chat", "meta/llama-2-70b-chat"]
    traces = traces[traces["model"].isin(models)]
    complete = traces.groupby("prompt_id")["model"].nunique().eq(len(models))
    ids = []
    for split in ("train", "test"):
        in_split = sorted(p for p in traces.loc[traces["split"] == split, "prompt_id"].unique() if complete[p])
        ids += in_split[:per_split]
    rows = traces[traces["prompt_id"].isin(ids)]
    path.parent.mkdir(parents=True)
    rows.rename(
        columns={
            "prompt_id": "query_id",
            "benchmark": "task",
            "prompt": "question",
            "response": "answer",
            "cost_usd": "usd",
        }
    ).assign(correct=rows["score"].ge(0.5).astype(int))[
        ["query_id", "task", "split", "question", "model", "answer", "correct", "usd"]
    ].to_csv(path, index=False)
    return rows


def test_add_a_dataset_converter(monkeypatch, tmp_path, shared_data_dir):
    from xrouter.build import build_pool
    from xrouter.data import datasets
    from xrouter.data.stats import run_stats
    from xrouter.evaluate import run_evaluate

    converter_code, register_code = blocks("add_converter.md", "python")
    module = types.ModuleType("xrouter.data.converters.answer_log")
    module.__file__ = str(tmp_path / "answer_log.py")  # the cache key hashes the converter's source file
    (tmp_path / "answer_log.py").write_text(converter_code)
    exec(compile(converter_code, "docs/howto/add_converter.md", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(datasets.CONVERTERS, "answer_log", None)  # restored after the test
    exec(compile(register_code, "docs/howto/add_converter.md", "exec"), {"CONVERTERS": datasets.CONVERTERS})
    dataset_yaml = blocks("add_converter.md", "yaml")[0]
    data_dir, cache = tmp_path / "data", tmp_path / "cache"
    log_path = data_dir / yaml.safe_load(dataset_yaml)["files"]["answers"]["path"]
    rows = answer_log_from_routerbench(shared_data_dir, log_path)
    monkeypatch.setenv("XROUTER_DATA_DIR", str(data_dir))  # the user's data directory, which holds the log
    where = [f"paths.cache_dir={cache}"]
    stats_command, evaluate_command, train_command = [
        "python" + c for c in blocks("add_converter.md", "bash")[0].split(".venv/bin/python")[1:]
    ]
    with config_file("dataset", "answer_log", dataset_yaml):
        stats = run_stats(compose("stats", [*command_arguments(stats_command, "xrouter.data.stats"), *where]))
        arguments = [a for a in command_arguments(evaluate_command, "xrouter.evaluate") if "output_dir" not in a]
        summary = run_evaluate(
            compose("evaluate", [*arguments, *where, "progress=false", f"output_dir={tmp_path / 'oracle'}"])
        )
        train_cfg = compose("train", [*command_arguments(train_command, "xrouter.train"), *where])
        pool = build_pool(train_cfg.pool, data_dir, cache)
    assert stats["n_prompts"] == 80 and len(stats["models"]) == 3
    test = rows[rows["split"] == "test"]
    oracle = test.groupby("prompt_id")["score"].max().ge(0.5).mean()  # a right answer from any of the three
    assert summary["n"] == 40 and summary["accuracy"] == pytest.approx(oracle)
    assert sorted(pool.names) == ["gpt-4-1106-preview", "llama-2-70b-chat", "mistral-7b-chat"]
    assert train_cfg.benchmark.name == "traces" and train_cfg.benchmark.traces == "answer_log"  # the pool's prompts


@pytest.mark.parametrize("page", sorted(p.name for p in HOWTO.glob("*.md")))
def test_every_howto_is_followed_by_a_test(page):
    assert page.removesuffix(".md") in {
        "add_policy",
        "lambda_sweep",
        "add_reward",
        "add_pool",
        "add_converter",
        "paper_table",
    }, f"docs/howto/{page} has no test here"


def test_the_manual_builds_strictly(tmp_path):
    """``mkdocs build --strict``: a broken link, a page missing from the nav or an API page whose module does not
    resolve fails the suite."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nondecreasing_convex_hull" in (tmp_path / "site" / "api" / "metrics" / "index.html").read_text()


PAPER_MODELS = {"gpt-4-1": 12, "gpt-5-mini": 25, "gpt-5": 22}  # canned: problems answered right (of 30)


def canned_aime25_answers(shared_data_dir, path) -> None:
    """The live API's stand-in: an answer per (AIME 2025 problem, model), right on the first k problems."""
    import pandas as pd

    from xrouter.data.benchmarks import load_benchmark

    problems = load_benchmark(
        compose("record", ["pool=xrouter_paper", "benchmark=aime25", "output=x"]).benchmark, shared_data_dir, "test"
    )
    assert len(problems) == 30
    rows = [
        {
            "prompt_id": p.prompt_id,
            "benchmark": "aime25",
            "split": "test",
            "prompt": p.prompt,
            "gold": str(p.gold),
            "model": model,
            "response": f"Reasoning ... the answer is \\boxed{{{p.gold if i < right else 1000}}}",
            "score": float(i < right),
            "input_tokens": 120,
            "output_tokens": 2000,
            "cost_usd": 0.0,
            "latency_s": 1.0,
            "source": "canned answers (test stand-in for the live API)",
        }
        for model, right in PAPER_MODELS.items()
        for i, p in enumerate(problems.itertuples())
    ]
    pd.DataFrame(rows).to_parquet(path)


def test_reproduce_the_paper_table(monkeypatch, tmp_path, shared_data_dir):
    from xrouter.build import build_pool
    from xrouter.evaluate import run_evaluate
    from xrouter.pool.api import build_app, serve_in_thread
    from xrouter.record import run_record

    published, record_command, evaluate_command, table_command = blocks("paper_table.md", "bash")
    table = subprocess.run(
        [sys.executable, "-m", *published.split()[2:]], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert table.returncode == 0, table.stderr[-2000:]
    assert "GPT-4.1" in table.stdout and "0.400" in table.stdout  # the paper's AIME25 figure for GPT-4.1

    canned = tmp_path / "canned.parquet"
    canned_aime25_answers(shared_data_dir, canned)
    stand_in = build_pool(compose("serve_pool", ["pool=replay", f"pool.traces={canned}"]).pool, shared_data_dir)
    out = tmp_path / "paper"
    monkeypatch.setenv("OPENAI_API_KEY", "any")
    with serve_in_thread(build_app(stand_in)) as base_url:
        arguments = [a.replace("outputs/paper", str(out)) for a in command_arguments(record_command, "xrouter.record")]
        to_stand_in = [  # the page's pool, each model's endpoint pointed at the stand-in (by the name it serves)
            override
            for model in PAPER_MODELS
            for override in (f"pool.models.{model}.base_url={base_url}", f"pool.models.{model}.api_model={model}")
        ]
        summary = run_record(
            compose("record", [*arguments, *to_stand_in, "+pool.common.send_prompt_id=true", "progress=false"])
        )
    assert summary["stopped"] == "complete" and summary["rows_written"] == 90 and summary["errors"] == 0
    assert 0 < summary["usd"] < 10  # priced at the paper pool's prices from the usage the stand-in reported

    arguments = [a.replace("outputs/paper", str(out)) for a in command_arguments(evaluate_command, "xrouter.evaluate")]
    assert arguments[0] == "-m" and "policy.model=gpt-4-1,gpt-5-mini,gpt-5" in arguments
    for model, right in PAPER_MODELS.items():  # the multirun's jobs, one per model, into the page's sweep layout
        job = [a for a in arguments[1:] if not a.startswith(("hydra.", "policy.model="))]
        result = run_evaluate(
            compose(
                "evaluate", [*job, f"policy.model={model}", "progress=false", f"output_dir={out / 'single' / model}"]
            )
        )
        assert result["n"] == 30 and result["accuracy"] == pytest.approx(right / 30)

    words = [w.strip("'").replace("outputs/paper", str(out)) for w in table_command.split()]
    done = subprocess.run(
        [sys.executable, "-m", *words[words.index("-m") + 1 :]],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Paper benchmarks matched: AIME25" in done.stdout, done.stdout
    assert (out / "table" / "paper_table.md").exists() and (out / "table" / "paper_table.tex").exists()
    gpt41 = next(line for line in done.stdout.splitlines() if line.startswith("| GPT-4.1"))
    assert "0.400" in gpt41 and gpt41.count("0.400") == 2, gpt41  # ours beside the paper's: 12 of 30 right

"""Bad config values fail before any work, as one line naming the key and what it may be."""

import math
import subprocess
import sys

import pytest

from tests.conftest import compose
from xrouter import PROJECT_ROOT
from xrouter.config import ConfigValueError
from xrouter.evaluate import check_evaluate_config
from xrouter.rl.algo_config import AlgoConfig, AlgoConfigError
from xrouter.train import check_train_config


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_steps=abc", "trainer.max_steps='abc': must be a positive integer"),
        ("trainer.max_steps=-5", "trainer.max_steps=-5: must be a positive integer"),
        ("reward.lam=abc", "reward.lam='abc': must be a number >= 0"),
        ("data.prompts_per_step=0", "data.prompts_per_step=0: must be a positive integer"),
        ("cold_start.steps=-3", "cold_start.steps=-3: must be an integer >= 0"),
        ("rollout.group_size=0", "rollout.group_size=0: must be a positive integer"),
    ],
)
def test_train_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigValueError, match=message.replace("(", r"\(")):
        check_train_config(compose("train", [override, "output_dir=x"]))


@pytest.mark.parametrize("override", ["batch_size=0", "limit=-3", "policy=router", "threads=0"])
def test_evaluate_config_errors_name_the_key(override):
    cfg = compose("evaluate", [override, "output_dir=x"])
    if override == "policy=router":  # a valid config: nothing to say
        check_evaluate_config(cfg)
        return
    with pytest.raises(ConfigValueError, match=override.split("=")[0]):
        check_evaluate_config(cfg)


def test_every_algo_config_is_valid_and_bad_values_are_named():
    for name in ("dapo", "dapo_tiny", "grpo"):
        check_train_config(compose("train", [f"algo={name}", "output_dir=x"]))
    base = {"name": "x", "lr": 1e-3}
    with pytest.raises(AlgoConfigError, match="algo.aggregation='mean' is out of range: it must be one of token-mean"):
        AlgoConfig.from_config({**base, "aggregation": "mean"})
    with pytest.raises(AlgoConfigError, match=r"algo: unknown keys \['lr_decay'\]"):
        AlgoConfig.from_config({**base, "lr_decay": 0.1})
    with pytest.raises(AlgoConfigError, match="algo.ppo_epochs=1.5 must be an integer"):
        AlgoConfig.from_config({**base, "ppo_epochs": 1.5})
    assert AlgoConfig.from_config({**base, "kl_beta": 1}).kl_beta == 1.0
    with pytest.raises(AlgoConfigError, match="algo.lr_schedule='linear' is out of range: it must be one of constant"):
        AlgoConfig.from_config({**base, "lr_schedule": "linear"})


def test_the_lm_reads_the_condition_where_it_makes_turn_decisions():
    from xrouter.build import lm_reads_condition

    # the default recipe: the routing head makes simple mode's one decision; in full mode the LM decides whether
    # to call again, escalate or select, and must see the query and lambda to make that depend on them
    for env, reads in (("simple", False), ("full", True)):
        cfg = compose("train", [f"env={env}", "output_dir=x"])
        assert lm_reads_condition(cfg.router.condition_lm, cfg.env.mode) is reads
        check_train_config(cfg)
    for value in (True, False):
        assert lm_reads_condition(value, "full") is value and lm_reads_condition(value, "simple") is value
    with pytest.raises(ConfigValueError, match="router.condition_lm='sometimes': must be true, false or auto"):
        check_train_config(compose("train", ["router.condition_lm=sometimes", "output_dir=x"]))


def test_full_mode_shows_the_tiny_routers_the_parsed_answer_and_llm_routers_a_clip():
    from xrouter.router.settings import RouterSettings

    # env=full's auto: the tiny routers read a result through 64 characters, so they get the parsed answer
    for router, view in (("tiny_encoder", "answer"), ("tiny", "answer"), ("qwen2_5_7b_instruct", "clip")):
        cfg = compose("train", ["env=full", f"router={router}", "recipe=text_only", "output_dir=x"])
        assert cfg.env.tool_result_view == "auto" and RouterSettings.from_config(cfg).tool_result_view == view
    assert RouterSettings.from_config(compose("train", ["env=simple"])).tool_result_view == "clip"
    chosen = compose("train", ["env=full", "env.tool_result_view=clip", "output_dir=x"])
    assert RouterSettings.from_config(chosen).tool_result_view == "clip"  # a chosen view is kept
    with pytest.raises(ConfigValueError, match="env.tool_result_view='summary': must be auto, clip, full, answer"):
        check_train_config(compose("train", ["env=full", "env.tool_result_view=summary", "output_dir=x"]))


def test_lr_schedule_warms_up_then_holds_or_decays_to_zero():
    constant = AlgoConfig.from_config({"name": "x", "lr": 1e-3, "warmup_steps": 2})
    assert [constant.lr_factor(step, 10) for step in (0, 1, 5, 9)] == [0.5, 1.0, 1.0, 1.0]
    cosine = AlgoConfig.from_config({"name": "x", "lr": 1e-3, "warmup_steps": 2, "lr_schedule": "cosine"})
    factors = [cosine.lr_factor(step, 10) for step in range(10)]
    assert factors[:2] == [0.5, 1.0]
    assert all(a > b for a, b in zip(factors[1:], factors[2:]))  # decays after the warm-up
    assert factors[-1] == pytest.approx(0.0, abs=1e-12)  # 0 at the last optimizer step
    assert factors[5] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))


def test_cli_prints_one_line_and_exits_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "xrouter.train", "reward.lam=abc", f"output_dir={tmp_path}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: reward.lam='abc': must be a number >= 0",
        "(set HYDRA_FULL_ERROR=1 for the traceback)",
    ]
    assert not (tmp_path / "checkpoints").exists()


def test_logger_wandb_without_the_package_fails_before_any_work(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ValueError, match=r'logger=wandb needs the wandb package: pip install -e "\.\[wandb\]"'):
        check_train_config(compose("train", ["logger=wandb", "output_dir=x"]))


def test_logger_wandb_logs_offline_into_the_run_directory(tmp_path):
    pytest.importorskip("wandb")
    from xrouter.train import build_logger

    logger = build_logger(compose("train", ["logger=wandb", f"output_dir={tmp_path}"]), tmp_path)
    logger.log_metrics({"train/reward": 0.5}, step=1)
    logger.experiment.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), "no offline run written"


@pytest.mark.parametrize("app", ["train", "evaluate"])
def test_one_name_selects_a_data_source(app, tmp_path):
    """A replayed pool brings its prompts (benchmark defaults to the pool's name); benchmark= still picks
    others; a live pool has none, and says so before any work."""
    from xrouter.data.benchmarks import load_benchmark

    assert compose(app, ["pool=zeroeval_math"]).benchmark.name == "zeroeval_math"
    assert compose(app, ["pool=zeroeval_reasoning"]).benchmark.traces == "zeroeval"
    replay = compose(app, ["pool=replay", "pool.traces=my_log.parquet"]).benchmark
    assert replay.name == "traces" and replay.traces == "my_log.parquet"
    assert compose(app, ["pool=zeroeval_math", "benchmark=routerbench"]).benchmark.name == "routerbench"
    with pytest.raises(ValueError, match="pool=xrouter_paper is a live pool: .* benchmark=<name>"):
        load_benchmark(compose(app, ["pool=xrouter_paper"]).benchmark, tmp_path)


def test_a_training_runs_baselines_run_with_xrouter_evaluates_own_settings():
    from pathlib import Path

    from xrouter.config import to_plain
    from xrouter.evaluation.router_sweep import baseline_settings

    train = compose("train", ["output_dir=x"])
    name, policy = next(iter(train.baselines.items()))
    settings = baseline_settings(train, policy, "test", Path("x") / name)
    evaluate = compose("evaluate", ["output_dir=x", f"policy={name}"])
    for key in ("engine", "batch_size", "baseline"):
        assert to_plain(settings[key]) == to_plain(evaluate[key]), key
    assert to_plain(settings.reward) == to_plain(train.reward)
    assert (settings.policy.name, settings.sweep, settings.progress) == (name, "default", False)

"""Every experiment config composes with the paper's settings; the cluster launchers compose; the
vLLM rollout config maps onto sampling parameters and fails clearly where vLLM is absent."""

from __future__ import annotations

import importlib.util

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import OmegaConf

import xrouter.config  # noqa: F401  (resolvers)
from tests.conftest import compose
from xrouter import CONF_DIR
from xrouter.rollout.hf import SamplingConfig
from xrouter.rollout.vllm import sampling_params_kwargs, trim_at_eos

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def compose_with_hydra(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)


def test_the_paper_experiments_exist():
    assert {"paper_xrouter7b", "paper_xrouter7b_replay"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_resolves(name, tmp_path):
    cfg = compose("train", [f"experiment={name}", f"output_dir={tmp_path}"])  # output_dir: set by Hydra at run time
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize("name", ["paper_xrouter7b", "paper_xrouter7b_replay"])
def test_paper_setting(name):
    cfg = compose("train", [f"experiment={name}"])
    assert cfg.router.path == "Qwen/Qwen2.5-7B-Instruct" and cfg.router.kind == "pretrained"
    assert cfg.env.max_turns == 3 and cfg.env.mode == "full"
    algo = cfg.algo
    assert (algo.name, algo.lr, algo.eps_low, algo.eps_high, algo.aggregation) == (
        "dapo",
        1e-6,
        0.2,
        0.28,
        "token-mean",
    )
    assert algo.dynamic_sampling and algo.kl_beta == 0.0
    assert (cfg.reward.name, cfg.reward.K, cfg.reward.cap) == ("xrouter", 1.0, 0.8)
    assert cfg.rollout.backend == "vllm" and cfg.cold_start.steps == 0
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 8
    assert cfg.algo.shard_optimizer_state and cfg.rollout.gradient_checkpointing and cfg.router.dtype == "float32"
    sweep = compose_with_hydra([f"experiment={name}"]).hydra.sweeper.params
    assert [float(x) for x in sweep["reward.lam"].split(",")] == [1.0, 2.0, 3.0]


def test_live_experiment_uses_the_papers_pool_and_replay_needs_no_key():
    live = compose("train", ["experiment=paper_xrouter7b"])
    assert live.pool.name == "xrouter_paper" and live.pool.kind == "openai"
    assert {"gpt-5", "gpt-5-mini", "o3", "deepseek-r1"} <= set(live.pool.models)
    replay = compose("train", ["experiment=paper_xrouter7b_replay"])
    assert replay.pool.kind == "replay" and replay.algo.lr == live.algo.lr


def test_replay_experiment_builds_its_pool_offline(shared_data_dir):
    from xrouter.build import build_pool

    cfg = compose("train", ["experiment=paper_xrouter7b_replay"])
    pool = build_pool(cfg.pool, shared_data_dir)
    assert len(pool.names) == 11


def test_slurm_launcher_composes_with_one_task_per_gpu():
    cfg = compose_with_hydra(
        [
            "experiment=paper_xrouter7b_replay",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.account=lab",
        ]
    )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert launcher["gpus_per_node"] == launcher["tasks_per_node"] == 8 and launcher["nodes"] == 1
    assert (launcher["partition"], launcher["account"]) == ("gpu", "lab")
    assert launcher["setup"] == [f"export XROUTER_DATA_DIR={cfg.paths.data_dir}"]


def test_slurm_launcher_follows_the_trainer():
    cfg = compose_with_hydra(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"])
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["gpus_per_node"], launcher["tasks_per_node"], launcher["nodes"]) == (4, 4, 2)
    cpu = OmegaConf.to_container(compose_with_hydra(["hydra/launcher=slurm"]).hydra.launcher, resolve=True)
    assert (cpu["gpus_per_node"], cpu["nodes"]) == (1, 1)


def test_local_parallel_launcher_composes():
    launcher = compose_with_hydra(["hydra/launcher=local_parallel"]).hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == 2


def test_ddp_trainer_config():
    cfg = compose("train", ["trainer=ddp"])
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"


# ---- rollout=vllm ---------------------------------------------------------------------------------


def test_vllm_sampling_parameters_come_from_the_config():
    cfg = compose(
        "train", ["rollout=vllm", "rollout.temperature=0.7", "rollout.top_p=0.9", "rollout.max_new_tokens=64"]
    )
    sampling = SamplingConfig(
        max_new_tokens=cfg.rollout.max_new_tokens,
        temperature=cfg.rollout.temperature,
        top_p=cfg.rollout.top_p,
        do_sample=True,
    )
    kwargs = sampling_params_kwargs(sampling, eos_token_id=7, seed=3)
    assert kwargs == {
        "n": 1,
        "max_tokens": 64,
        "stop_token_ids": [7],
        "detokenize": False,
        "skip_special_tokens": False,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": -1,
        "seed": 3,
    }
    greedy = sampling_params_kwargs(SamplingConfig(max_new_tokens=8, do_sample=False), eos_token_id=7)
    assert greedy["temperature"] == 0.0 and "seed" not in greedy


def test_vllm_turns_end_at_the_end_of_turn_token():
    assert trim_at_eos([5, 6, 7, 8, 7], 7) == [5, 6, 7]
    assert trim_at_eos([5, 6], 7) == [5, 6]  # cut off by max_tokens: the agent loop closes the turn


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_rollout_vllm_without_vllm_says_what_to_do(shared_data_dir, tmp_path):
    from xrouter.build import build_run

    cfg = compose(
        "train", ["router=tiny", "recipe=text_only", "rollout=vllm", "data.train_max=50", f"paths.cache_dir={tmp_path}"]
    )
    with pytest.raises(ImportError, match=r'pip install -e "\.\[gpu\]".*rollout=hf'):
        build_run(cfg)

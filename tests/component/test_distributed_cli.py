"""The real command line under several processes: ``python -m xrouter.train trainer=ddp`` and
``trainer=fsdp`` on CPU (2 gloo ranks) write exactly one output directory per job, also under ``-m``;
an FSDP run resumes from its checkpoint; the lambda sweep runs through the local-parallel (joblib)
and submitit launchers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from xrouter import PROJECT_ROOT

# conf/debug/fast.yaml, dapo_tiny's lr; no baseline sweeps
SMALL = ["debug=fast", "data.test_max=4", "algo.lr=1.0e-3", "threads=1", "baselines=none"]
DDP_CPU = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true"]
FSDP_CPU = ["trainer=fsdp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true"]


def train(args: list[str], root: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m xrouter.train`` with its run or sweep directory under ``root``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "xrouter.train",
        *args,
        f"hydra.run.dir={root / 'run'}",
        f"hydra.sweep.dir={root / 'sweep'}",
        "hydra.sweep.subdir=lam${reward.lam}",
    ]  # names < 255 chars
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def sweep_jobs(sweep: Path) -> dict[float, Path]:
    """Each finished job's directory (named by its overrides) by its lambda."""
    jobs = {}
    for result in sweep.glob("*/result.json"):
        lam = yaml.safe_load((result.parent / "config.yaml").read_text())["reward"]["lam"]
        assert lam not in jobs, f"two jobs ran lambda {lam}"
        jobs[lam] = result.parent
    return jobs


def assert_one_complete_run(run: Path, ranks: int = 1, steps: int = 2) -> dict:
    result = json.loads((run / "result.json").read_text())
    assert result["global_step"] == steps and result["output_dir"] == str(run)
    assert (run / "checkpoints" / "last.ckpt").exists() and (run / "router" / "config.json").exists()
    assert (run / "metrics.csv").exists() and (run / "eval_test" / "summary.json").exists()
    if ranks > 1:  # the other ranks logged into this same directory
        assert sorted(p.name for p in run.glob("train_ddp_process_*.log")) == [
            f"train_ddp_process_{r}.log" for r in range(1, ranks)
        ]
    return result


def test_ddp_run_writes_one_output_directory(tmp_path):
    # with ZeRO-1 (checkpoints gather the sharded optimizer state: checked in test_distributed.py)
    train(DDP_CPU + SMALL + ["+algo.shard_optimizer_state=true"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no second run dir, no sweep dir
    assert_one_complete_run(tmp_path / "run", ranks=2)
    configs = sorted(str(p.relative_to(tmp_path / "run")) for p in (tmp_path / "run").rglob("config.yaml"))
    assert configs == [".hydra/config.yaml", "config.yaml", "eval_test/config.yaml"]  # once each (the test run's own)


def test_fsdp_run_writes_one_output_directory_and_resumes(tmp_path):
    """FSDP2 end to end: sharded training, full-state checkpoints, rank 0 saving and evaluating an
    unsharded router; then a resume from last.ckpt continues the step count."""
    train(FSDP_CPU + SMALL, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    run = tmp_path / "run"
    assert_one_complete_run(run, ranks=2)
    from transformers import AutoModelForCausalLM

    router = AutoModelForCausalLM.from_pretrained(run / "router")  # a plain, whole model (not shards)
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2
    for name, value in router.state_dict().items():
        assert checkpoint["state_dict"][f"model.{name}"].shape == value.shape, name
    resumed = tmp_path / "resumed"
    train(
        FSDP_CPU
        + SMALL
        + ["trainer.max_steps=3", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", f"output_dir={resumed}"],
        tmp_path,
    )
    assert json.loads((resumed / "result.json").read_text())["global_step"] == 3


@pytest.mark.slow
def test_ddp_multirun_writes_one_output_directory_per_job(tmp_path):
    """Under -m, Lightning's DDP children would re-run the whole sweep in the parent's run dir;
    they join their own job's directory instead (xrouter.rl.distributed.job_output_dir_for_children)."""
    train(["-m", "reward.lam=0,1", *DDP_CPU, *SMALL], tmp_path, timeout=900)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]  # no run dir from a DDP child
    jobs = sweep_jobs(tmp_path / "sweep")
    assert sorted(jobs) == [0, 1]
    assert len([p for p in (tmp_path / "sweep").iterdir() if p.is_dir()]) == 2  # and nothing else
    for job in jobs.values():
        assert_one_complete_run(job, ranks=2)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["local_parallel", "submitit_local"])
def test_lambda_sweep_runs_through_the_launcher(tmp_path, launcher):
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "local_parallel" else ["hydra.launcher.timeout_min=15"]
    train(["-m", "reward.lam=0,3", f"hydra/launcher={launcher}", *extra, *SMALL], tmp_path, timeout=900)
    jobs = sweep_jobs(tmp_path / "sweep")
    assert sorted(jobs) == [0, 3]
    for job in jobs.values():
        assert_one_complete_run(job)

"""trainer=ddp and trainer=fsdp on CPU with 2 processes (gloo): after one RL step the parameters are
identical on both ranks and equal a single-process step on the combined data -- DDP with plain AdamW,
DDP with AdamW's state sharded across the ranks (ZeRO-1, ``algo.shard_optimizer_state=true``) plus
gradient checkpointing, and FSDP2 (parameters, gradients and AdamW state sharded).

Rollouts are scripted (``AgentLoop.run(scripts=...)``: real env, real replay pool, real rewards),
so every run sees the same episodes; each rank gets half of the prompts from Lightning's
``DistributedSampler``.  Dynamic sampling is on, and every group of rank 1's prompts calls one
model in all its episodes (zero reward variance): rank 1 keeps nothing and must join rank 0's
update with an empty batch, while the single process drops those same groups.  The workers are this
file run as a script (``python -m
tests.component.test_distributed``) with the rank variables a launcher sets, so Lightning uses the
processes it finds instead of re-running pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xrouter import PROJECT_ROOT

PROMPTS_PER_RANK = 2
GROUP = 4
WORLD = 2
LR = 0.01
ADAM_EPS = 1e-8  # torch.optim.AdamW's default, which the RL module uses
# grad_clip off: clipping (like Adam's first step) is blind to a gradient's scale, and the test
# compares gradients too
# the text-only router (scripted turns); plain DAPO: no reference model
OVERRIDES = [
    "router=tiny",
    "recipe=text_only",
    "algo=dapo",
    f"rollout.group_size={GROUP}",
    "rollout.micro_batch_size=3",
    "algo.dynamic_sampling=true",
    "algo.max_refill=0",
    f"algo.lr={LR}",
    "algo.warmup_steps=1",
    "algo.grad_clip=1.0e9",
]


MODES = ["ddp", "zero", "fsdp"]
# the routing head's update (algo.update=decision, the default recipe's) under DDP: the query-reading router,
# hashed-word embeddings (no model to load), one lambda
DECISION_OVERRIDES = [
    "router=tiny_encoder",
    "embedding=hashing",
    "embedding.dim=256",
    "recipe=text_only",
    "algo=dapo",
    "+algo.update=decision",
    "algo.ppo_epochs=2",
    f"rollout.group_size={GROUP}",
    "algo.dynamic_sampling=true",
    "algo.max_refill=0",
    f"algo.lr={LR}",
    "algo.warmup_steps=1",
    "algo.grad_clip=1.0e9",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_env(rank: int | None, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
    }
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    if rank is not None:
        env.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(WORLD),
            NODE_RANK="0",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data_dir):
    """Parameters after one step: each DDP rank's, and a single process's on both ranks' prompts."""
    out = tmp_path_factory.mktemp("ddp")
    cache = out / "cache"
    command = [sys.executable, "-m", "tests.component.test_distributed", str(out), str(cache)]
    # build and cache the tiny router once, so that the ranks load the same weights instead of racing
    subprocess.run(command + ["build"], check=True, env=_worker_env(None, 0), cwd=PROJECT_ROOT, timeout=300)
    for mode in MODES:
        port = _free_port()
        ranks = [subprocess.Popen(command + [mode], env=_worker_env(r, port), cwd=PROJECT_ROOT) for r in range(WORLD)]
        codes = [p.wait(timeout=300) for p in ranks]
        assert codes == [0] * WORLD, (mode, codes)
    # last: it reads which prompts rank 1 had, to script the same zero-variance groups
    subprocess.run(command + ["single"], check=True, env=_worker_env(None, 0), cwd=PROJECT_ROOT, timeout=300)
    subprocess.run(command + ["build_decision"], check=True, env=_worker_env(None, 0), cwd=PROJECT_ROOT, timeout=300)
    port = _free_port()
    ranks = [subprocess.Popen(command + ["decision"], env=_worker_env(r, port), cwd=PROJECT_ROOT) for r in range(WORLD)]
    assert [p.wait(timeout=300) for p in ranks] == [0] * WORLD
    subprocess.run(command + ["single_decision"], check=True, env=_worker_env(None, 0), cwd=PROJECT_ROOT, timeout=300)
    load = lambda name: torch.load(out / name, weights_only=True)  # noqa: E731
    return {
        mode: {
            "ranks": [load(f"{mode}_rank{r}.pt") for r in range(WORLD)],
            "grads": [load(f"{mode}_rank{r}.grad.pt") for r in range(WORLD)],
        }
        for mode in MODES
    } | {
        "decision": {
            "ranks": [load(f"decision_rank{r}.pt") for r in range(WORLD)],
            "grads": [load(f"decision_rank{r}.grad.pt") for r in range(WORLD)],
            "single": load("single_decision.pt"),
            "single_grads": load("single_decision.grad.pt"),
            "initial": load("initial_decision.pt"),
        },
        "single": load("single.pt"),
        "initial": load("initial.pt"),
        "single_grads": load("single.grad.pt"),
        "out": out,
        "prompts": {
            p.name.removesuffix(".prompts.json"): json.loads(p.read_text()) for p in out.glob("*.prompts.json")
        },
    }


@pytest.mark.parametrize("mode", MODES)
def test_ranks_saw_disjoint_halves_of_the_prompts(runs, mode):
    seen = runs["prompts"]
    assert sorted(seen[f"{mode}_rank0"] + seen[f"{mode}_rank1"]) == sorted(seen["single"])
    assert not set(seen[f"{mode}_rank0"]) & set(seen[f"{mode}_rank1"])


@pytest.mark.parametrize("mode", MODES)
def test_parameters_identical_across_ranks_and_changed(runs, mode):
    rank0, rank1 = runs[mode]["ranks"]
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), name
    changed = [n for n, v in rank0.items() if not torch.equal(v, runs["initial"][n])]
    assert len(changed) == len(rank0)


@pytest.mark.parametrize("mode", MODES)
def test_ddp_gradient_equals_single_process_gradient_on_the_combined_data(runs, mode):
    """The summed gradient each rank steps with is the single process's, to float round-off (a rank
    weighting by its own token count, or DDP averaging on top of the sum, would be off by ~2x)."""
    for grads in runs[mode]["grads"]:
        for name, value in grads.items():
            reference = runs["single_grads"][name]  # summation order differs: round-off of the largest terms
            torch.testing.assert_close(value, reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max()), msg=name)
    assert max(float(g.abs().max()) for g in runs["single_grads"].values()) > 1e-4  # a real gradient


def _adam_first_step(gradient: torch.Tensor) -> torch.Tensor:
    """AdamW's first update per unit of lr: m / (sqrt(v) + eps) with bias-corrected m = g, v = g^2."""
    return gradient / (gradient.abs() + ADAM_EPS)


@pytest.mark.parametrize("mode", MODES)
def test_ddp_step_equals_single_process_step_on_the_combined_data(runs, mode):
    """Parameters after the step.  Adam's first step is lr * g / (|g| + eps): where |g| is within a few hundred eps,
    the round-off the gradient test allows (a different summation order) moves that element by a visible part of lr
    (6.6% was seen).  So each element may part from the single process's only by what the ranks' recorded gradients
    imply through that formula, plus 1e-6; a rank stepping on other data would part by up to 2 lr where its gradient
    is large."""
    rank0, single, initial = runs[mode]["ranks"][0], runs["single"], runs["initial"]
    off, total = 0, 0
    for name, value in rank0.items():
        diff = (value - single[name]).abs()
        reference = _adam_first_step(runs["single_grads"][name])
        # under ZeRO-1 each rank steps its own shard with its own copy of the reduced gradient: the larger bound
        implied = torch.stack([(_adam_first_step(g[name]) - reference).abs() for g in runs[mode]["grads"]]).amax(0)
        excess = diff - LR * implied
        assert float(excess.max()) <= 1e-6, (name, float(excess.max()))
        off, total = off + int((diff > 1e-6).sum()), total + diff.numel()
    assert off <= 0.005 * total, f"{off} of {total} elements differ by more than 1e-6"
    moved = max(float((single[n] - initial[n]).abs().max()) for n in single)
    assert moved > 0.5 * LR  # the step itself is far above those tolerances


def test_the_routing_head_update_is_one_step_on_every_rank(runs):
    """algo.update=decision under DDP: rank 1 has no informative group, yet joins each of the rollout's two
    optimizer steps (else the run hangs); both ranks end with the same head, moved (the LM stays frozen) by the
    gradient of the combined batch: the first step's equals one process's."""
    decision = runs["decision"]
    rank0, rank1 = decision["ranks"]
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), name
    moved = {n for n, v in rank0.items() if not torch.equal(v, decision["initial"][n])}
    assert moved and all(n.startswith("decision_head.") for n in moved), sorted(moved)
    heads = [g for g in decision["grads"]] + [decision["single_grads"]]
    assert set(heads[0]) == set(heads[-1]) and all(n.startswith("decision_head.") for n in heads[-1])
    for grads in heads[:-1]:
        for name, value in grads.items():
            reference = decision["single_grads"][name]
            torch.testing.assert_close(value, reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max()), msg=name)
    moved_apart = sum(int(((rank0[n] - v).abs() > 1e-6).sum()) for n, v in decision["single"].items())
    assert moved_apart <= 0.005 * sum(v.numel() for v in decision["single"].values())  # as the other modes


@pytest.mark.parametrize("mode", ["zero", "fsdp"])
def test_sharded_checkpoint_holds_every_parameters_optimizer_state(runs, mode):
    checkpoint = torch.load(runs["out"] / f"{mode}.ckpt", map_location="cpu", weights_only=False)
    weights = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    for name, value in runs[mode]["ranks"][0].items():  # full tensors, not one rank's shards
        assert torch.equal(weights[name], value), name
    optimizer = checkpoint["optimizer_states"][0]
    n_params = sum(len(group["params"]) for group in optimizer["param_groups"])
    assert n_params == len(runs["single"]) and len(optimizer["state"]) == n_params  # both ranks' shards
    assert all(float(state["exp_avg"].abs().sum()) > 0 for state in optimizer["state"].values())


# ---- the worker (each process) ------------------------------------------------------------------


def _worker(out: Path, cache: Path, mode: str) -> None:
    import lightning as L

    from tests.conftest import compose
    from xrouter.build import build_run
    from xrouter.config import to_plain
    from xrouter.rl.datamodule import PromptDataModule
    from xrouter.rl.fsdp import fsdp_strategy, full_value, is_sharded
    from xrouter.rl.module import RouterRLModule
    from xrouter.router.parsing import render_call, render_select

    torch.set_num_threads(1)
    # zero: sharded AdamW state and gradient checkpointing, which must not change the step either;
    # fsdp: parameters, gradients and AdamW state sharded (FSDP2), micro-batches padded across ranks
    extra = {
        "zero": ["+algo.shard_optimizer_state=true", "+rollout.gradient_checkpointing=true"],
        "fsdp": [],
    }  # rank 0 runs 3 micro-batches of 3 rows, rank 1 (nothing kept) 3 zero-weight ones
    decision = mode in ("build_decision", "decision", "single_decision")
    cfg = compose(
        "train",
        (DECISION_OVERRIDES if decision else OVERRIDES)
        + extra.get(mode, [])
        + [f"paths.cache_dir={cache}", f"data.train_max={WORLD * PROMPTS_PER_RANK}"],
    )
    run = build_run(cfg)
    pool, model, loop, examples = run.pool, run.model, run.loop, run.train
    if mode in ("build", "build_decision"):
        initial = "initial_decision.pt" if decision else "initial.pt"
        torch.save({n: p.detach().clone() for n, p in model.named_parameters()}, out / initial)
        return
    names = pool.names
    seen: list[str] = []
    single = mode in ("single", "single_decision")
    rank1_file = out / ("decision_rank1.prompts.json" if decision else "ddp_rank1.prompts.json")
    rank1_prompts = set(json.loads(rank1_file.read_text())) if single else set()

    def without_signal(example) -> bool:
        if single:
            return example["prompt_id"] in rank1_prompts
        return torch.distributed.get_rank() == 1

    def scripted_run(batch_examples, group_size, sampling, episode_prefix="ep", scripts=None):
        """The real ``AgentLoop.run`` with scripted turns: the model called depends on (prompt, episode)."""
        scripts = []
        for example in batch_examples:
            for g in range(group_size):
                key = example["prompt_id"] if without_signal(example) else f"{example['prompt_id']}:{g}"
                model_name = names[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(names)]
                scripts.append([render_call(model_name, None), render_select(model_name)])
        seen.extend(e["prompt_id"] for e in batch_examples)
        return real_run(batch_examples, group_size, sampling, episode_prefix, scripts=scripts)

    real_run, loop.run = loop.run, scripted_run  # the module's own collect (dynamic sampling) runs on it

    class RecordingModule(RouterRLModule):
        """Keeps the gradient each optimizer step uses."""

        grads: dict[str, torch.Tensor] = {}

        def configure_optimizers(self):
            config = super().configure_optimizers()
            config["optimizer"].register_step_pre_hook(self._keep_grads)  # the gradient the step uses
            return config

        def _keep_grads(self, optimizer, args, kwargs):  # full tensors under fsdp (a collective: all ranks call it)
            if self.grads:  # the first step's: later steps start from parameters that Adam's first step may
                return  # have moved differently where a gradient is ~0 (its sign is round-off)
            self.grads.update(
                {n: full_value(p.grad.detach()).clone() for n, p in self.model.named_parameters() if p.grad is not None}
            )

    world = 1 if single else WORLD
    data = PromptDataModule(examples, [], PROMPTS_PER_RANK * WORLD // world, seed=0)
    module = RecordingModule(model, loop, to_plain(cfg.algo), to_plain(cfg.rollout))
    strategy = fsdp_strategy(WORLD) if mode == "fsdp" else "ddp" if world > 1 else "auto"
    trainer = L.Trainer(
        accelerator="cpu",
        devices=world,
        strategy=strategy,
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=data)
    if mode == "zero":  # the optimizer really is sharded
        from torch.distributed.optim import ZeroRedundancyOptimizer

        assert isinstance(trainer.optimizers[0], ZeroRedundancyOptimizer) and model.is_gradient_checkpointing
    if mode == "fsdp":  # the parameters really are sharded: each rank holds half of every weight matrix
        assert is_sharded(model)
        embedding = model.get_input_embeddings().weight
        assert embedding.to_local().shape[0] == embedding.shape[0] // WORLD
    if mode in ("zero", "fsdp"):
        trainer.save_checkpoint(out / f"{mode}.ckpt")  # every rank takes part: the shards are gathered on rank 0
    tag = f"{mode}_rank{trainer.global_rank}" if world > 1 else mode
    torch.save({n: full_value(p.detach()).clone() for n, p in model.named_parameters()}, out / f"{tag}.pt")
    torch.save(module.grads, out / f"{tag}.grad.pt")
    (out / f"{tag}.prompts.json").write_text(json.dumps(seen))
    loop.close()


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])

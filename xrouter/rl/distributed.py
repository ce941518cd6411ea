"""Multi-process (DDP) training support: one gradient sum per optimizer step with globally weighted
losses, optional ZeRO-1 AdamW, and one output directory per job under Hydra.

Why not DDP's own reducer: under dynamic sampling each rank keeps a different number of
informative groups, so ranks run different numbers of micro-batch backward passes per optimizer
step (a rank may even have none).  DDP's reducer all-reduces inside every backward pass and would
deadlock or average the wrong things.  Instead the reducer is switched off and, once per optimizer
step, every rank sums its gradients with the others (``sync_gradients``).  Losses are weighted by
*global* token (or row) counts (``all_reduce_sum``), so the summed gradient is exactly the
single-process gradient of the combined batch.  With one process every function is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` when not distributed."""
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launch_rank() -> int:
    """This process's global rank as its launcher set it (before the process group exists):
    Lightning's DDP children, torchrun and SLURM all set one of these variables."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 0


def local_cuda_device() -> str:
    """This process's GPU (``cuda:<local rank>``), made current: before Lightning sets the
    processes up, every DDP rank would otherwise build and cold-start its router on GPU 0."""
    local = int(os.environ.get("LOCAL_RANK") or os.environ.get("SLURM_LOCALID") or 0)
    torch.cuda.set_device(local)
    return f"cuda:{local}"


def all_reduce_sum(value: float) -> float:
    """The sum of ``value`` over all ranks (the value itself with one process)."""
    return _all_reduce(value, dist.ReduceOp.SUM)


def all_reduce_max(value: float) -> float:
    """The largest ``value`` over all ranks (the value itself with one process)."""
    return _all_reduce(value, dist.ReduceOp.MAX)


def _all_reduce(value: float, op) -> float:
    if not is_distributed():
        return float(value)
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor, op=op)
    return float(tensor.item())


def any_rank(flag: bool) -> bool:
    """True when ``flag`` is true on at least one rank."""
    return all_reduce_sum(1.0 if flag else 0.0) > 0


def sync_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Sum every trainable parameter's gradient over the ranks, in place (missing grads count as 0).

    One flattened all-reduce per dtype: few collectives, and every rank calls it with the same
    shapes in the same order whatever its own backward passes were."""
    if not is_distributed():
        return
    params = [p for p in parameters if p.requires_grad]
    by_dtype: dict[torch.dtype, list[torch.nn.Parameter]] = {}
    for p in params:
        by_dtype.setdefault(p.dtype, []).append(p)
    for _dtype, group in by_dtype.items():
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in group]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in group:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n


class StepSync:
    """The cross-rank bookkeeping of one optimizer step, kept out of the GRPO/DAPO update (no-ops on one process):
    the step's rows and tokens summed over every rank, each rank's loss weight from those sums (so that the
    summed gradients equal the combined batch's), and one gradient sum before the optimizer steps.  Every rank
    constructs one per step, its own batch empty or not: the sums are collectives."""

    def __init__(self, rows: int, tokens: float = 0.0) -> None:
        self.rows = all_reduce_sum(rows)
        self.tokens = all_reduce_sum(tokens)

    def row_share(self, rows: int) -> float:
        """The share of the step's loss that ``rows`` of its rows carry when every row weighs the same."""
        return rows / self.rows

    def weight(self, rows: int, tokens: float, aggregation: str) -> float:
        """The share of the step's loss that ``rows`` rows holding ``tokens`` tokens carry (token-mean: by tokens)."""
        if aggregation == "token-mean":
            return tokens / max(self.tokens, 1)
        return self.row_share(rows)

    @staticmethod
    def sum_gradients(parameters: Iterable[torch.nn.Parameter], already_summed: bool = False) -> None:
        """Sum the gradients over the ranks (``already_summed``: FSDP's reduce-scatter did it for sharded ones)."""
        if not already_summed:
            sync_gradients(parameters)


def adamw(
    parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0, shard_state: bool = False
) -> torch.optim.Optimizer:
    """AdamW; with ``shard_state`` and several processes, ZeRO stage 1: each rank keeps the moments
    of 1/world of the parameters, updates those and broadcasts them (PyTorch's
    ``ZeroRedundancyOptimizer``), cutting AdamW's 8 bytes per parameter to 8/world.  Every rank
    must call ``step()`` together, which ``xrouter.rl.updates.sequence_update`` does (its collectives are
    matched across ranks).  Lightning consolidates the shards on rank 0 for checkpoints."""
    if shard_state and is_distributed():
        from torch.distributed.optim import ZeroRedundancyOptimizer

        return ZeroRedundancyOptimizer(
            list(parameters), optimizer_class=torch.optim.AdamW, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999)
        )
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999))


def disable_ddp_reducer(wrapped_model) -> None:
    """Stop DDP's reducer from all-reducing inside backward passes (``sync_gradients`` does it).

    ``require_backward_grad_sync = False`` is what ``DistributedDataParallel.no_sync()`` sets; kept
    off for the whole run, neither DDP's forward nor Lightning's ``manual_backward`` arms the
    reducer.  Anything that is not DDP is left alone."""
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(wrapped_model, DistributedDataParallel):
        wrapped_model.require_backward_grad_sync = False


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def job_output_dir_for_children(output_dir: Path) -> None:
    """Make Lightning's DDP child processes join *this* job's output directory.

    Lightning re-runs ``sys.argv`` for ranks 1..N-1 with ``hydra.run.dir=<HydraConfig run.dir>``.
    Under ``-m`` (multirun) that is wrong twice: the children would start the whole sweep again,
    and ``run.dir`` is not the sweep job's directory.  So, in rank 0 of a Hydra job, the command
    line becomes this job's own overrides (no ``-m``) and ``run.dir`` this job's output dir: one
    output directory per job, whatever the launcher.  Outside Hydra nothing changes."""
    import sys

    try:
        from hydra.core.hydra_config import HydraConfig
    except ImportError:  # pragma: no cover - hydra is a core dependency
        return
    _ENV_BEFORE_JOB.clear()
    _ENV_BEFORE_JOB.update({name: os.environ.get(name) for name in _LAUNCH_VARIABLES})
    if not HydraConfig.initialized() or launch_rank() != 0:
        return
    from omegaconf import open_dict, read_write

    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith(("hydra.run.dir=", "output_dir="))]
    sys.argv = [sys.argv[0], *overrides, f'output_dir="{output_dir}"']  # quoted: sweep dirs hold '=' and ','
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = str(output_dir)


_LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "RANK")
_ENV_BEFORE_JOB: dict[str, str | None] = {}


def end_distributed_job() -> None:
    """After ``trainer.fit`` of a multi-process job in a Hydra multirun: leave the process group
    and restore the launch variables that Lightning set in this process for its children.
    Without it the next job of the sweep, run by the same process (Hydra's basic launcher), finds
    a stale process group, and ``LOCAL_RANK`` makes Lightning wait for children it never starts.
    Single runs keep the group (a colocated vLLM engine built on it still serves the evaluation)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
    except ImportError:  # pragma: no cover - hydra is a core dependency
        return
    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN and is_distributed()):
        return
    dist.destroy_process_group()
    for name, value in _ENV_BEFORE_JOB.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

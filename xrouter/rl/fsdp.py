"""``trainer=fsdp``: the router's parameters, gradients and AdamW state sharded over the ranks with
PyTorch's FSDP2 (``fully_shard``), under Lightning's ``ModelParallelStrategy``.

What it changes against ``trainer=ddp`` (xrouter/rl/distributed.py), and why:

* Every forward and backward of a sharded model is a collective (each layer is all-gathered before
  it runs, its gradient reduce-scattered after), so all ranks must run the *same number* of them.
  Rollouts do not: under dynamic sampling and multi-turn episodes each rank generates a different
  number of tokens and turns.  So rollouts and validation run inside ``full_weights``: every layer is
  gathered once, kept whole while the rank generates as long as it needs, and freed afterwards (the
  memory of one full copy of the weights, as a colocated inference engine holds; the optimizer state
  and gradients stay sharded).  The update pads each rank's micro-batches to the largest count over
  the ranks with zero-weight ones (``pad_micro_batches``) and runs without the shared-prefix forward
  (whose number of forwards depends on the data).
* Gradients are summed, not averaged, by FSDP's reduce-scatter (divide factor 1): the losses are
  already weighted by global token counts, as under DDP, so a step equals one process's step on the
  combined prompts (tests/component/test_distributed.py checks it).
* The KL reference model, when there is one, stays a plain unsharded copy (``algo.kl_beta=0``, the
  paper's setting, has none).
* Checkpoints hold full (gathered) weights and optimizer state, written by rank 0; the router that
  is saved and evaluated after training is an unsharded copy (``unsharded_copy``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist

from xrouter.rl.distributed import all_reduce_max, is_distributed


def is_sharded(model: torch.nn.Module) -> bool:
    """True once ``shard_router`` has wrapped ``model`` (its parameters are DTensor shards)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def fsdp_strategy(world_size: int):
    """Lightning's FSDP2 strategy, data parallel over ``world_size`` ranks (no tensor parallelism),
    writing checkpoints as single files of full state (what resume, evaluation and serving read)."""
    from lightning.pytorch.strategies import ModelParallelStrategy

    return ModelParallelStrategy(
        data_parallel_size=world_size, tensor_parallel_size=1, save_distributed_checkpoint=False
    )


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of a Hugging Face causal LM (each becomes one FSDP unit)."""
    base = getattr(model, model.base_model_prefix, None) if hasattr(model, "base_model_prefix") else None
    layers = getattr(base, "layers", None) if base is not None else None
    if layers is None:
        raise ValueError(
            f"trainer=fsdp: cannot find the decoder layers of {type(model).__name__} "
            f"(expected <model>.{getattr(model, 'base_model_prefix', 'model')}.layers, "
            "as in Qwen2/Llama); use trainer=ddp for this architecture"
        )
    return list(layers)


def shard_router(model: torch.nn.Module, mesh) -> torch.nn.Module:
    """Shard ``model`` in place: one FSDP unit per decoder layer plus the root (embeddings, final norm,
    LM head).  Rank 0's weights are broadcast first, so every rank shards the same model even when
    their cold starts differed by round-off."""
    from torch.distributed.fsdp import fully_shard

    if is_sharded(model):
        return model
    if is_distributed():
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor.data, src=0)
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    for unit in _fsdp_units(model):  # per unit, not recursive
        unit.set_gradient_divide_factor(1.0)  # sum: the losses carry global token weights (module docstring)
        unit.set_force_sum_reduction_for_comms(True)  # a plain SUM (gloo has no PREMUL_SUM)
    return model


def _fsdp_units(model: torch.nn.Module) -> list:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


@contextlib.contextmanager
def full_weights(model: torch.nn.Module) -> Iterator[None]:
    """Inside: every layer of a sharded ``model`` is whole, so the rank may run any number of
    forwards (generation) without the other ranks.  Entering is a collective (all ranks enter
    together); leaving frees the gathered weights.  A no-op for an unsharded model."""
    if not is_sharded(model):
        yield
        return
    units = _fsdp_units(model)
    model.set_reshard_after_forward(False, recurse=True)
    for unit in units:
        unit.unshard()
    try:
        yield
    finally:
        for unit in units:
            unit.reshard()
        model.set_reshard_after_forward(True, recurse=True)


def pad_micro_batches(local_count: int) -> int:
    """How many zero-weight micro-batches this rank adds so that every rank runs as many as the
    busiest one (each forward/backward of a sharded model is a collective)."""
    return int(all_reduce_max(local_count)) - local_count


def zero_weight_backward(model: torch.nn.Module, pad_id: int, device, backward) -> None:
    """A forward and backward of one pad token with loss 0: the collectives of a micro-batch without
    changing any gradient.  ``backward`` is the LightningModule's ``manual_backward``."""
    ids = torch.full((1, 1), int(pad_id), dtype=torch.long, device=device)
    logits = model(input_ids=ids, use_cache=False).logits
    backward(logits.float().sum() * 0.0)


def full_value(tensor: torch.Tensor) -> torch.Tensor:
    """A DTensor's full value (a collective), or the tensor itself."""
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's weights on CPU.  For a sharded model it is a collective (every rank calls it)
    and only rank 0 receives the weights (the other ranks get an empty dict)."""
    if not is_sharded(model):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def unsharded_copy(model: torch.nn.Module, state: Mapping[str, Any], device) -> torch.nn.Module:
    """A plain (unsharded) Hugging Face model of ``model``'s class (fully_shard's ``FSDP<Class>`` wrapper
    taken off, so a prefix router stays one) with its config and the weights in ``state``, for saving
    (``save_pretrained``) and evaluation on one rank."""
    model_class = next(c for c in type(model).__mro__ if not c.__name__.startswith("FSDP"))
    copy = model_class._from_config(model.config, dtype=next(iter(state.values())).dtype)
    missing, unexpected = copy.load_state_dict(dict(state), strict=False)
    tied = getattr(copy, "_tied_weights_keys", None) or []
    tied = set(tied.keys() if isinstance(tied, dict) else tied)
    missing = [k for k in missing if k not in tied]
    if unexpected or missing:
        raise RuntimeError(
            f"unsharded_copy: checkpoint and model disagree (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    copy.generation_config = model.generation_config
    return copy.to(device).eval()

"""Small torch helpers shared by the baselines that train a network: one CPU thread, seeded MLPs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with one torch thread: these problems are small, and a fixed thread count
    keeps floating-point results the same on every machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def seeded_mlp(sizes: Sequence[int], seed: int):
    """``Linear -> ReLU -> ... -> Linear`` through ``sizes``, initialised uniformly in
    ``+-1/sqrt(fan_in)`` from a generator seeded by ``seed`` (independent of torch's global RNG)."""
    import torch

    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / np.sqrt(p.shape[-1]))
    return net

"""Prompt batches for RL: the train split (minus a seeded dev split) and the dev split for validation."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset


class _Examples(Dataset):
    def __init__(self, examples: Sequence[dict[str, Any]]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.examples[index]


def _as_list(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


class PromptDataModule(L.LightningDataModule):
    """Batches of example dicts (no tensors: the rollout turns them into tokens).  Under DDP,
    Lightning swaps the samplers for ``DistributedSampler``s, so each rank gets its own shard."""

    def __init__(
        self,
        train: Sequence[dict[str, Any]],
        dev: Sequence[dict[str, Any]],
        prompts_per_step: int,
        val_batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_examples, self.dev_examples = list(train), list(dev)
        self.prompts_per_step, self.val_batch_size, self.seed = prompts_per_step, val_batch_size, seed

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            _Examples(self.train_examples),
            batch_size=self.prompts_per_step,
            shuffle=True,
            drop_last=True,
            collate_fn=_as_list,
            num_workers=0,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            _Examples(self.dev_examples),
            batch_size=self.val_batch_size,
            shuffle=False,
            collate_fn=_as_list,
            num_workers=0,
        )

    def refill_sampler(self) -> Iterator[dict[str, Any]]:
        """Endless shuffled train prompts for dynamic sampling's refills.  With several processes
        each rank draws from its own slice of every shuffle (the rank is read on first use, once
        the process group exists), as the training batches are split by Lightning's sampler."""
        from xrouter.rl.distributed import rank_and_world

        rng = random.Random(self.seed + 1)
        rank, world = rank_and_world()
        while True:
            order = list(self.train_examples)
            rng.shuffle(order)
            yield from order[rank::world]

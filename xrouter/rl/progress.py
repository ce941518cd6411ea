"""The training progress bar: optimizer steps of ``trainer.max_steps`` (Lightning's counts batches of "Epoch 0/-2")."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class StepProgressBar(TQDMProgressBar):
    """One bar for the whole run: ``RL step n/max_steps`` with the latest logged metrics; no validation bar
    (validation prints its own one-line summary)."""

    @property
    def train_description(self) -> str:
        return "RL step"

    def on_train_epoch_start(self, trainer, *_: Any) -> None:
        bar = self.train_progress_bar
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        if bar.total == total and bar.n == trainer.global_step:  # the prompt sampler's next pass: one bar goes on
            return
        bar.reset(total=total)
        bar.initial = bar.n = trainer.global_step  # a resumed run starts where it stopped

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        bar = self.train_progress_bar
        if bar is not None and not bar.disable:
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module))  # refreshes the bar

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

"""Which weights a training run delivers: RL's best checkpoint or the cold-start router it started from.

RL must never leave the router worse than its start.  ``StartingPoint`` saves the cold-start weights
(``step0/step0.ckpt``) with their dev summary (``step0/step0.json``, the same greedy validation RL's
checkpoints are scored by) and lets them compete: the delivered router is step 0 unless an RL
checkpoint's dev reward is higher.  ``validation_examples`` makes that dev score one a lambda-conditioned
router can be judged by: the dev slice at several lambdas (``data.val_lams``), each copy keeping the
prompt's replay id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

STEP0_WEIGHTS, STEP0_SUMMARY = "step0.ckpt", "step0.json"


def validation_examples(dev: Sequence[Mapping[str, Any]], cfg: Any, loop: Any) -> list[dict[str, Any]]:
    """The dev slice as validated: for a lambda-conditioned router, one copy per ``data.val_lams`` value
    (prompt id ``<id>@lam=<x>``, replay id unchanged), so the best checkpoint is the best over budgets,
    not at one lambda; otherwise the slice as it is."""
    lams = list(cfg.data.get("val_lams") or [])
    conditioner = getattr(loop, "conditioner", None)
    if not lams or conditioner is None or not conditioner.spec.lam_conditioned:
        return [dict(e) for e in dev]
    return [
        {
            **e,
            "prompt_id": f"{e['prompt_id']}@lam={float(lam):g}",
            "lam": float(lam),
            "pool_prompt_id": e.get("pool_prompt_id", e["prompt_id"]),
        }
        for lam in lams
        for e in dev
    ]


class StartingPoint:
    """The cold-start router as checkpoint "step 0" of a run (``<output_dir>/step0/``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def summary(self) -> dict[str, Any] | None:
        """The dev summary saved with the step-0 weights (read back when a run is resumed)."""
        path = self.directory / STEP0_SUMMARY
        return json.loads(path.read_text()) if path.exists() else None

    def save(self, model: torch.nn.Module, summary: Mapping[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        state = {f"model.{k}": v.detach().cpu().clone() for k, v in model.state_dict().items()}
        torch.save({"state_dict": state, "global_step": 0}, self.directory / STEP0_WEIGHTS)
        (self.directory / STEP0_SUMMARY).write_text(json.dumps(dict(summary), indent=2, default=str) + "\n")
        return self.directory / STEP0_WEIGHTS

    def choose(self, best_path: str | None, best_score: Any) -> dict[str, Any]:
        """``{checkpoint, step, dev_reward, step0_dev_reward, rl_change, label}``: step 0 unless RL's best dev
        reward is higher (a tie keeps step 0: RL did not improve it)."""
        start = self.summary
        start_reward = None if start is None else float(start["reward"])
        rl_reward = None if best_score is None else float(best_score)
        rl_change = None if start_reward is None or rl_reward is None else rl_reward - start_reward
        # a tie keeps step 0 (1e-6: Lightning keeps the best score in float32, the summary in float64)
        if start_reward is not None and (rl_reward is None or rl_reward <= start_reward + 1e-6):
            return {
                "checkpoint": str(self.directory / STEP0_WEIGHTS),
                "step": 0,
                "dev_reward": start_reward,
                "step0_dev_reward": start_reward,
                "rl_change": rl_change,
                "label": f"step 0, the cold-start router (dev reward {start_reward:.4f}; RL's best "
                + ("none" if rl_reward is None else f"{rl_reward:.4f}")
                + ")",
            }
        label = f"RL checkpoint {best_path} (dev reward {rl_reward:.4f}" if best_path else "the last weights ("
        if start_reward is not None:
            label += f"; step 0: {start_reward:.4f}, RL added {rl_change:+.4f}"
        return {
            "checkpoint": best_path or None,
            "step": None,
            "dev_reward": rl_reward,
            "step0_dev_reward": start_reward,
            "rl_change": rl_change,
            "label": label + ")",
        }

"""Group-relative advantages (GRPO) and DAPO's dynamic-sampling filter, as pure tensor functions.

Simplifications: one scalar reward per episode (no per-turn credit assignment); every token the
router wrote in an episode gets that episode's advantage.
"""

from __future__ import annotations

import torch


def grouped(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``[B]`` -> ``[B / group_size, group_size]``; groups are consecutive episodes of one prompt."""
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    return rewards.view(-1, group_size)


def grpo_advantages(
    rewards: torch.Tensor, group_size: int, scale_by_std: bool = True, eps: float = 1e-6
) -> torch.Tensor:
    """``(r - mean_group) / (std_group + eps)`` (or without the std scaling, as Dr. GRPO argues)."""
    groups = grouped(rewards.float(), group_size)
    centered = groups - groups.mean(dim=1, keepdim=True)
    if scale_by_std:
        centered = centered / (groups.std(dim=1, keepdim=True, unbiased=False) + eps)
    return centered.reshape(-1)


def informative_groups(rewards: torch.Tensor, group_size: int, tol: float = 1e-8) -> torch.Tensor:
    """``[B / group_size]`` bool: groups whose rewards differ (zero-variance groups carry no signal)."""
    groups = grouped(rewards.float(), group_size)
    return (groups.max(dim=1).values - groups.min(dim=1).values) > tol

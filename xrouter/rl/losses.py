"""Clipped policy-gradient loss over router tokens (DAPO clip-higher, token-mean), KL, entropy.

Pure functions of tensors.  ``mask`` is the response mask: 1 on tokens the router wrote, 0 on the
prompt and on tool-result tokens, so only the router's own decisions are trained.
Simplifications: no value function; KL (k3 estimator) is added to the loss only when beta > 0.
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp_min(1)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean") -> torch.Tensor:
    """``token-mean`` (DAPO: every token weighs the same) or ``seq-mean-token-mean`` (GRPO)."""
    mask = mask.float()
    if mode == "token-mean":
        return masked_mean(per_token, mask)
    if mode == "seq-mean-token-mean":
        per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp_min(1)
        return per_seq[mask.sum(-1) > 0].mean() if (mask.sum(-1) > 0).any() else per_token.sum() * 0
    raise ValueError(f"unknown loss aggregation '{mode}'; use token-mean or seq-mean-token-mean")


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(policy || reference), per token (>= 0)."""
    log_ratio = ref_logprobs - logprobs
    return log_ratio.exp() - log_ratio - 1


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    aggregation: str = "token-mean",
    ref_logprobs: torch.Tensor | None = None,
    kl_beta: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO-style clipped surrogate with asymmetric clipping ``[1 - eps_low, 1 + eps_high]``.

    ``advantages`` is per sequence ``[B]`` (broadcast over tokens) or per token ``[B, T]``.
    Returns the loss and detached metrics: clip fraction, mean ratio, KL.
    """
    mask = mask.float()
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1).expand_as(logprobs)
    ratio = (logprobs - old_logprobs).exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - eps_low, 1 + eps_high) * advantages
    per_token = -torch.minimum(unclipped, clipped)
    loss = aggregate(per_token, mask, aggregation)
    kl = torch.zeros((), device=logprobs.device)
    if ref_logprobs is not None:
        kl = masked_mean(kl_k3(logprobs, ref_logprobs), mask)
        if kl_beta > 0:
            loss = loss + kl_beta * kl
    with torch.no_grad():
        was_clipped = ((unclipped - clipped).abs() > 1e-12).float()
        metrics = {
            "clip_frac": float(masked_mean(was_clipped, mask)),
            "ratio_mean": float(masked_mean(ratio, mask)),
            "kl": float(kl),
        }
    return loss, metrics

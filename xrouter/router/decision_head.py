"""The routing head of a prefix router: a short, well-conditioned path from what it reads to the call it writes.

The LM still writes the whole call (``<tool_call>``, ``{"name": "``, ``call_<model>``, ...), so the
environment, parsers, reward and losses do not change.  At every position whose input token is the
*anchor* (the scaffold token after which a tool name is written), the head's logits over the pool (an
MLP over the condition vector: the frozen query embedding and the lambda features) are added to the
``call_<model>`` tokens' logits.  Sampling, greedy decoding and the training forward all see the sum,
so RL's credit on the decision token reaches the head in one layer instead of through a tiny LM that
would first have to learn to attend to soft-prefix slots (experiments/rl_learning/README.md: without
the head, rewards alone ended on one model for every query).

The last layer starts at zero: a fresh head leaves the LM's distribution as it is (after a uniform
format cold start, uniform over the pool).  Its logits are centred over the pool, so it moves mass
between models, not between "call" and the other tokens the LM may write there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from xrouter.router.parsing import TOOL_SCAFFOLD_TOKENS


class DecisionHead(torch.nn.Module):
    """``conditions [B, D] -> logits [B, n_choices]`` (centred); the condition's last ``lam_features``
    entries (the lambda features, in [0, 1]) are scaled by ``lam_scale`` so that a few numbers weigh
    as much as the unit-norm embedding beside them."""

    def __init__(
        self, condition_dim: int, n_choices: int, hidden: int = 256, lam_features: int = 0, lam_scale: float = 3.0
    ) -> None:
        super().__init__()
        self.lam_features, self.lam_scale = int(lam_features), float(lam_scale)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(condition_dim, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, n_choices),
        )

    def reset(self) -> None:
        """PyTorch's default initialisation (the LM's ``post_init`` draws every Linear at std 0.02, which leaves a
        two-layer head nearly linear), then the last layer at zero: a fresh head adds nothing."""
        for layer in self.net:
            if isinstance(layer, torch.nn.Linear):
                layer.reset_parameters()
        torch.nn.init.zeros_(self.net[-1].weight)
        torch.nn.init.zeros_(self.net[-1].bias)

    def forward(self, conditions: torch.Tensor) -> torch.Tensor:
        x = conditions.to(self.net[0].weight.dtype)
        if self.lam_features:
            scale = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
            scale[-self.lam_features :] = self.lam_scale
            x = x * scale
        logits = self.net(x)
        return logits - logits.mean(dim=-1, keepdim=True)


def add_decision_logits(
    logits: torch.Tensor, input_ids: torch.Tensor, head_logits: torch.Tensor, anchor_id: int, token_ids: Sequence[int]
) -> torch.Tensor:
    """``logits [B, T, V]`` (the last ``T`` positions of ``input_ids [B, T']``) with ``head_logits [B, M]``
    added to columns ``token_ids`` (M of them) wherever the input token is ``anchor_id``."""
    at_anchor = (input_ids[:, -logits.shape[1] :] == anchor_id).to(logits.dtype)  # [B, T]
    if not bool(at_anchor.any()):
        return logits
    columns = torch.as_tensor(list(token_ids), dtype=torch.long, device=logits.device)
    added = at_anchor.unsqueeze(-1) * head_logits.to(logits.dtype).unsqueeze(1)  # [B, T, M]
    return logits.index_add(2, columns, added)


def decision_head_spec(router_cfg: Mapping[str, Any], extra_tokens: list[str] | None) -> dict[str, Any] | None:
    """``router.decision_head`` (hidden, lam_scale, lr_scale) with the tokens it writes into: the ``call_<model>``
    tokens of the pool, after the ``{"name": "`` scaffold token (xrouter/router/decision_head.py); None without one."""
    head = router_cfg.get("decision_head")
    if not head:
        return None
    calls = [t for t in (extra_tokens or []) if t.startswith("call_")]
    if not calls or not router_cfg.get("tool_tokens"):
        raise ValueError(
            "router.decision_head adds its logits to whole call_<model> tokens: it needs "
            "router.tool_tokens=true and the tool-call format (env.format=tool_calls)"
        )
    return {**dict(head), "tokens": calls, "anchor": TOOL_SCAFFOLD_TOKENS[0]}

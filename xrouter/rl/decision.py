"""Credit on the decision token: the policy-gradient update of a router's routing head alone (``algo.update=decision``).

In simple mode a tiny router's episode is one call, and everything but the ``call_<model>`` token is fixed
format that the cold start taught (its probability is ~1 and its gradient ~0).  So the update can leave
the LM frozen and train only the routing head (``xrouter/router/decision_head.py``) on the decision
token: ``log pi(call_m) = (l_m + h_m) - logsumexp(l + h, rest)``, where ``l`` are the frozen LM's logits
of the call tokens at the decision position, ``rest`` the log-sum-exp of its other tokens there, and
``h`` the head's logits.  ``l`` and ``rest`` are computed once per distinct (prefix, condition) with one
no-grad forward; each PPO epoch is then a forward of the head over the condition vectors: milliseconds,
where a forward and backward of the LM over every episode takes seconds on a CPU.

Simplifications: the LM (and the format it writes) does not change during RL; episodes without a
decision token (malformed turns, direct answers) enter the group baselines with their rewards but get no
gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xrouter.rollout.logprobs import left_pad, position_ids_for


@dataclass
class DecisionBatch:
    """The decisions of a rollout batch: one row per episode that wrote a ``call_<model>`` token."""

    rows: torch.Tensor  # [n] the episodes' indices in the rollout batch
    lm_logits: torch.Tensor  # [n, M] the frozen LM's logits of the M call tokens at the decision position
    rest_lse: torch.Tensor  # [n] log-sum-exp of the LM's logits of every other token there
    conditions: torch.Tensor  # [n, D] the condition vectors the head reads
    actions: torch.Tensor  # [n] which call (0..M-1, pool order) each episode wrote


def decision_positions(
    sequences: Sequence[Sequence[int]], masks: Sequence[Sequence[int]], anchor_id: int, token_ids: Sequence[int]
) -> list[tuple[int, int, int]]:
    """``(episode, position, choice)`` of each episode's first decision: a router token from ``token_ids`` right
    after the anchor token (its ``choice`` is the token's index in ``token_ids``)."""
    index = {t: j for j, t in enumerate(token_ids)}
    out = []
    for e, (row, mask) in enumerate(zip(sequences, masks)):
        for j in range(1, len(row)):
            if mask[j] and row[j - 1] == anchor_id and row[j] in index:
                out.append((e, j, index[row[j]]))
                break
    return out


@torch.no_grad()
def decision_batch(
    model,
    sequences: Sequence[Sequence[int]],
    masks: Sequence[Sequence[int]],
    conditions: torch.Tensor,
    pad_id: int,
    device: torch.device | str = "cpu",
    micro_batch_size: int = 256,
) -> DecisionBatch:
    """The LM's side of every decision in the batch (one forward per distinct prefix and condition)."""
    token_ids = list(model.decision_token_ids)
    anchor = int(model.config.decision_anchor_id)
    found = decision_positions(sequences, masks, anchor, token_ids)
    columns = torch.tensor(token_ids, device=device)
    keys, distinct = [], {}
    for e, j, _ in found:
        key = (tuple(sequences[e][:j]), tuple(conditions[e].tolist()))
        keys.append(distinct.setdefault(key, len(distinct)))
    first = {}
    for (e, j, _), k in zip(found, keys):
        first.setdefault(k, (e, j))
    lm_rows, lse_rows = [], []
    was_training = model.training
    model.eval()
    try:
        owners = [first[k] for k in range(len(distinct))]
        for start in range(0, len(owners), micro_batch_size):
            part = owners[start : start + micro_batch_size]
            ids, attention = left_pad([sequences[e][:j] for e, j in part], pad_id, device)
            cond = conditions[[e for e, _ in part]].to(device)
            logits = (
                model(
                    input_ids=ids,
                    attention_mask=attention,
                    position_ids=position_ids_for(attention),
                    conditions=cond,
                    logits_to_keep=1,
                    use_cache=False,
                )
                .logits[:, -1]
                .float()
            )
            calls = logits[:, columns] - model.decision_head(cond).float()  # the LM's own logits
            rest = logits.clone()
            rest[:, columns] = float("-inf")
            lm_rows.append(calls)
            lse_rows.append(torch.logsumexp(rest, dim=-1))
    finally:
        model.train(was_training)
    index = torch.tensor(keys, dtype=torch.long, device=device)
    lm = torch.cat(lm_rows)[index] if lm_rows else torch.zeros((0, len(token_ids)), device=device)
    lse = torch.cat(lse_rows)[index] if lse_rows else torch.zeros(0, device=device)
    rows = [e for e, _, _ in found]
    return DecisionBatch(
        rows=torch.tensor(rows, dtype=torch.long),
        lm_logits=lm,
        rest_lse=lse,
        # an empty batch (a DDP rank joining the others' update) may carry no conditions at all
        conditions=conditions[rows].to(device)
        if rows
        else torch.zeros((0, 0))
        if conditions is None
        else conditions[:0],
        actions=torch.tensor([c for _, _, c in found], dtype=torch.long, device=device),
    )


def decision_logprobs(
    head_logits: torch.Tensor, lm_logits: torch.Tensor, rest_lse: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probability of each chosen call, entropy of the call distribution renormalised over the pool)."""
    total = lm_logits + head_logits
    lse = torch.logsumexp(torch.cat([total, rest_lse.unsqueeze(-1)], dim=-1), dim=-1)
    chosen = total.gather(1, actions.unsqueeze(-1)).squeeze(-1) - lse
    within = torch.log_softmax(total, dim=-1)
    entropy = -(within.exp() * within).sum(-1)
    return chosen, entropy

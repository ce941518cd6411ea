"""Log-probabilities of router tokens: per token, per sequence, and with each group's shared prompt run once.

The training forward of RL and the cold start: ``sequence_logprobs`` runs micro-batches of
sequences with left padding, explicit position ids and ``logits_to_keep`` (only the positions that
predict response tokens are projected onto the vocabulary: the LM head dominates memory for small
models with long prompts) and returns the log-probability (and entropy) of every response token;
groups that share a prompt reuse its KV cache (``_shared_prefix_logprobs``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers.cache_utils import Cache
from transformers.utils import ModelOutput


def left_pad(
    rows: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, T]`` ids and attention mask, padded on the left."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


def position_ids_for(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.cumsum(-1) - 1).clamp_min(0)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position; ``logits [B, T, V]`` already aligned with ``targets [B, T]``."""
    logits = logits.float()
    return torch.gather(logits.log_softmax(-1), -1, targets.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    logp = logits.float().log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def sequence_logprobs(
    model,
    sequences: Sequence[Sequence[int]],
    response_masks: Sequence[Sequence[int]],
    pad_id: int,
    micro_batch_size: int = 16,
    with_entropy: bool = False,
    device: str | torch.device = "cpu",
    grad: bool = False,
    share_prefix: bool = True,
    conditions: torch.Tensor | None = None,
):
    """Yield ``(index_slice, logprobs, mask, entropy)`` per micro-batch, aligned on the right.

    ``logprobs[b, j]`` is log p(token) for the last ``K - 1`` tokens of row ``b`` (left padded),
    where ``K`` covers every response token of the micro-batch; ``mask`` is the response mask of
    the same tokens.  With ``grad=False`` it runs under ``no_grad``.  With ``share_prefix``, a
    micro-batch whose rows share prompts (a GRPO group: one prompt, many episodes) runs each
    distinct prompt once and its continuations on the prompt's KV cache: same values, a fraction
    of the compute when prompts are long and responses short.  ``conditions`` (one row per sequence)
    feed a prefix router's soft prefix.
    """
    for start in range(0, len(sequences), micro_batch_size):
        rows = sequences[start : start + micro_batch_size]
        masks = response_masks[start : start + micro_batch_size]
        first_response = [m.index(1) if 1 in m else len(m) for m in masks]
        part = None if conditions is None else conditions[start : start + micro_batch_size].to(device)
        extra = {} if part is None else {"conditions": part}
        # rows that share a prompt share its condition only when their conditions are equal too
        keys = [
            tuple(r[:f]) + (() if part is None else tuple(part[i].tolist()))
            for i, (r, f) in enumerate(zip(rows, first_response))
        ]
        if share_prefix and len(set(keys)) * 2 <= len(rows):
            with torch.set_grad_enabled(grad):
                logprobs, mask, entropy = _shared_prefix_logprobs(
                    model, rows, masks, first_response, device, with_entropy, part
                )
            yield slice(start, start + len(rows)), logprobs, mask, entropy
            continue
        ids, attention = left_pad(rows, pad_id, device)
        response, _ = left_pad(masks, 0, device)
        keep = max(len(r) - f for r, f in zip(rows, first_response)) + 1
        keep = min(keep, ids.shape[1])
        with torch.set_grad_enabled(grad):
            logits = model(
                input_ids=ids,
                attention_mask=attention,
                position_ids=position_ids_for(attention),
                logits_to_keep=keep,
                use_cache=False,
                **extra,
            ).logits
            logits = logits[:, :-1]
            targets = ids[:, ids.shape[1] - keep + 1 :]
            logprobs = token_logprobs(logits, targets)
            entropy = entropy_from_logits(logits.detach()) if with_entropy else None
        yield slice(start, start + len(rows)), logprobs, response[:, ids.shape[1] - keep + 1 :].float(), entropy


def returned_cache(output: ModelOutput) -> tuple[str, Cache]:
    """(keyword, KV cache) of a forward's output with ``use_cache=True``: transformers 5.24 renamed
    ``past_key_values`` to ``cache``, and the vLLM extra pins transformers < 5.21."""
    name = "cache" if "cache" in output.keys() else "past_key_values"
    return name, output[name]


def _shared_prefix_logprobs(
    model,
    rows: Sequence[Sequence[int]],
    masks: Sequence[Sequence[int]],
    first_response: Sequence[int],
    device,
    with_entropy: bool,
    conditions: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``sequence_logprobs`` for one micro-batch, running each distinct prompt (the tokens before
    the first response token) once.  Output layout is the same: right-aligned, width = the longest
    span from the first response token to the end of a row."""
    width = max(len(r) - f for r, f in zip(rows, first_response))
    logprobs = torch.zeros((len(rows), width), device=device)
    mask = torch.zeros((len(rows), width), device=device)
    entropy = torch.zeros((len(rows), width), device=device) if with_entropy else None
    by_prefix: dict[tuple, list[int]] = {}
    for i, (row, f) in enumerate(zip(rows, first_response)):
        key = tuple(row[:f]) if conditions is None else (tuple(row[:f]), tuple(conditions[i].tolist()))
        by_prefix.setdefault(key, []).append(i)
    for key, members in by_prefix.items():
        prefix = key if conditions is None else key[0]
        extra = {} if conditions is None else {"conditions": conditions[members[0] : members[0] + 1]}
        spans = [list(rows[i][len(prefix) :]) for i in members]
        if not prefix or not any(spans):  # nothing to predict from, or nothing predicted
            continue
        prefix_ids = torch.tensor([prefix], dtype=torch.long, device=device)
        out = model(input_ids=prefix_ids, use_cache=True, logits_to_keep=1, **extra)
        first_logits = out.logits[:, -1:].expand(len(members), 1, -1)
        longest = max(len(span) for span in spans)
        if longest > 1:  # the rest of each span is predicted from the span's own tokens
            cache_name, cache = returned_cache(out)
            cache.batch_repeat_interleave(len(members))
            inputs = torch.zeros((len(members), longest - 1), dtype=torch.long, device=device)
            attention = torch.ones((len(members), len(prefix) + longest - 1), dtype=torch.long, device=device)
            for j, span in enumerate(spans):
                inputs[j, : len(span) - 1] = torch.tensor(span[:-1], dtype=torch.long)
                attention[j, len(prefix) + len(span) - 1 :] = 0  # right padding: never attended by real tokens
            positions = torch.arange(len(prefix), len(prefix) + longest - 1, device=device).expand(len(members), -1)
            rest_extra = {} if conditions is None else {"conditions": conditions[members]}
            rest = model(
                input_ids=inputs,
                attention_mask=attention,
                position_ids=positions,
                use_cache=True,
                **{cache_name: cache},
                **rest_extra,
            ).logits
            logits = torch.cat([first_logits, rest], dim=1)
        else:
            logits = first_logits
        targets = torch.zeros((len(members), longest), dtype=torch.long, device=device)
        for j, span in enumerate(spans):
            targets[j, : len(span)] = torch.tensor(span, dtype=torch.long)
        group_logprobs = token_logprobs(logits, targets)
        group_entropy = entropy_from_logits(logits.detach()) if with_entropy else None
        for j, (i, span) in enumerate(zip(members, spans)):
            n = len(span)
            logprobs[i, width - n :] = group_logprobs[j, :n]
            mask[i, width - n :] = torch.tensor(masks[i][len(prefix) :], dtype=torch.float, device=device)
            if entropy is not None:
                entropy[i, width - n :] = group_entropy[j, :n]
    return logprobs, mask, entropy

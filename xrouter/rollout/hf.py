"""HF rollouts and training forwards for the router.

* ``HFGenerator``: batched ``generate`` on left-padded prompts with the KV cache; returns the new
  tokens of each row up to and including the end-of-turn token.  Rows that repeat a prompt (a GRPO
  group: one prompt, many episodes) share its prefill: each distinct prompt runs once and its KV cache
  is copied to its rows before decoding.
* the training forward (``sequence_logprobs``) lives in ``xrouter/rollout/logprobs.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xrouter.rollout.logprobs import left_pad, position_ids_for, returned_cache


@dataclass
class SamplingConfig:
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    do_sample: bool = True


class HFGenerator:
    """Generates one router turn for many sequences at once."""

    def __init__(
        self, model, tokenizer, eos_token_id: int, device: str | torch.device = "cpu", batch_size: int = 64
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.eos_token_id, self.pad_token_id = eos_token_id, tokenizer.pad_token_id
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def generate(
        self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig, conditions: torch.Tensor | None = None
    ) -> list[list[int]]:
        """``conditions``: one row per prompt for a prefix router (``xrouter/router/prefix_lm.py``)."""
        was_training = self.model.training
        self.model.eval()
        out: list[list[int]] = []
        try:
            for start in range(0, len(prompts), self.batch_size):
                chunk = prompts[start : start + self.batch_size]
                ids, mask = left_pad(chunk, self.pad_token_id, self.device)
                options = dict(
                    max_new_tokens=sampling.max_new_tokens,
                    do_sample=sampling.do_sample,
                    eos_token_id=self.eos_token_id,
                    pad_token_id=self.pad_token_id,
                )
                if sampling.do_sample:
                    options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
                if conditions is not None:
                    options["conditions"] = conditions[start : start + self.batch_size].to(self.device)
                options.update(self._shared_prefill(chunk, ids, mask, options.get("conditions")))
                generated = self.model.generate(input_ids=ids, attention_mask=mask, **options)[:, ids.shape[1] :]
                for row in generated.tolist():
                    if self.eos_token_id in row:
                        row = row[: row.index(self.eos_token_id) + 1]
                    else:
                        row = (
                            [t for t in row if t != self.pad_token_id]
                            if self.pad_token_id != self.eos_token_id
                            else row
                        )
                    out.append(row)
        finally:
            self.model.train(was_training)
        return out

    def _shared_prefill(
        self, rows: Sequence[Sequence[int]], ids: torch.Tensor, mask: torch.Tensor, conditions: torch.Tensor | None
    ) -> dict:
        """When rows repeat their prompts (at most half are distinct), the KV cache of every prompt but its last
        token, computed once per distinct (prompt, condition) and copied to its rows: ``generate`` then runs only
        the last token of each row (positions from the mask, as ``generate`` makes them); else nothing."""
        keys = [tuple(r) + (() if conditions is None else tuple(conditions[i].tolist())) for i, r in enumerate(rows)]
        first: dict[tuple, int] = {}
        owner = [first.setdefault(k, len(first)) for k in keys]
        if ids.shape[1] < 2 or len(first) * 2 > len(rows):
            return {}
        distinct = torch.tensor([keys.index(k) for k in first], device=ids.device)
        extra = {} if conditions is None else {"conditions": conditions[distinct]}
        positions = position_ids_for(mask[distinct])
        out = self.model(
            input_ids=ids[distinct, :-1],
            attention_mask=mask[distinct, :-1],
            position_ids=positions[:, :-1],
            use_cache=True,
            logits_to_keep=1,
            **extra,
        )
        name, cache = returned_cache(out)
        cache.batch_select_indices(torch.tensor(owner, device=ids.device))
        return {name: cache}

"""``ReplayEndpoint``: answers with a model's recorded response for a known prompt, at its recorded cost.

Deterministic and free: the CPU path for training and evaluation.  The example is found by
``prompt_id`` when the caller passes one (the environment does), else by the exact text of the
last user message.  A prompt that is not in the traces is an error, never a silent wrong answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from xrouter.pool.base import Completion, EndpointError, Message, user_query


class UnknownPromptError(EndpointError):
    """The replayed model has no recorded answer for this prompt."""


class ReplayEndpoint:
    """Recorded answers of one model, indexed by prompt id and by prompt text."""

    def __init__(self, name: str, traces: pd.DataFrame, trace_model: str | None = None) -> None:
        self.name = name
        self.trace_model = trace_model or name
        rows = traces[traces["model"] == self.trace_model]
        if rows.empty:
            raise ValueError(
                f"replay model '{name}': no rows for model '{self.trace_model}' in the traces; "
                f"models there: {sorted(traces['model'].unique())}"
            )
        columns = ["prompt_id", "prompt", "response", "score", "input_tokens", "output_tokens", "cost_usd", "latency_s"]
        self._by_id: dict[str, Completion] = {}
        by_text: dict[str, list[str]] = {}
        for prompt_id, prompt, response, score, tokens_in, tokens_out, cost, latency in rows[columns].itertuples(
            index=False, name=None
        ):
            self._by_id[prompt_id] = Completion(
                text="" if pd.isna(response) else str(response),
                input_tokens=None if pd.isna(tokens_in) else int(tokens_in),
                output_tokens=None if pd.isna(tokens_out) else int(tokens_out),
                cost_usd=float(cost),
                latency_s=0.0 if pd.isna(latency) else float(latency),
                model=name,
                recorded_score=float(score),
            )
            by_text.setdefault(prompt.strip(), []).append(prompt_id)
        self._by_text = by_text

    def __len__(self) -> int:
        return len(self._by_id)

    def lookup(self, prompt_id: str | None = None, prompt: str | None = None) -> Completion:
        """The recorded completion (shared, do not mutate) for an id or a prompt text."""
        if prompt_id is not None:
            found = self._by_id.get(prompt_id)
            if found is None:
                raise UnknownPromptError(
                    self.name,
                    f"no recorded answer for prompt_id '{prompt_id}' "
                    f"({len(self._by_id)} prompts recorded); "
                    "replay only serves prompts in its traces",
                )
            return found
        ids = self._by_text.get((prompt or "").strip())
        if not ids:
            raise UnknownPromptError(
                self.name,
                f"no recorded answer for the prompt {(prompt or '')[:80]!r}...; "
                "replay only serves prompts that are in its traces (pass prompt_id to be exact)",
            )
        if len(ids) > 1 and len({self._by_id[i].text for i in ids}) > 1:
            raise UnknownPromptError(
                self.name,
                f"the prompt text matches {len(ids)} recorded examples with different "
                f"answers ({ids[:3]}...); pass prompt_id to choose one",
            )
        return self._by_id[ids[0]]

    async def complete(
        self,
        messages: Sequence[Message],
        temperature: float = 0.0,
        max_tokens: int | None = None,
        *,
        prompt_id: str | None = None,
    ) -> Completion:
        if prompt_id is not None:
            return self.lookup(prompt_id=prompt_id)
        return self.lookup(prompt=user_query(messages))

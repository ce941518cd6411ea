"""The agent loop: all episodes of a batch stepped turn by turn between the router and the env.

Each turn: generate for every active episode at once, hand the texts to the env (which runs every
tool call of the turn concurrently against the pool), then append the tool-result segment.  The
token ids are kept as generated (never re-rendered), with a response mask: 1 on tokens the router
wrote, 0 on the prompt and on tool-result tokens.  A prefix router (``router=tiny_encoder``) also
gets each episode's condition vector (query embedding, lambda) from the loop's ``conditioner``; the
batch keeps them for the training forward.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from xrouter.env.episode import LENGTH_LIMIT, Episode
from xrouter.env.router_env import RouterEnv
from xrouter.rollout.hf import SamplingConfig
from xrouter.router.chat_format import render_prompt


@dataclass
class RolloutBatch:
    """Sequences of finished episodes, in episode order (groups are consecutive)."""

    episodes: list[Episode]
    input_ids: list[list[int]]
    response_mask: list[list[int]]
    prompt_lengths: list[int]
    group_size: int
    n_generated_tokens: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    conditions: Any = None  # float [n, D] per episode (prefix routers), else None

    def _conditions_of(self, pick: Sequence[int]):
        return None if self.conditions is None else self.conditions[list(pick)]

    @property
    def rewards(self) -> list[float]:
        return [e.reward.get("total", 0.0) for e in self.episodes]

    def select(self, indices: Sequence[int]) -> RolloutBatch:
        pick = list(indices)
        return RolloutBatch(
            [self.episodes[i] for i in pick],
            [self.input_ids[i] for i in pick],
            [self.response_mask[i] for i in pick],
            [self.prompt_lengths[i] for i in pick],
            self.group_size,
            sum(sum(self.response_mask[i]) for i in pick),
            dict(self.stats),
            self._conditions_of(pick),
        )

    @staticmethod
    def concat(batches: Sequence[RolloutBatch]) -> RolloutBatch:
        import torch

        first = batches[0]
        conditions = None if first.conditions is None else torch.cat([b.conditions for b in batches])
        return RolloutBatch(
            [e for b in batches for e in b.episodes],
            [x for b in batches for x in b.input_ids],
            [x for b in batches for x in b.response_mask],
            [x for b in batches for x in b.prompt_lengths],
            first.group_size,
            sum(b.n_generated_tokens for b in batches),
            dict(first.stats),
            conditions,
        )


class AgentLoop:
    """Runs routing episodes with a generator (``HFGenerator`` or the vLLM one) and an env."""

    def __init__(self, generator, tokenizer, env: RouterEnv, max_seq_len: int = 2048, conditioner=None) -> None:
        self.generator, self.tokenizer, self.env = generator, tokenizer, env
        self.conditioner = conditioner  # examples -> float [n, D] (prefix routers), else None
        self.max_seq_len = max_seq_len
        self.eos_token_id = generator.eos_token_id
        self._eos_text = tokenizer.convert_ids_to_tokens(self.eos_token_id)
        self._loop = asyncio.new_event_loop()  # one loop for the run: async HTTP clients bind to it
        self._prompt_cache: dict[str, list[int]] = {}

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.close()

    def prompt_ids(self, episode: Episode) -> list[int]:
        key = episode.prompt_id
        if key not in self._prompt_cache:
            text = render_prompt(self.tokenizer, episode.messages, self.env.tools())
            self._prompt_cache[key] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(self._prompt_cache[key])

    def run(
        self,
        examples: Sequence[dict[str, Any]],
        group_size: int,
        sampling: SamplingConfig,
        episode_prefix: str = "ep",
        scripts: Sequence[Sequence[str]] | None = None,
    ) -> RolloutBatch:
        """Run ``group_size`` episodes per example.  ``scripts`` (one list of turn texts per
        episode) replaces the generator: the cold start uses it to record valid trajectories."""
        episodes = [
            self.env.reset(ex, f"{episode_prefix}-{i}-{g}") for i, ex in enumerate(examples) for g in range(group_size)
        ]
        sequences = [self.prompt_ids(e) for e in episodes]
        conditions = self.conditioner([e.example for e in episodes]) if self.conditioner is not None else None
        masks = [[0] * len(s) for s in sequences]
        prompt_lengths = [len(s) for s in sequences]
        generated_tokens = 0
        while True:
            active = [i for i, e in enumerate(episodes) if not e.done]
            if not active:
                break
            if scripts is None:
                options = {} if conditions is None else {"conditions": conditions[active]}
                outputs = self.generator.generate([sequences[i] for i in active], sampling, **options)
            else:
                outputs = [self._scripted(scripts[i], len(episodes[i].turns)) for i in active]
            texts, router_tokens = [], []
            for i, new in zip(active, outputs):
                router_tokens.append((len(sequences[i]), len(new)))
                sequences[i].extend(new)
                masks[i].extend([1] * len(new))
                generated_tokens += len(new)
                if not new or new[-1] != self.eos_token_id:  # cut off: close the turn, untrained
                    sequences[i].append(self.eos_token_id)
                    masks[i].append(0)
                texts.append(self.tokenizer.decode(new, skip_special_tokens=False).removesuffix(self._eos_text))
            results = self._loop.run_until_complete(self.env.step([episodes[i] for i in active], texts, router_tokens))
            for i, contents in zip(active, results):
                if contents is None:
                    continue
                segment = self.tokenizer(self.env.results_segment(contents), add_special_tokens=False)["input_ids"]
                if len(sequences[i]) + len(segment) + sampling.max_new_tokens > self.max_seq_len:
                    self.env.force_end(episodes[i], LENGTH_LIMIT)
                    continue
                sequences[i].extend(segment)
                masks[i].extend([0] * len(segment))
        return RolloutBatch(
            episodes, sequences, masks, prompt_lengths, group_size, generated_tokens, conditions=conditions
        )

    def script_sequences(
        self, examples: Sequence[dict[str, Any]], turns: Sequence[str], episode_prefix: str = "format"
    ) -> RolloutBatch:
        """One-turn scripts as token sequences, without stepping the env: no pool call, nothing spent, no
        outcome read (the format-only cold start of a simple-mode router).  Episodes stay unfinished
        (reward 0); the router's tokens are the turn and its end-of-turn token."""
        episodes = [self.env.reset(ex, f"{episode_prefix}-{i}") for i, ex in enumerate(examples)]
        sequences, masks, prompt_lengths = [], [], []
        for episode, turn in zip(episodes, turns):
            prompt = self.prompt_ids(episode)
            written = self.tokenizer(turn, add_special_tokens=False)["input_ids"] + [self.eos_token_id]
            sequences.append(prompt + written)
            masks.append([0] * len(prompt) + [1] * len(written))
            prompt_lengths.append(len(prompt))
        conditions = self.conditioner([e.example for e in episodes]) if self.conditioner is not None else None
        return RolloutBatch(
            episodes, sequences, masks, prompt_lengths, 1, sum(sum(m) for m in masks), conditions=conditions
        )

    def _scripted(self, script: Sequence[str], turn: int) -> list[int]:
        text = script[turn] if turn < len(script) else ""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.eos_token_id]

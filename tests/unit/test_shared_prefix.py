"""Shared-prefix training forwards equal the plain left-padded forward: values and gradients."""

import random

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from xrouter.rollout.logprobs import sequence_logprobs


def grouped_rows(seed: int = 0) -> tuple[list[list[int]], list[list[int]]]:
    """Three prompts x four episodes: response, tool-result tokens (mask 0), a second response."""
    rng = random.Random(seed)
    rows, masks = [], []
    for _ in range(3):
        prompt = [rng.randrange(1, 50) for _ in range(rng.randrange(5, 12))]
        for _ in range(4):
            response = [rng.randrange(1, 50) for _ in range(rng.randrange(1, 7))]
            tool = [rng.randrange(1, 50) for _ in range(rng.randrange(0, 3))]
            second = [rng.randrange(1, 50) for _ in range(rng.randrange(1, 3))] if tool else []
            rows.append(prompt + response + tool + second)
            masks.append([0] * len(prompt) + [1] * len(response) + [0] * len(tool) + [1] * len(second))
    return rows, masks


@pytest.mark.parametrize("micro_batch_size", [4, 8, 12])
def test_shared_prefix_equals_plain_forward(micro_batch_size: int) -> None:
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=50,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
        )
    )
    rows, masks = grouped_rows()

    def run(share: bool):
        model.zero_grad()
        values = []
        for _, logprobs, mask, entropy in sequence_logprobs(
            model, rows, masks, 0, micro_batch_size, with_entropy=True, grad=True, share_prefix=share
        ):
            (logprobs * mask).sum().backward()
            values.append(torch.stack([(logprobs * mask).sum(), mask.sum(), (entropy * mask).sum()]).detach())
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        return torch.stack(values), grads

    plain, plain_grads = run(False)
    shared, shared_grads = run(True)
    assert torch.allclose(plain, shared, atol=1e-4)
    assert plain[:, 1].sum() == sum(sum(m) for m in masks)  # every response token counted once
    assert torch.allclose(plain_grads, shared_grads, atol=1e-5)

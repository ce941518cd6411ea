"""Rewards, advantages and losses on hand-computed cases."""

import math

import pytest
import torch

from xrouter.reward import build_reward, linear_reward, xrouter_reward
from xrouter.reward.units import pool_cost_unit, with_cost_unit
from xrouter.rl.advantages import grpo_advantages, informative_groups
from xrouter.rl.losses import aggregate, kl_k3, policy_loss
from xrouter.rollout.logprobs import token_logprobs


def test_xrouter_reward_is_success_gated_and_capped():
    r = xrouter_reward(1.0, 0.2, K=1.0, lam=2.0, cap=0.8)
    assert r.total == pytest.approx(1.0 - 0.4) and r.cost_penalty == pytest.approx(0.4)
    assert xrouter_reward(1.0, 5.0, lam=2.0, cap=0.8).total == pytest.approx(0.2)  # capped
    assert xrouter_reward(0.0, 0.2, lam=2.0).total == 0.0  # wrong: nothing, whatever it cost
    assert xrouter_reward(1.0, 0.0, valid_final=False).total == 0.0
    r = xrouter_reward(1.0, 0.002, 0.001, lam=100, cap=0.8, include_router_cost=True)
    assert r.cost_usd == pytest.approx(0.003) and r.total == pytest.approx(0.7)
    assert xrouter_reward(1.0, 0.0005, lam=1.0, cost_unit_usd=0.001).total == pytest.approx(0.5)


def test_pool_cost_unit_follows_the_pools_prices():
    # RouterBench's span ($0.2 .. $20 blended per 1M): the cent that lambda was measured in
    assert pool_cost_unit([(0.2, 0.2), (0.8, 0.8), (10.0, 30.0)]) == 0.01
    # ten times cheaper pool, ten times smaller unit; free models do not pull it to 0
    assert pool_cost_unit([(0.02, 0.02), (1.0, 3.0), (0.0, 0.0)]) == pytest.approx(0.001)
    assert pool_cost_unit([(0.0, 0.0)]) == 0.01
    assert pool_cost_unit([(0.1, 0.1), (0.9, 0.9)], reference_tokens=1_000) == pytest.approx(3e-4)


def test_cost_unit_pool_is_resolved_before_any_reward_is_computed():
    cfg = {"name": "xrouter", "lam": 1.0, "cap": 0.8, "cost_unit_usd": "pool"}
    resolved = with_cost_unit(cfg, [(0.1, 0.1), (0.9, 0.9)])
    assert resolved["cost_unit_usd"] == pytest.approx(0.0015) and cfg["cost_unit_usd"] == "pool"  # a copy
    assert with_cost_unit({**cfg, "cost_unit_usd": 0.01}, [(0.1, 0.1)])["cost_unit_usd"] == 0.01
    assert build_reward(resolved)(1.0, 0.00075).total == pytest.approx(0.5)
    with pytest.raises(ValueError, match="resolved against a pool's prices"):
        build_reward(cfg)
    with pytest.raises(ValueError, match="or 'pool'"):
        with_cost_unit({**cfg, "cost_unit_usd": "cents"}, [(0.1, 0.1)])


def test_linear_reward_components():
    r = linear_reward(1.0, 0.005, alpha=0.4, cost_scale=0.01)
    assert r.total == pytest.approx(0.6 * 1 + 0.4 * (1 - 0.5))
    bad = linear_reward(1.0, 0.0, alpha=0.4, format_penalty=1.0, valid_final=False)
    assert bad.score == 0 and bad.format_penalty == 1.0 and bad.total == pytest.approx(0.4 - 1.0)
    reward = build_reward({"name": "xrouter", "K": 1.0, "lam": 2.0, "cap": 0.8})
    assert reward(1.0, 0.1).as_dict()["total"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="unknown reward 'nope'"):
        build_reward({"name": "nope"})


def test_grpo_advantages_by_hand():
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5])
    adv = grpo_advantages(rewards, group_size=2)
    assert torch.allclose(adv[:4], torch.tensor([1.0, -1.0, -1.0, 1.0]), atol=1e-5)
    assert torch.allclose(adv[4:], torch.zeros(2))
    unscaled = grpo_advantages(torch.tensor([3.0, 1.0]), group_size=2, scale_by_std=False)
    assert torch.allclose(unscaled, torch.tensor([1.0, -1.0]))
    assert informative_groups(rewards, 2).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="do not split into groups of 4"):
        grpo_advantages(rewards, 4)


def test_clipped_loss_by_hand():
    # two tokens of one sequence; ratio e^0.5 = 1.65 (clipped at 1.28 for A > 0), ratio 1 (not clipped)
    logprobs = torch.tensor([[math.log(0.5) + 0.5, math.log(0.5)]])
    old = torch.tensor([[math.log(0.5), math.log(0.5)]])
    mask = torch.tensor([[1.0, 1.0]])
    loss, metrics = policy_loss(logprobs, old, torch.tensor([2.0]), mask, eps_low=0.2, eps_high=0.28)
    assert loss.item() == pytest.approx(-(1.28 * 2 + 1.0 * 2) / 2)
    assert metrics["clip_frac"] == pytest.approx(0.5)
    # negative advantage: ratio below 1 - eps_low is clipped
    low = torch.tensor([[math.log(0.5) - 0.5]])
    loss, metrics = policy_loss(low, old[:, :1], torch.tensor([-1.0]), mask[:, :1])
    assert loss.item() == pytest.approx(0.8) and metrics["clip_frac"] == 1.0


def test_masked_tokens_get_no_gradient():
    logprobs = torch.zeros(1, 4, requires_grad=True)
    mask = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    loss, _ = policy_loss(logprobs, torch.zeros(1, 4), torch.tensor([1.0]), mask)
    loss.backward()
    assert logprobs.grad[0, 0] == 0 and logprobs.grad[0, 2] == 0 and logprobs.grad[0, 1] != 0


def test_aggregation_modes_differ_as_expected():
    per_token = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert aggregate(per_token, mask, "token-mean").item() == pytest.approx(7 / 5)
    assert aggregate(per_token, mask, "seq-mean-token-mean").item() == pytest.approx(2.0)


def test_kl_and_token_logprobs():
    assert kl_k3(torch.tensor([0.3]), torch.tensor([0.3])).item() == pytest.approx(0.0)
    assert kl_k3(torch.tensor([0.0]), torch.tensor([-1.0])).item() > 0
    logits = torch.tensor([[[0.0, math.log(3.0)]]])
    assert token_logprobs(logits, torch.tensor([[1]])).item() == pytest.approx(math.log(0.75))

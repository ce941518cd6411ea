"""BaRP's reward and preference draw, CSCR's cost bands and cost-spectrum InfoNCE, and the
robustness report's per-query rates, on small hand-checked inputs."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.robustness import escalation_rates, top_tier
from xrouter.policies.barp import BarpSettings, barp_reward, sample_w_cost, train_barp
from xrouter.policies.cscr import cost_bands, cost_spectrum_loss, smoothed_similarity


def test_barp_reward_is_linear_in_the_preference_and_caps_the_cost_term():
    r = barp_reward(
        np.array([1.0, 1.0, 0.0]),
        np.array([0.5, 4.0, 0.0]),
        np.array([0.7, 0.7, 0.7]),
        np.array([0.3, 0.3, 0.3]),
        tau=2.0,
    )
    assert r == pytest.approx([0.7 - 0.3 * 0.25, 0.7 - 0.3, 0.0])


def test_log_ratio_draw_covers_its_range_on_the_simplex():
    w = sample_w_cost(20000, "log_ratio", torch.Generator().manual_seed(0), (-2.0, 2.0))
    ratio = torch.log10(w / (1 - w))
    assert float(ratio.min()) >= -2.0 - 1e-5 and float(ratio.max()) <= 2.0 + 1e-5
    assert abs(float((ratio < 0).float().mean()) - 0.5) < 0.02
    uniform = sample_w_cost(20000, "uniform", torch.Generator().manual_seed(0))
    assert abs(float(uniform.mean()) - 0.5) < 0.01


class Recording(np.ndarray):
    """An array that records every index used to read it."""

    def __getitem__(self, index):
        self.reads.append(index)
        return np.asarray(self)[index]


def test_barp_training_reads_only_the_chosen_model_of_each_query():
    rng = np.random.default_rng(0)
    score = rng.integers(0, 2, size=(50, 4)).astype(float).view(Recording)
    cost = rng.uniform(0, 1, size=(50, 4)).view(Recording)
    score.reads, cost.reads = [], []
    train_barp(rng.normal(size=(50, 8)), score, cost, 1.0, BarpSettings(hidden=8, epochs=3, batch_size=16))
    for index in score.reads + cost.reads:  # (rows, one column per row): bandit feedback
        rows, cols = index
        assert np.ndim(rows) == 1 and np.shape(rows) == np.shape(cols) and len(set(rows.tolist())) == len(rows)
    assert len(score.reads) == 3 * 4  # one read per batch


def test_barp_learns_the_preference_trade_off_on_a_toy_pool():
    """Model 0 always right at cost 0.2, model 1 free and right only where feature 0 > 0.  At
    w_cost 0.5 the best choice follows the feature; at w_cost 0.95 model 0 never pays (0.05 - 0.19 < 0)."""
    from xrouter.policies.barp import barp_choose

    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 4))
    score = np.stack([np.ones(400), (x[:, 0] > 0).astype(float)], axis=1)
    cost = np.stack([np.full(400, 0.2), np.zeros(400)], axis=1)
    policy, history = train_barp(
        x,
        score,
        cost,
        1.0,
        BarpSettings(hidden=32, epochs=150, batch_size=100, lr=3e-3, entropy=0.01, w_sampling="uniform"),
    )
    assert history[-1] > history[0]
    clear_yes, clear_no = x[:, 0] > 0.3, x[:, 0] < -0.3
    middle = barp_choose(policy, x, 0.5, "preference")
    assert (middle[clear_no] == 0).mean() > 0.9 and (middle[clear_yes] == 1).mean() > 0.9
    assert (barp_choose(policy, x, 0.95, "preference")[clear_no] == 1).mean() > 0.9


def test_barp_ensemble_averages_members_and_settings_are_checked():
    from xrouter.policies.barp import barp_choose

    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 4))
    score, cost = rng.integers(0, 2, size=(60, 3)).astype(float), rng.uniform(0, 1, size=(60, 3))
    settings = BarpSettings(hidden=8, epochs=2, batch_size=20, lr_schedule="cosine")
    one, _ = train_barp(x, score, cost, 1.0, settings)
    other, _ = train_barp(x, score, cost, 1.0, BarpSettings(hidden=8, epochs=2, batch_size=20, seed=7))
    alone = barp_choose(one, x, 0.3, "preference")
    assert (barp_choose([one, one], x, 0.3, "preference") == alone).all()  # a mean of equal members is the member
    both = barp_choose([one, other], x, 0.3, "preference")
    assert both.shape == alone.shape
    with pytest.raises(ValueError, match="lr_schedule"):
        BarpSettings.from_config({"lr_schedule": "linear"}, seed=0)
    with pytest.raises(ValueError, match="ensemble"):
        BarpSettings.from_config({"ensemble": 0}, seed=0)


def test_cost_bands_are_percentile_bands():
    assert cost_bands(np.array([0.0, 0.1, 0.2, 0.9, 1.0]), 2).tolist() == [0, 0, 0, 1, 1]
    assert cost_bands(np.array([0.0, 0.5, 1.0]), 3).tolist() == [0, 1, 2]


def test_cost_spectrum_loss_matches_a_hand_computation():
    q = torch.tensor([[1.0, 0.0]])
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    label = torch.tensor([[1.0, 1.0]])
    cost = torch.tensor([0.0, 1.0])
    band = torch.tensor([0, 1])
    loss = cost_spectrum_loss(q, e, label, cost, band, tau_min=0.05, alpha=0.25, gamma=0.2)
    expected = []
    for _k, (sim_pos, tau) in enumerate([(1.0, 0.05), (0.0, 0.30)]):
        denominator = math.exp(1.0 / tau) + math.exp((0.0 - 0.2) / tau)
        expected.append(-math.log(math.exp(sim_pos / tau) / denominator))
    assert float(loss) == pytest.approx(sum(expected) / 2, rel=1e-5)
    no_positive = cost_spectrum_loss(q, e, torch.zeros(1, 2), cost, band, 0.05, 0.25, 0.2)
    assert float(no_positive) == 0.0


def test_smoothed_similarity_averages_the_query_and_its_neighbours():
    models = np.eye(2)
    train = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    z = np.array([[0.8, 0.6]])
    assert smoothed_similarity(z, train, models, 0) == pytest.approx(z)
    # the third is nearest (0.96)
    assert smoothed_similarity(z, train, models, 1) == pytest.approx((z + train[[2]]) / 2)


def test_escalation_rates_on_hand_made_outcomes():
    scores = pd.DataFrame(
        {"cheap": [1.0, 0.0, 0.0, 1.0], "mid": [0.0, 0.0, 1.0, 1.0], "top": [1.0, 1.0, 1.0, 0.0]},
        index=["a", "b", "c", "d"],
    )
    costs = pd.Series({"cheap": 1.0, "mid": 2.0, "top": 10.0})
    assert top_tier(costs, 1 / 3) == {"top"}
    episodes = pd.DataFrame(
        {
            "prompt_id": ["a", "b", "c", "d"],
            "benchmark": ["mbpp", "mbpp", "gsm", "gsm"],
            "models_called": [["top"], ["cheap"], ["mid"], ["cheap", "top"]],
            "score": [1.0, 0.0, 1.0, 0.0],
        }
    )
    rates = escalation_rates(episodes, scores, {"top"}, "cheap")
    assert rates["escalation"].tolist() == [1, 0, 0, 1]
    assert rates["over_escalation"].tolist() == [1, 0, 0, 1]  # a and d: the cheapest model was right
    assert rates["under_escalation"].tolist() == [0, 1, 0, 0]  # b: kept cheap, wrong, the top model right
    assert rates["category"].tolist() == ["coding", "coding", "math", "math"]

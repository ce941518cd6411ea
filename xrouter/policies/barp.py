"""``barp``: BaRP, a preference-conditioned routing policy trained from bandit feedback only.

After "Learning to Route LLMs from Bandit Feedback: One Policy, Many Trade-offs" (BaRP).  A policy
network reads the query's MiniLM embedding and a preference vector ``w = (w_quality, w_cost)`` and
outputs a distribution over the pool.  Training is REINFORCE with an entropy bonus: for each
training query a preference is drawn (``w_cost ~ U(0, 1)``, ``w_quality = 1 - w_cost``: a uniform
draw from the 2-simplex), one model is *sampled* from the policy, and only that model's recorded
score and cost are revealed (the replay table is read at the chosen column only: bandit feedback,
never the full outcome row), giving ``r = w_q * score - w_c * min(cost / tau, 1)``.  At inference
the operator sets ``w_cost`` (the knob; ``w_quality = 1 - w_cost``) and the policy takes the argmax:
one trained network serves every trade-off, so a ``w_cost`` sweep is one curve.

Adaptations (stated in the README): a learned value head ``V(x, w)`` is the REINFORCE baseline
(variance reduction; it also sees only the chosen arm's reward); training runs ``epochs`` passes
over the fit split with a fresh preference and action per query and pass, as the paper simulates
bandit interaction on logged data; ``tau`` defaults to the dearest model's mean cost on the fit split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from xrouter.policies.base import LearnedPolicy
from xrouter.policies.nets import one_torch_thread, seeded_mlp
from xrouter.policies.table import RouteTable


def barp_reward(
    score: np.ndarray, cost_usd: np.ndarray, w_quality: np.ndarray, w_cost: np.ndarray, tau: float
) -> np.ndarray:
    """BaRP's scalarised reward ``w_q * score - w_c * min(cost / tau, 1)`` (element-wise)."""
    return w_quality * score - w_cost * np.minimum(cost_usd / tau, 1.0)


@dataclass
class BarpSettings:
    hidden: int = 128
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    entropy: float = 0.01  # entropy bonus coefficient
    w_sampling: str = "uniform"  # uniform: w_cost ~ U(0, 1); log_ratio: log10(w_c / w_q) ~ U(lo, hi)
    log_ratio_range: tuple[float, float] = (-2.0, 2.0)
    head: str = "preference"  # preference: logits w_q * A(x, w) - w_c * B(x, w); concat: one head on [x, w]
    lr_schedule: str = "constant"  # constant | cosine: lr decays to 0 over training (a steadier final policy)
    ensemble: int = 1  # policies trained from independent seeds; inference averages their log-probs
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], seed: int) -> BarpSettings:
        keys = (
            "hidden",
            "epochs",
            "batch_size",
            "lr",
            "weight_decay",
            "entropy",
            "head",
            "w_sampling",
            "lr_schedule",
            "ensemble",
        )
        values = {k: type(getattr(cls, k))(cfg[k]) for k in keys if cfg.get(k) is not None}
        if values.get("head", "preference") not in ("preference", "concat"):
            raise ValueError(f"policy.head must be 'preference' or 'concat', not {cfg.get('head')!r}")
        if values.get("lr_schedule", "constant") not in ("constant", "cosine"):
            raise ValueError(f"policy.lr_schedule must be 'constant' or 'cosine', not {cfg.get('lr_schedule')!r}")
        if values.get("w_sampling", "uniform") not in ("uniform", "log_ratio"):
            raise ValueError(f"policy.w_sampling must be 'uniform' or 'log_ratio', not {cfg.get('w_sampling')!r}")
        for key in ("hidden", "epochs", "batch_size", "ensemble"):
            if values.get(key, 1) <= 0:
                raise ValueError(f"policy.{key} must be a positive integer, not {cfg.get(key)!r}")
        if cfg.get("log_ratio_range") is not None:
            lo, hi = (float(v) for v in cfg["log_ratio_range"])
            if not lo < hi:
                raise ValueError(
                    f"policy.log_ratio_range must be [low, high] with low < high, not {cfg['log_ratio_range']!r}"
                )
            values["log_ratio_range"] = (lo, hi)
        return cls(seed=seed, **values)


def sample_w_cost(n: int, how: str, generator: Any, log_ratio_range: tuple[float, float] = (-2.0, 2.0)) -> Any:
    """``n`` cost weights: uniform on [0, 1] (BaRP's uniform draw from the simplex), or with
    ``log10(w_c / w_q)`` uniform on ``log_ratio_range`` (the same simplex, denser where single
    models trade places)."""
    import torch

    u = torch.rand(n, generator=generator)
    if how == "uniform":
        return u
    lo, hi = log_ratio_range
    ratio = 10.0 ** (lo + (hi - lo) * u)
    return ratio / (1.0 + ratio)


def policy_logits(net: Any, features: Any, w_quality: Any, w_cost: Any, head: str) -> Any:
    """The policy's logits over the pool for features [b, d] and preferences [b]: the network reads
    ``[x, w]`` (w centred and scaled to unit variance, like the standardised embedding); with
    ``head=preference`` it outputs two vectors A, B and the logits are ``w_q * A - w_c * B``, so the
    preference can reweigh every model directly (the argmax of ``w_q * quality - w_c * cost`` is
    expressible exactly); ``head=concat`` uses the output as logits."""
    import torch

    w = torch.stack([w_quality, w_cost], dim=1)
    out = net(torch.cat([features, (w - 0.5) * 3.4641], dim=1))
    if head == "concat":
        return out
    m = out.shape[1] // 2
    return w_quality[:, None] * out[:, :m] - w_cost[:, None] * out[:, m:]


def train_barp(
    x: np.ndarray, score: np.ndarray, cost_usd: np.ndarray, tau: float, settings: BarpSettings
) -> tuple[Any, list[float]]:
    """REINFORCE with a learned baseline and an entropy bonus; returns (policy net, mean reward per epoch).

    ``x`` [n, d] standardised query features; ``score``, ``cost_usd`` [n, m] the replay table, of
    which only the sampled model's entry is read per interaction.
    """
    import torch

    n, d = x.shape
    m = score.shape[1]
    outputs = 2 * m if settings.head == "preference" else m
    policy = seeded_mlp([d + 2, settings.hidden, settings.hidden, outputs], settings.seed)
    value = seeded_mlp([d + 2, settings.hidden, 1], settings.seed + 1)
    optimizer = torch.optim.Adam(
        [*policy.parameters(), *value.parameters()], lr=settings.lr, weight_decay=settings.weight_decay
    )
    steps_per_epoch = -(-n // settings.batch_size)
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs * steps_per_epoch)
        if settings.lr_schedule == "cosine"
        else None
    )
    generator = torch.Generator().manual_seed(int(settings.seed))
    features = torch.tensor(x, dtype=torch.float32)
    history: list[float] = []
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, settings.batch_size):
            idx = order[start : start + settings.batch_size]
            w_cost = sample_w_cost(len(idx), settings.w_sampling, generator, settings.log_ratio_range)
            w_quality = 1.0 - w_cost
            inputs = torch.cat([features[idx], w_quality[:, None], w_cost[:, None]], dim=1)
            log_p = torch.log_softmax(policy_logits(policy, features[idx], w_quality, w_cost, settings.head), dim=1)
            action = torch.multinomial(log_p.detach().exp(), 1, generator=generator).squeeze(1)
            rows, cols = idx.numpy(), action.numpy()
            # bandit feedback: the chosen model's recorded outcome, and nothing else of the row
            reward = torch.tensor(
                barp_reward(score[rows, cols], cost_usd[rows, cols], w_quality.numpy(), w_cost.numpy(), tau),
                dtype=torch.float32,
            )
            baseline = value(inputs).squeeze(1)
            advantage = reward - baseline.detach()
            chosen = log_p.gather(1, action[:, None]).squeeze(1)
            entropy = -(log_p.exp() * log_p).sum(dim=1)
            loss = (
                -(advantage * chosen).mean()
                - settings.entropy * entropy.mean()
                + 0.5 * ((baseline - reward) ** 2).mean()
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            total += float(reward.sum())
        history.append(total / n)
    policy.eval()
    return policy, history


def barp_choose(policies: Any, x: np.ndarray, w_cost: float, head: str) -> np.ndarray:
    """The argmax model (column) for each row of ``x`` at preference ``(1 - w_cost, w_cost)``: of one policy
    net's logits, or of the mean log-probabilities of a list of them (an ensemble)."""
    import torch

    features = torch.tensor(x, dtype=torch.float32)
    w_c = torch.full((len(features),), float(w_cost))
    nets = policies if isinstance(policies, (list, tuple)) else [policies]
    with torch.no_grad():
        log_p = sum(torch.log_softmax(policy_logits(net, features, 1.0 - w_c, w_c, head), dim=1) for net in nets)
    return log_p.argmax(dim=1).numpy()


class BaRP(LearnedPolicy):
    """BaRP: a preference-conditioned policy over the pool trained by REINFORCE on bandit feedback."""

    name = "barp"
    knob_name = "w_cost"

    def fit(self, table: RouteTable) -> dict[str, Any]:
        order = [table.models.index(m) for m in self.ctx.pool_names]
        score, cost = table.score[:, order], table.cost_usd[:, order]
        tau = self.cfg.get("tau", "auto")
        tau = float(cost.mean(0).max()) if tau in (None, "auto") else float(tau)
        if not tau > 0:
            raise ValueError(f"policy.tau must be a positive cost in USD or 'auto', not {self.cfg.get('tau')!r}")
        x = self.ctx.embedder().embed(table.prompts).astype(np.float64)
        mean, std = x.mean(0), x.std(0) + 1e-6
        settings = BarpSettings.from_config(self.cfg, int(self.ctx.seed))
        policies = []
        with one_torch_thread():
            for k in range(settings.ensemble):  # member k: seed * 1000 + k (member 0 is the single policy)
                member = dataclasses.replace(settings, seed=settings.seed * 1000 + k) if k else settings
                policy, history = train_barp((x - mean) / std, score, cost, tau, member)
                policies.append(policy)
                if k == 0:
                    self.info.update(train_mean_reward_first_last=[history[0], history[-1]])
        self.info.update(tau_usd=tau, ensemble=settings.ensemble)
        return {"policy": policies, "mean": mean, "std": std, "head": settings.head}

    def predict(self, state, rows):
        x = self.embed_examples(rows).astype(np.float64)
        return {"features": ((x - state["mean"]) / state["std"]).astype(np.float32)}

    def first(self, rows):
        w_cost = float(self.knob_value if self.knob_value is not None else 0.5)
        if not 0.0 <= w_cost <= 1.0:
            raise ValueError(f"policy.w_cost must be in [0, 1] (w_quality = 1 - w_cost), not {w_cost}")
        rows = np.asarray(rows, dtype=int)
        pick = np.zeros(len(rows), dtype=int)
        with one_torch_thread():
            for fold, state in enumerate(self.states):
                here = np.flatnonzero(self.row_fold[rows] == fold)
                if len(here):
                    pick[here] = barp_choose(state["policy"], self.pred["features"][rows[here]], w_cost, state["head"])
        return [self.ctx.pool_names[j] for j in pick]

    @property
    def label(self) -> str:
        return f"{super().label} ({self.ctx.embedder().label})"

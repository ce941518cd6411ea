"""``cscr``: cost-spectrum contrastive routing (CSCR, github rezashkv/cscr, Apache-2.0).

Queries and pool models share one embedding space.  A query is its MiniLM embedding through a
learned linear projection, L2-normalised; each pool model is one learned vector, L2-normalised.
Training minimises CSCR's cost-spectrum InfoNCE (``cost_spectrum_info_nce`` of the repository's
``scripts/train_query_encoder.py``, restated in ``cost_spectrum_loss``): the models are split into
``n_bands`` percentile bands of their normalised cost; in each band the models that answered the
query correctly are its positives, the band's temperature is ``tau_b = tau_min + alpha * (mean
normalised cost of the band)``, and the denominator runs over every model with its similarity
lowered by ``gamma * cost``; the loss is the mean over bands (a band without a correct model is
skipped for that query).  Routing picks ``argmax_j sim(q, e_j) - lam * cost_j`` (``lam`` is the
knob), where ``sim(q, e_j)`` is averaged over the query and its ``k`` nearest training prompts in
the learned space (``k: 0`` = the query alone).

Adaptations (stated in the README): CSCR builds model descriptors from logits or perplexity
fingerprints of open models; API models expose none, so each model's vector is learned jointly with
the projection (the repository trains only the projection against fixed descriptors).  Costs are
each model's mean USD cost per query on the fit split, min-max normalised to [0, 1] as the
repository normalises its cost table.  Its FAISS index holds the model descriptors; the k-NN here
is over training prompts, smoothing the query's similarity profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from xrouter.policies.base import LearnedPolicy
from xrouter.policies.nets import one_torch_thread
from xrouter.policies.table import RouteTable


def cost_bands(cost_norm: np.ndarray, n_bands: int) -> np.ndarray:
    """The band (0 = cheapest) of each model: CSCR's percentile bands of the normalised costs
    (quantile edges, ``bucketize`` on the inner edges)."""
    edges = np.quantile(cost_norm, np.linspace(0, 1, n_bands + 1))
    return np.searchsorted(edges[1:-1], cost_norm, side="left")


def cost_spectrum_loss(
    q: Any, e: Any, label: Any, cost_norm: Any, band: Any, tau_min: float, alpha: float, gamma: float
) -> Any:
    """CSCR's cost-spectrum InfoNCE for unit query vectors ``q`` [b, d], unit model vectors ``e``
    [m, d], correctness ``label`` [b, m] (0/1), normalised costs [m] and bands [m]."""
    import torch

    sim = q @ e.T
    losses = []
    for k in torch.unique(band).tolist():
        in_band = band == k
        positive = label * in_band[None, :].float()
        has = positive.sum(1) > 0
        if not bool(has.any()):
            continue
        tau = tau_min + alpha * float(cost_norm[in_band].mean())
        s = sim[has]
        numerator = torch.logsumexp((s / tau).masked_fill(positive[has] == 0, float("-inf")), dim=1)
        denominator = torch.logsumexp((s - gamma * cost_norm[None, :]) / tau, dim=1)
        losses.append((denominator - numerator).mean())
    return torch.stack(losses).mean() if losses else sim.sum() * 0.0


@dataclass
class CscrSettings:
    dim: int = 128
    n_bands: int = 3
    tau_min: float = 0.05
    alpha: float = 0.25
    gamma: float = 0.2
    epochs: int = 50
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 1e-2

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CscrSettings:
        values = {k: type(getattr(cls, k))(cfg[k]) for k in cls.__dataclass_fields__ if cfg.get(k) is not None}
        for key in ("dim", "n_bands", "epochs", "batch_size"):
            if values.get(key, 1) <= 0:
                raise ValueError(f"policy.{key} must be a positive integer, not {cfg.get(key)!r}")
        return cls(**values)


def train_cscr(
    x: np.ndarray, label: np.ndarray, cost_norm: np.ndarray, settings: CscrSettings, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit the projection and the model vectors; returns (weight [d, dim], bias [dim], model vectors [m, dim] unit)."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    n, d = x.shape
    m = label.shape[1]
    weight = torch.nn.Parameter((torch.rand(d, settings.dim, generator=generator) * 2 - 1) / np.sqrt(d))
    bias = torch.nn.Parameter(torch.zeros(settings.dim))
    models = torch.nn.Parameter(torch.randn(m, settings.dim, generator=generator))
    optimizer = torch.optim.AdamW([weight, bias, models], lr=settings.lr, weight_decay=settings.weight_decay)
    features, labels = torch.tensor(x, dtype=torch.float32), torch.tensor(label, dtype=torch.float32)
    costs = torch.tensor(cost_norm, dtype=torch.float32)
    band = torch.tensor(cost_bands(cost_norm, settings.n_bands))
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, settings.batch_size):
            idx = order[start : start + settings.batch_size]
            q = torch.nn.functional.normalize(features[idx] @ weight + bias, dim=1)
            e = torch.nn.functional.normalize(models, dim=1)
            loss = cost_spectrum_loss(q, e, labels[idx], costs, band, settings.tau_min, settings.alpha, settings.gamma)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        e = torch.nn.functional.normalize(models, dim=1)
    return (
        weight.detach().numpy().astype(np.float64),
        bias.detach().numpy().astype(np.float64),
        e.numpy().astype(np.float64),
    )


def project(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Unit query vectors in the learned space."""
    z = np.asarray(x, dtype=np.float64) @ weight + bias
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def smoothed_similarity(z: np.ndarray, train_z: np.ndarray, models: np.ndarray, k: int) -> np.ndarray:
    """[n, m]: the mean similarity to each model over the query and its ``k`` nearest training
    prompts (cosine in the learned space; ties to the earlier training row)."""
    sim = z @ models.T
    if k <= 0:
        return sim
    neighbours = np.argsort(-(z @ train_z.T), axis=1, kind="stable")[:, :k]
    return (sim + (train_z @ models.T)[neighbours].sum(axis=1)) / (k + 1)


class CSCR(LearnedPolicy):
    """Cost-spectrum contrastive routing: argmax similarity - lam * normalised cost."""

    name = "cscr"
    knob_name = "lam"

    def fit(self, table: RouteTable) -> dict[str, Any]:
        order = [table.models.index(m) for m in self.ctx.pool_names]
        label = (table.score[:, order] >= 0.5).astype(np.float64)
        mean_cost = table.cost_usd[:, order].mean(0)
        spread = mean_cost.max() - mean_cost.min()
        cost_norm = (mean_cost - mean_cost.min()) / (spread if spread > 0 else 1.0)
        x = self.ctx.embedder().embed(table.prompts).astype(np.float64)
        settings = CscrSettings.from_config(self.cfg)
        with one_torch_thread():
            weight, bias, models = train_cscr(x, label, cost_norm, settings, int(self.ctx.seed))
        self.info["cost_bands"] = dict(zip(self.ctx.pool_names, cost_bands(cost_norm, settings.n_bands).tolist()))
        return {
            "weight": weight,
            "bias": bias,
            "models": models,
            "cost_norm": cost_norm,
            "train_z": project(x, weight, bias),
        }

    def predict(self, state, rows):
        k = int(self.cfg.get("k", 0))
        if k < 0:
            raise ValueError(f"policy.k must be >= 0 (training-prompt neighbours; 0 = the query alone), not {k}")
        z = project(self.embed_examples(rows), state["weight"], state["bias"])
        return {
            "similarity": smoothed_similarity(z, state["train_z"], state["models"], k),
            "cost": np.broadcast_to(state["cost_norm"], (len(rows), len(state["cost_norm"]))).copy(),
        }

    def first(self, rows):
        rows = np.asarray(rows, dtype=int)
        lam = float(self.knob_value if self.knob_value is not None else 0.0)
        utility = self.pred["similarity"][rows] - lam * self.pred["cost"][rows]
        return [self.ctx.pool_names[j] for j in utility.argmax(axis=1)]

    @property
    def label(self) -> str:
        return f"{super().label} ({self.ctx.embedder().label})"

"""RouterBench-style predictive routers over query embeddings: ``knn`` and ``mlp``.

Both predict, for each pool model, the query's score and cost (in the reward's units,
``reward.cost_unit_usd``), and route to the model maximising ``predicted score - lam * predicted
cost`` (ties: lower predicted cost).  Sweeping ``lam`` traces the cost-quality curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xrouter.policies.base import LearnedPolicy, choose_by_utility
from xrouter.policies.table import RouteTable


def _pool_order(ctx, table: RouteTable) -> list[int]:
    return [table.models.index(m) for m in ctx.pool_names]


class _UtilityRouter(LearnedPolicy):
    knob_name = "lam"

    def first(self, rows):
        rows = np.asarray(rows, dtype=int)
        pick = choose_by_utility(self.pred["score"][rows], self.pred["cost"][rows], float(self.knob_value or 0.0))
        return [self.ctx.pool_names[j] for j in pick]

    @property
    def label(self) -> str:
        return f"{super().label} ({self.ctx.embedder().label})"


class KNN(_UtilityRouter):
    """k nearest training queries by cosine similarity of their embeddings; a model's predicted
    score and cost are the means over those neighbours (RouterBench's KNN router)."""

    name = "knn"

    def fit(self, table: RouteTable) -> dict[str, Any]:
        order = _pool_order(self.ctx, table)
        return {
            "x": self.ctx.embedder().embed(table.prompts),
            "score": table.score[:, order],
            "cost": table.cost_usd[:, order] / self.ctx.cost_unit_usd,
        }

    def predict(self, state, rows):
        k = min(int(self.cfg.get("k", 40)), len(state["x"]))
        x = self.embed_examples(rows).astype(np.float64)
        similarity = x @ state["x"].astype(np.float64).T
        # top-k by similarity; ties to the earlier training row (stable sort)
        neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        return {"score": state["score"][neighbours].mean(axis=1), "cost": state["cost"][neighbours].mean(axis=1)}


class MLP(_UtilityRouter):
    """A small multi-task MLP on the embedding: one sigmoid output per model for its score
    (binary cross-entropy) and one per model for its cost (squared error on standardised cost).
    Full-batch Adam, seeded initialisation, one CPU thread (RouterBench's MLP router predicts
    quality the same way)."""

    name = "mlp"

    def fit(self, table: RouteTable) -> dict[str, Any]:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small problem; one thread keeps the result the same on every machine
        try:
            return self._fit(table)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, table: RouteTable) -> dict[str, Any]:
        import torch

        order = _pool_order(self.ctx, table)
        x = torch.tensor(self.ctx.embedder().embed(table.prompts), dtype=torch.float32)
        score = torch.tensor(table.score[:, order], dtype=torch.float32)
        cost = table.cost_usd[:, order] / self.ctx.cost_unit_usd
        mean, std = cost.mean(0), cost.std(0) + 1e-9
        cost_z = torch.tensor((cost - mean) / std, dtype=torch.float32)
        m = score.shape[1]
        hidden = int(self.cfg.get("hidden", 128))
        generator = torch.Generator().manual_seed(int(self.ctx.seed))
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2 * m))
        with torch.no_grad():
            for p in net.parameters():  # seeded init independent of torch's global RNG
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / np.sqrt(p.shape[-1]))
        optimizer = torch.optim.Adam(
            net.parameters(), lr=float(self.cfg.get("lr", 3e-3)), weight_decay=float(self.cfg.get("weight_decay", 1e-4))
        )
        for _ in range(int(self.cfg.get("epochs", 300))):
            optimizer.zero_grad()
            out = net(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                out[:, :m], score
            ) + torch.nn.functional.mse_loss(out[:, m:], cost_z)
            loss.backward()
            optimizer.step()
        net.eval()
        return {"net": net, "m": m, "cost_mean": mean, "cost_std": std}

    def predict(self, state, rows):
        import torch

        x = torch.tensor(self.embed_examples(rows), dtype=torch.float32)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                out = state["net"](x).double().numpy()
        finally:
            torch.set_num_threads(threads)
        m = state["m"]
        score = 1.0 / (1.0 + np.exp(-out[:, :m]))
        cost = np.maximum(out[:, m:] * state["cost_std"] + state["cost_mean"], 0.0)
        return {"score": score, "cost": cost}

"""Small deterministic predictors shared by the baselines: L2-regularised logistic regression."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Logistic:
    """``p(x) = sigmoid(w . (x - mean) / std + b)``."""

    w: np.ndarray
    b: float
    mean: np.ndarray
    std: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Row-wise logits; each row is reduced on its own (``(z * w).sum(1)``), so a row's value
        does not depend on which other rows are in the batch."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.std
        return (z * self.w).sum(axis=1) + self.b

    def proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, max_iter: int = 500) -> Logistic:
    """Minimise ``mean BCE(y, p) + l2 / n * |w|^2 / 2`` (soft labels in [0, 1] allowed) with
    SciPy's L-BFGS-B on standardised features, in float64 (deterministic)."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(0)
    std = x.std(0)
    std[std < 1e-12] = 1.0
    z = (x - mean) / std
    n, d = z.shape
    prior = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        logits = z @ w + b
        # mean BCE with logits, computed stably: log(1 + e^t) - y t
        loss = float(np.mean(np.logaddexp(0.0, logits) - y * logits) + 0.5 * l2 / n * (w @ w))
        residual = (1.0 / (1.0 + np.exp(-logits)) - y) / n
        grad = np.concatenate([z.T @ residual + l2 / n * w, [residual.sum()]])
        return loss, grad

    theta0 = np.concatenate([np.zeros(d), [np.log(prior / (1 - prior))]])
    result = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-8})
    return Logistic(result.x[:d].copy(), float(result.x[d]), mean, std)

"""What a tiny_encoder router is told besides its prompt: the query's embedding and the cost weight lambda.

``QueryConditioner(examples) -> float32 [n, D]``: per example, the frozen sentence encoder's
embedding of the query (``xrouter/data/embeddings.py``: MiniLM over the query's *last*
``max_tokens`` tokens, since few-shot prompts end with the question; cached on disk by text hash
under the encoder's id), then, when the router is lambda-conditioned, the lambda features of its
feature set (``LAM_FEATURE_SETS``; ``log`` separates small lambdas, ``log1p`` is the earlier set).  An
example's lambda is its ``lam`` field (set per prompt group by ``reward.lam_sampling`` in training,
by ``policy.lam_grid`` in evaluation, by the request in serving), else the router's default.  The
projector of ``xrouter/router/prefix_lm.py`` turns the vector into soft-prefix tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xrouter.data.embeddings import Embedder
from xrouter.router.prefix_lm import PrefixQwen2ForCausalLM

# feature set -> number of features.  log1p: log1p(lam) / log1p(lam_max) and "lam is 0" (routers saved
# before feature sets); log: + log(lam) over [lam_max / LOG_SPAN, lam_max], which separates the small
# lambdas where the expensive models trade places (log1p puts 0.1, 0.2 and 0.3 within 0.05 of each other:
# experiments/rl_learning/README.md)
LAM_FEATURE_SETS = {"log1p": 2, "log": 3}
LAM_FEATURES = LAM_FEATURE_SETS["log1p"]
LOG_SPAN = 3000.0


def lam_features(lam: float, lam_max: float, feature_set: str = "log1p") -> list[float]:
    """Features of a cost weight, each in [0, 1]: its log1p scale over ``[0, lam_max]`` and "is it zero";
    ``feature_set="log"`` puts its log scale over ``[lam_max / LOG_SPAN, lam_max]`` first."""
    if not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lambda must be a finite number >= 0, not {lam!r}")
    if feature_set not in LAM_FEATURE_SETS:
        raise ValueError(f"lambda feature set must be one of {sorted(LAM_FEATURE_SETS)}, not {feature_set!r}")
    base = [math.log1p(min(lam, lam_max)) / math.log1p(lam_max), 1.0 if lam == 0 else 0.0]
    if feature_set == "log1p":
        return base
    floor = lam_max / LOG_SPAN
    log_scale = 0.0 if lam == 0 else math.log(min(max(lam, floor), lam_max) / floor) / math.log(LOG_SPAN)
    return [log_scale] + base


@dataclass(frozen=True)
class ConditioningSpec:
    """How a router is conditioned: the encoder (``embedding`` config of ``Embedder.from_config``) and,
    when ``lam_conditioned``, the lambda range its features are scaled to.  Saved in ``xrouter.json``."""

    encoder: dict[str, Any]
    lam_conditioned: bool
    lam_max: float
    default_lam: float
    prefix_tokens: int
    lam_features: str = "log1p"  # a LAM_FEATURE_SETS name (files written before feature sets: log1p)

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> ConditioningSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(fields) - known)
        missing = sorted(known - set(fields) - {"lam_features"})
        if unknown or missing:
            raise ValueError(f"router conditioning settings: unknown fields {unknown}, missing {missing}")
        feature_set = str(fields.get("lam_features") or "log1p")
        if feature_set not in LAM_FEATURE_SETS:
            raise ValueError(f"lam_features must be one of {sorted(LAM_FEATURE_SETS)}, not {feature_set!r}")
        return cls(
            encoder=dict(fields["encoder"]),
            lam_conditioned=bool(fields["lam_conditioned"]),
            lam_max=float(fields["lam_max"]),
            default_lam=float(fields["default_lam"]),
            prefix_tokens=int(fields["prefix_tokens"]),
            lam_features=feature_set,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "encoder": dict(self.encoder),
            "lam_conditioned": self.lam_conditioned,
            "lam_max": self.lam_max,
            "default_lam": self.default_lam,
            "prefix_tokens": self.prefix_tokens,
            "lam_features": self.lam_features,
        }

    @property
    def n_lam_features(self) -> int:
        return LAM_FEATURE_SETS[self.lam_features] if self.lam_conditioned else 0

    @property
    def dimension(self) -> int:
        return Embedder.from_config(self.encoder, None).dimension + self.n_lam_features


class QueryConditioner:
    """Condition vectors of examples for a prefix router (``spec``), embeddings cached in ``cache_dir``."""

    def __init__(self, spec: ConditioningSpec, cache_dir: str | None = None) -> None:
        self.spec = spec
        self.embedder = Embedder.from_config(spec.encoder, cache_dir)

    def lam_of(self, example: Mapping[str, Any]) -> float:
        lam = example.get("lam")
        return self.spec.default_lam if lam is None else float(lam)

    def embed_ahead(self, examples: Sequence[Mapping[str, Any]]) -> None:
        """Embed every prompt a run will ask for in one call, before training starts, rather than a few per step
        inside the timed steps (the vectors are the same either way: xrouter/data/embeddings.py)."""
        if examples:
            self.embedder.embed([str(e["prompt"]) for e in examples])

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        vectors = torch.from_numpy(self.embedder.embed([str(e["prompt"]) for e in examples]))
        if not self.spec.lam_conditioned:
            return vectors
        lams = torch.tensor(
            [lam_features(self.lam_of(e), self.spec.lam_max, self.spec.lam_features) for e in examples],
            dtype=torch.float32,
        )
        return torch.cat([vectors, lams.reshape(len(examples), self.spec.n_lam_features)], dim=1)


def conditioning_spec(settings: Any) -> ConditioningSpec | None:
    """The prefix router's ``ConditioningSpec`` of ``settings``, None for other routers."""
    return None if settings.conditioning is None else ConditioningSpec.from_dict(settings.conditioning)


def check_router_matches(router_path: Any, model: Any, settings: Any) -> None:
    """Weights and settings agree on being a prefix router (with a projector of the settings' width)."""
    spec = conditioning_spec(settings)
    is_prefix = isinstance(model, PrefixQwen2ForCausalLM)
    if spec is not None and not is_prefix:
        raise ValueError(
            f"{router_path}: its settings ({settings.source}) describe a tiny_encoder router but the "
            "weights are a plain LM without a projector; use the router directory train wrote"
        )
    if is_prefix and spec is None:
        raise ValueError(
            f"{router_path} is a tiny_encoder router (a soft-prefix projector) but its settings "
            f"({settings.source}) have no conditioning: it needs its own xrouter.json "
            "(settings version 2)"
        )
    if is_prefix and model.config.condition_dim != spec.dimension:
        raise ValueError(
            f"{router_path}: the projector reads {model.config.condition_dim} features but the settings' "
            f"encoder gives {spec.dimension}; the xrouter.json does not belong to these weights"
        )

"""A pool config's model entries as endpoint specs: names usable as tool names, ``common`` merged in.

Pure functions over plain dicts (the pool config and, for replay pools, the recorded traces).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd


def tool_safe_name(model: str) -> str:
    """A trace model id as a pool name usable in ``call_<name>`` (``meta/llama-2-70b`` -> ``llama-2-70b``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", model.split("/")[-1])[:59]


def model_specs(pool_cfg: Mapping[str, Any], traces: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Each pool model's settings: ``common`` merged under the model's own entry.

    A replay pool with no ``models:`` takes every model in its traces.
    """
    common = dict(pool_cfg.get("common") or {})
    models = dict(pool_cfg.get("models") or {})
    if not models and traces is not None:
        models = {tool_safe_name(m): {"trace_model": m} for m in sorted(traces["model"].unique())}
    if not models:
        raise ValueError(f"pool '{pool_cfg.get('name')}' has no models; list them under pool.models")
    return {
        name: {"kind": pool_cfg.get("kind", "replay"), **common, **(spec or {})}
        for name, spec in models.items()
        if not str(name).startswith("_")
    }

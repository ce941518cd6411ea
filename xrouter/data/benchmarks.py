"""Benchmarks as example tables: ``prompt_id, benchmark, split, prompt, gold, verifier``.

A benchmark is what a policy is run over.  ``kind: traces`` takes the examples of recorded traces
(a dataset name or a canonical trace file: ``benchmark=traces benchmark.traces=<file>``), so a
user's own recorded data needs no code; their verifier defaults to ``recorded`` (the replayed
answer's recorded score is the ground truth), or a named verifier when gold answers are present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from xrouter.config import to_plain
from xrouter.data.datasets import select_split
from xrouter.data.traces import complete_prompts

EXAMPLE_COLUMNS = ["prompt_id", "benchmark", "split", "prompt", "gold", "verifier"]


def examples_from_traces(traces: pd.DataFrame, verifier: str | Mapping[str, str] = "recorded") -> pd.DataFrame:
    """One example per prompt of the traces; ``verifier`` is one name or a per-benchmark mapping."""
    examples = traces.drop_duplicates("prompt_id")[EXAMPLE_COLUMNS[:-1]].reset_index(drop=True)
    if isinstance(verifier, str):
        examples["verifier"] = verifier
    else:
        examples["verifier"] = examples["benchmark"].map(lambda b: verifier.get(b, verifier.get("default", "recorded")))
    return examples


def load_benchmark(cfg: Mapping[str, Any], data_dir: Path, split: str = "test",
                   cache_dir: Path | None = None) -> pd.DataFrame:
    """The examples of one split of a benchmark config (``conf/benchmark/<name>.yaml``)."""
    from xrouter.build import load_pool_traces  # build imports data; keep the import one-way at load time

    cfg = to_plain(cfg)
    kind = cfg.get("kind", "traces")
    if kind != "traces":
        raise ValueError(f"benchmark kind '{kind}' is not known; use 'traces'")
    source = cfg.get("traces")
    if not source or source == "???":
        raise ValueError("benchmark=traces needs recorded traces: benchmark.traces=<dataset name or trace file>")
    traces = select_split(load_pool_traces(str(source), data_dir, cache_dir), split)
    if cfg.get("complete_only", True):
        traces, _ = complete_prompts(traces)
    return examples_from_traces(traces, cfg.get("verifier", "recorded"))

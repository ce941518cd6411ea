"""Recorded traces as benchmark examples: one row per prompt, the verifier per benchmark, adapters.

``examples_from_traces`` is what ``benchmark=<traces kind>`` configs load (``xrouter.data.benchmarks``);
adapters add verifier fields the traces keep elsewhere (LLMRouter's options and tests, RouterBench's
MBPP entry points); ``trace_model_ids`` turns a pool's ``models`` mapping into the trace ids every
kept prompt must have answers from.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from xrouter.data.questions import EXAMPLE_COLUMNS
from xrouter.verify.code import mbpp_entry_point


def _llmrouter_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Verifier fields of an LLMRouter query (options and tests are Python literals upstream)."""
    metric, extra = row.get("metric"), {}
    literal = row.get("choices")
    if metric == "em_mc" and isinstance(literal, str):
        try:
            parsed = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            parsed = []
        texts = parsed.get("text", []) if isinstance(parsed, dict) else list(parsed)
        labels = (parsed.get("labels") or parsed.get("label") or []) if isinstance(parsed, dict) else []
        labels = [str(label) for label in labels] or [chr(ord("A") + i) for i in range(len(texts))]
        extra = {"letters": "".join(labels), "choices": json.dumps([str(t) for t in texts])} if labels else {}
    elif metric == "code_eval" and row.get("benchmark") == "mbpp" and isinstance(row.get("gold"), str):
        tests = [str(t) for t in ast.literal_eval(row["gold"])]
        extra = {"tests": json.dumps(tests), "entry_point": mbpp_entry_point(tests)}
    elif metric == "code_eval":  # HumanEval: the question is the function prompt, the gold its test code
        extra = {"code_prompt": row["prompt"], "tests": row.get("gold")}
    if row.get("task_id") is not None:
        extra["task_id"] = str(row["task_id"])
    return extra


def _routerbench_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """RouterBench's (sanitized) MBPP prompts do not name the function the tests call: a direct
    answer's single function is aliased to it before the tests run (``alias_entry_point``)."""
    if row.get("benchmark") != "mbpp" or not isinstance(row.get("gold"), str):
        return {}
    gold = json.loads(row["gold"])
    return {
        "entry_point": mbpp_entry_point(gold["test_list"]),
        "task_id": str(gold["task_id"]),
        "alias_entry_point": True,
    }


ADAPTERS = {"llmrouter": _llmrouter_fields, "routerbench": _routerbench_fields}


def examples_from_traces(
    traces: pd.DataFrame,
    verifier: str | Mapping[str, str] = "recorded",
    letters: Mapping[str, str] | None = None,
    adapter: str | None = None,
) -> pd.DataFrame:
    """One example per prompt of the traces; ``verifier`` is one name or a per-benchmark mapping
    (``default`` for the rest).  Prompts without gold keep ``recorded``."""
    examples = traces.drop_duplicates("prompt_id").reset_index(drop=True)
    if isinstance(verifier, str):
        names = pd.Series([verifier] * len(examples), dtype=object)
    else:
        names = examples["benchmark"].map(lambda b: verifier.get(b, verifier.get("default", "recorded"))).astype(object)
    names[examples["gold"].isna().to_numpy() & (names != "recorded").to_numpy()] = "recorded"
    out = examples[EXAMPLE_COLUMNS[:-1]].copy()
    out["verifier"] = names.to_numpy()
    if letters:
        out["letters"] = out["benchmark"].map(lambda b: letters.get(b))
    if adapter:
        if adapter not in ADAPTERS:
            raise ValueError(f"unknown benchmark adapter {adapter!r}; known: {sorted(ADAPTERS)}")
        fields = [ADAPTERS[adapter](row) for row in examples.to_dict("records")]
        extra = pd.DataFrame(fields, index=out.index)
        if "gold" in extra:
            out["gold"] = extra.pop("gold").combine_first(out["gold"].astype(object))
        out = pd.concat([out, extra.drop(columns=[c for c in extra.columns if c in out.columns])], axis=1)
    return out


def trace_model_ids(models: Mapping[str, Any] | Sequence[str] | None) -> list[str] | None:
    """Trace model ids of a pool's ``models`` mapping (``trace_model`` or the name) or of a list; None stays None."""
    if models is None:
        return None
    if isinstance(models, Mapping):
        return [
            str((spec or {}).get("trace_model", name)) for name, spec in models.items() if not str(name).startswith("_")
        ]
    return [str(m) for m in models]

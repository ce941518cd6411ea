"""LLMRouter routing table (github ulab-uiuc/LLMRouter ``data/``, commit 4e7a7969) -> traces.

``files`` keys (paths relative to the data dir in ``FILES`` / ``default_files``):

* ``train``, ``test``  ``routing/llmrouter/dcrouter_preprocessed/{train,test}.json``: a list of
  ``{question, scores: {model: score}, cluster_id}`` (the test file has no ``cluster_id``).  The key
  is the ``split``; ``prompt_id`` = ``llmrouter.<split>.<index in that file>``.
* ``queries_train``, ``queries_test``  ``routing/llmrouter/example_data/query_data/
  default_query_{train,test}.jsonl``: ``task_name, query, ground_truth, metric, choices, task_id``.
* ``llm_candidates``  ``routing/llmrouter/example_data/llm_candidates/default_llm.json``: USD per
  1M input / output tokens (``input_price`` / ``output_price``; the free-text ``feature`` sometimes
  quotes other figures, e.g. qwen2.5-7b "$0.30" vs ``input_price`` 0.20: the numbers are used).

Join: each question is matched to a query with exactly the same text, in the query file of the
same split first, else of the other split.  Query texts are not unique (8 texts twice within the
train file: 6 with two task names, e.g. mmlu and openbook_qa, and 2 MBPP texts with different
tests; 120 texts in both files): the FIRST
match in file order is taken (the routing table lists these questions at the position of their
first occurrence, which suggests upstream deduplicated the same way); the number of questions with
more than one candidate is in ``frame.attrs["report"]``.  119 questions are in both the train and
the test routing table (upstream leakage; kept, reported).

Columns: ``benchmark`` = ``task_name`` with "-" -> "_"; ``prompt`` = the question, with the
options appended as ``A) ...`` lines for multiple-choice tasks and the tests for MBPP (upstream
keeps them apart, in ``choices``, which is kept as an extra column; ``prompt_with_options``);
``gold`` = ``ground_truth``, except GSM8K (the number after ``####``) and MATH
(the last ``\\boxed{...}``); ``response`` = null (not in the data); ``score`` as given (in [0, 1];
fractional only for commongen's coverage metric).  Extra columns: ``task_name``, ``metric``,
``choices``, ``task_id``, ``cluster_id``, ``api_model`` (the NVIDIA model id).  Model names are the
routing table's keys (9 of the 14 priced models have scores).

Costs are ESTIMATED (``cost_estimated=True``); the data has no token counts.  Rough rule, same
tokens for every model (so cost differences between models come from prices only):
input tokens = ceil(len(question) / 4) (~4 characters per token); output tokens = a typical answer
length per metric, ``OUTPUT_TOKENS_BY_METRIC`` (a guess, not a measurement: 8 for a choice letter
with a few words, 16 for a short-answer F1 task, 128 for a GSM8K solution, 256 for a MATH solution,
128 for a code solution, 32 for a commongen sentence; 32 for an unknown metric), overridable with
``output_tokens_by_metric``.
"""

from __future__ import annotations

import ast
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
OUTPUT_TOKENS_BY_METRIC = {
    "em_mc": 8,
    "f1_score": 16,
    "GSM8K": 128,
    "MATH": 256,
    "code_eval": 128,
    "commongen_coverage": 32,
}
DEFAULT_OUTPUT_TOKENS = 32
SPLITS = ("train", "test")
FILES = {
    "train": "routing/llmrouter/dcrouter_preprocessed/train.json",
    "test": "routing/llmrouter/dcrouter_preprocessed/test.json",
    "queries_train": "routing/llmrouter/example_data/query_data/default_query_train.jsonl",
    "queries_test": "routing/llmrouter/example_data/query_data/default_query_test.jsonl",
    "llm_candidates": "routing/llmrouter/example_data/llm_candidates/default_llm.json",
}


def default_files(data_dir: str | Path) -> dict[str, Path]:
    """The ``files`` mapping for the standard data-dir layout."""
    return {key: Path(data_dir) / rel for key, rel in FILES.items()}


def _clean(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return None if text in ("", "nan", "None") else text


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (braces balanced), or None."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    open_at = start + len("\\boxed")
    if not text.startswith("{", open_at):
        return None
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1 : i].strip()
    return None


def prompt_with_options(question: str, metric: str | None, choices: str | None) -> str:
    """The question as a model must see it: multiple-choice options or MBPP tests appended."""
    if not choices:
        return question
    try:
        parsed = ast.literal_eval(choices)
    except (ValueError, SyntaxError):
        return question
    if metric == "em_mc":
        if isinstance(parsed, dict):
            texts, labels = parsed.get("text", []), parsed.get("labels") or parsed.get("label") or []
        else:
            texts, labels = list(parsed), []
        labels = list(labels) or [chr(ord("A") + i) for i in range(len(texts))]
        options = "\n".join(f"{label}) {text}" for label, text in zip(labels, texts))
        return f"{question}\n{options}\nAnswer with the letter of the correct option."
    if metric == "code_eval" and isinstance(parsed, list) and parsed:
        return f"{question}\nYour code should pass these tests:\n" + "\n".join(map(str, parsed))
    return question


def gold_answer(task_name: str, ground_truth: str | None) -> str | None:
    """The gold answer: GSM8K's number after ``####``, MATH's last boxed, else the ground truth."""
    if ground_truth is None:
        return None
    if task_name == "gsm8k" and "####" in ground_truth:
        return ground_truth.split("####")[-1].strip().replace(",", "")
    if task_name == "math":
        return last_boxed(ground_truth) or ground_truth
    return ground_truth


def _load_queries(files: Mapping[str, Path]) -> dict[str, dict[str, list[dict]]]:
    """split -> query text -> every query record with that text, in file order."""
    by_split: dict[str, dict[str, list[dict]]] = {}
    for split in SPLITS:
        key = f"queries_{split}"
        if key not in files:
            continue
        table: dict[str, list[dict]] = {}
        with open(files[key], encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    table.setdefault(record["query"], []).append(record)
        by_split[split] = table
    return by_split


def convert(files: Mapping[str, Path], output_tokens_by_metric: Mapping[str, int] | None = None) -> pd.DataFrame:
    """The routing table of each split in ``files`` as traces (see the module docstring)."""
    out_tokens = {**OUTPUT_TOKENS_BY_METRIC, **(output_tokens_by_metric or {})}
    with open(files["llm_candidates"], encoding="utf-8") as handle:
        candidates = json.load(handle)
    queries = _load_queries(files)
    splits = [s for s in SPLITS if s in files]
    if not splits:
        raise KeyError(f"LLMRouter converter: files holds neither 'train' nor 'test' (got {sorted(files)})")
    report = {
        "prompts": {},
        "joined": {},
        "joined_other_split": 0,
        "ambiguous": 0,
        "ambiguous_task_differs": 0,
        "in_both_splits": 0,
    }
    seen: dict[str, set[str]] = {}
    rows = []
    for split in splits:
        with open(files[split], encoding="utf-8") as handle:
            table = json.load(handle)
        seen[split] = {item["question"] for item in table}
        report["prompts"][split] = len(table)
        joined = 0
        for index, item in enumerate(table):
            question = item["question"]
            matches = queries.get(split, {}).get(question)
            if not matches:
                matches = next(
                    (queries[s][question] for s in SPLITS if s != split and question in queries.get(s, {})), None
                )
                report["joined_other_split"] += matches is not None
            query = matches[0] if matches else {}
            joined += bool(matches)
            if matches and len(matches) > 1:
                report["ambiguous"] += 1
                report["ambiguous_task_differs"] += len({m["task_name"] for m in matches}) > 1
            task_name = query.get("task_name", "unknown")
            metric = _clean(query.get("metric"))
            prompt = prompt_with_options(question, metric, _clean(query.get("choices")))
            n_in = math.ceil(len(prompt) / CHARS_PER_TOKEN)
            n_out = out_tokens.get(metric, DEFAULT_OUTPUT_TOKENS)
            for model, score in item["scores"].items():
                score = float(score)
                if not 0.0 <= score <= 1.0:
                    raise ValueError(f"{files[split]}: item {index}, model {model}: score {score} outside [0, 1]")
                if model not in candidates:
                    raise KeyError(f"{files[split]}: model {model!r} has no price in {files['llm_candidates']}")
                price = candidates[model]
                rows.append(
                    {
                        "prompt_id": f"llmrouter.{split}.{index}",
                        "benchmark": task_name.replace("-", "_"),
                        "split": split,
                        "prompt": prompt,
                        "gold": gold_answer(task_name, _clean(query.get("ground_truth"))),
                        "model": model,
                        "response": None,
                        "score": score,
                        "input_tokens": n_in,
                        "output_tokens": n_out,
                        "cost_usd": (n_in * float(price["input_price"]) + n_out * float(price["output_price"])) / 1e6,
                        "latency_s": None,
                        "source": f"llmrouter:{Path(files[split]).name}; cost estimated (chars/4 input, "
                        f"{n_out} output tokens for metric {metric})",
                        "cost_estimated": True,
                        "task_name": task_name,
                        "metric": metric,
                        "choices": _clean(query.get("choices")),
                        "task_id": _clean(query.get("task_id")),
                        "cluster_id": item.get("cluster_id"),
                        "api_model": price.get("model"),
                    }
                )
        report["joined"][split] = joined
    if len(seen) == 2:
        report["in_both_splits"] = len(seen["train"] & seen["test"])
    traces = pd.DataFrame(rows)
    traces["cluster_id"] = traces["cluster_id"].astype("Int64")
    traces.attrs["report"] = report
    log.info("LLMRouter: %s", report)
    return traces

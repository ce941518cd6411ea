"""ZeroEval greedy outputs (github yuchenlin/ZeroEval ``result_dirs/``, commit 570c6269) -> traces.

``files`` keys are ``<task>/<model>`` (``routing/zeroeval/<task>/<model>.json``: a JSON list of
items ``id, <prompt field>, answer, chat_history, output, ...``) and ``<task>/summary``
(``routing/zeroeval/<task>.summary.json``, ZeroEval's own per-model accuracy; optional).  Any task
folder works: ``dataset.tasks=[crux]`` reads every ``<model>.json`` under ``routing/zeroeval/crux/``
(``xrouter.data.datasets`` lists them, unverified, when the config does not).

Rows: ``prompt_id = zeroeval/<task>/<id>``; ``benchmark = <task>``; ``model`` = the file's stem;
``prompt`` = the item's problem text (``prompt_fields``); ``response = output[0]``; ``gold`` =
``answer`` (a leading ``# `` removed, as GSM8K's gold has it); ``score`` by OUR verifier of the task
(``verifiers``; see ``zeroeval_scoring``); ``input_tokens`` = o200k tokens of ``chat_history``
(the prompt as sent), ``output_tokens`` = of the response (``bpe-openai``); ``cost_usd`` from
``conf/pricing/<pricing>.yaml`` (genai-prices or a cited list price; ``cost_estimated=True``).  The
o1 models' hidden reasoning tokens are not in their outputs: their costs are lower bounds (say so in
``source``).  Extra columns: ``zeroeval_score`` (ZeroEval's first-number rule on this row,
``zeroeval_rule``), ``zeroeval_answered``, ``zeroeval_accuracy`` (the model's accuracy in the task's
summary file, as a fraction; null without one), ``extracted_answer``, ``score_reason``.
Splits: ZeroEval is test-only; ``splits`` (a ``xrouter.data.splits.assign_splits`` rule, ``hash``
by prompt id) makes a seeded train/dev/test split.

Bad input: a file that is not a JSON list, or an item without ``id``, gold ``answer``, its prompt
field or a one-string ``output`` list, raises ``ZeroEvalFormatError`` naming the file and the item.
A response with no readable answer is scored 0 and counted (``score_reason`` "no answer found").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from xrouter import CONF_DIR
from xrouter.config import to_plain
from xrouter.data.converters.zeroeval_rule import zeroeval_score
from xrouter.data.converters.zeroeval_scoring import score_rows
from xrouter.data.splits import assign_splits
from xrouter.data.tokens import count_tokens
from xrouter.pool.pricing import PriceTable

log = logging.getLogger(__name__)

VERSION = "1"  # part of the cache key: bump when the rows this converter writes change
DEFAULT_SPLITS = {"kind": "hash", "seed": 0, "fractions": {"train": 0.6, "dev": 0.1, "test": 0.3}}


class ZeroEvalFormatError(ValueError):
    """A ZeroEval result file or item does not have the documented shape."""


def read_items(path: Path, prompt_field: str) -> list[dict[str, Any]]:
    """The items of one model file, checked (see the module docstring for the rules)."""
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ZeroEvalFormatError(f"{path}: not valid JSON (truncated or malformed?): {error}") from None
    if not isinstance(items, list):
        raise ZeroEvalFormatError(f"{path}: expected a JSON list of items, got {type(items).__name__}")
    for index, item in enumerate(items):
        where = f"{path}: item {index}" + (
            f" (id {item.get('id')!r})" if isinstance(item, dict) and "id" in item else ""
        )
        if not isinstance(item, dict):
            raise ZeroEvalFormatError(f"{where}: not an object")
        for field in ("id", "answer", prompt_field, "output"):
            if item.get(field) is None:
                raise ZeroEvalFormatError(
                    f"{where}: no '{field}' field (ZeroEval items have id, {prompt_field}, answer, output)"
                )
        output = item["output"]
        if not isinstance(output, list) or len(output) != 1 or not isinstance(output[0], (str, type(None))):
            raise ZeroEvalFormatError(f"{where}: 'output' must be a list holding one response string")
    return items


def gold_of(answer: Any) -> str:
    text = str(answer).strip()
    return text[1:].strip() if text.startswith("#") else text


def prompt_sent(item: Mapping[str, Any], prompt: str) -> str:
    history = item.get("chat_history")
    if isinstance(history, list):
        return "\n".join(str(turn) for turn in history)
    return str(history) if history else prompt


def summary_accuracy(path: Path | None, aliases: Mapping[str, str]) -> dict[str, float]:
    """``{file stem: accuracy in [0, 1]}`` from a ``<task>.summary.json`` (``aliases``: stem -> its name there)."""
    if path is None:
        return {}
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    by_name = {row["Model"]: float(row["Acc"]) / 100 for row in rows}
    named = {stem: by_name[name] for stem, name in aliases.items() if name in by_name}
    return {**by_name, **named}


def pricing_file(pricing: str) -> Path:
    """``pricing``: a price file's path (``.yaml``, or any path with a folder in it), else the name of one in
    ``conf/pricing/`` (so a user adds a task's prices without editing the package's config folder)."""
    text = str(pricing)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"ZeroEval pricing={text!r}: no such price file; give a YAML file of "
                "{model: {input_per_mtok, output_per_mtok, source}} or a name in conf/pricing/"
            )
        return path
    return CONF_DIR / "pricing" / f"{text}.yaml"


def cache_inputs(options: Mapping[str, Any]) -> list[Path]:
    """Files besides the data whose contents the cached traces depend on (``xrouter.data.datasets``)."""
    here = Path(__file__).resolve().parent
    verify = here.parents[1] / "verify"
    return [
        pricing_file(options.get("pricing", "zeroeval")),
        here / "zeroeval_rule.py",
        here / "zeroeval_scoring.py",
        verify / "json_answer.py",
        verify / "crux.py",
        verify / "numeric.py",
        verify / "math.py",
        verify / "_math_worker.py",
    ]


def _task_files(files: Mapping[str, Path]) -> dict[str, dict[str, Path]]:
    tasks: dict[str, dict[str, Path]] = {}
    for key, path in files.items():
        task, _, model = key.partition("/")
        if not model:
            raise KeyError(f"ZeroEval files key {key!r} is not '<task>/<model>' or '<task>/summary'")
        tasks.setdefault(task, {})[model] = Path(path)
    return tasks


def convert(
    files: Mapping[str, Path],
    verifiers: Mapping[str, str] | None = None,
    prompt_fields: Mapping[str, str] | None = None,
    pricing: str = "zeroeval",
    encoding: str = "o200k_base",
    splits: Mapping[str, Any] | None = None,
    summary_aliases: Mapping[str, str] | None = None,
    hidden_reasoning: list[str] | None = None,
    math_timeout_s: float = 5.0,
    upstream: str = "",
) -> pd.DataFrame:
    """Every model file of every task in ``files`` as scored, priced traces (see the module docstring)."""
    verifiers = dict(verifiers or {"default": "exact"})
    prompt_fields = dict(prompt_fields or {"default": "question"})
    hidden = set(hidden_reasoning or [])
    frames = []
    for task, by_model in sorted(_task_files(files).items()):
        summary = summary_accuracy(by_model.pop("summary", None), summary_aliases or {})
        field = prompt_fields.get(task, prompt_fields.get("default", "question"))
        verifier = verifiers.get(task, verifiers.get("default", "exact"))
        rows = []
        for model, path in sorted(by_model.items()):
            for item in read_items(path, field):
                prompt, response = str(item[field]), item["output"][0]
                rows.append(
                    {
                        "prompt_id": f"zeroeval/{task}/{item['id']}",
                        "benchmark": task,
                        "prompt": prompt,
                        "gold": gold_of(item["answer"]),
                        "model": model,
                        "response": response,
                        "_sent": prompt_sent(item, prompt),
                        "_file": str(path),
                    }
                )
        if not rows:
            raise ZeroEvalFormatError(f"ZeroEval task {task!r}: its model files hold no items")
        frame = pd.DataFrame(rows)
        scored = score_rows(frame["gold"].tolist(), frame["response"].tolist(), verifier, math_timeout_s)
        frame["score"] = [s.value for s, _ in scored]
        frame["score_reason"] = [s.reason for s, _ in scored]
        frame["extracted_answer"] = [a for _, a in scored]
        theirs = [zeroeval_score(r, g, m) for r, g, m in zip(frame["response"], frame["gold"], frame["model"])]
        frame["zeroeval_score"] = [s for s, _ in theirs]
        frame["zeroeval_answered"] = [a for _, a in theirs]
        frame["zeroeval_accuracy"] = pd.array([summary.get(m) for m in frame["model"]], dtype="Float64")
        frame["source"] = (
            f"zeroeval:{task}; gold: ZeroEval 'answer' field; score: our '{verifier}' verifier on "
            "the JSON 'answer' field (else the whole response); cost estimated from o200k tokens of "
            f"chat_history and output x conf/pricing/{pricing}.yaml"
        )
        frames.append(frame)
    traces = pd.concat(frames, ignore_index=True)
    _price(traces, pricing, encoding, hidden)
    traces["split"] = assign_splits(
        traces["prompt_id"].tolist(), ["test"] * len(traces), dict(splits or DEFAULT_SPLITS)
    )
    traces["latency_s"] = None
    counts = traces.groupby("benchmark")["model"].nunique().to_dict()
    log.info("ZeroEval: %d rows; models per task %s (%s)", len(traces), counts, upstream)
    return traces.drop(columns=["_sent", "_file"])


def _price(traces: pd.DataFrame, pricing: str, encoding: str, hidden: set[str]) -> None:
    path = pricing_file(pricing)
    entries = to_plain(OmegaConf.load(path)) if path.exists() else {}
    models = sorted(traces["model"].unique())
    try:
        prices = PriceTable.from_config(entries, models)
    except LookupError as error:
        raise LookupError(f"ZeroEval: {error}\n(price file: {path})") from None
    traces["input_tokens"] = count_tokens(traces["_sent"].tolist(), encoding)
    traces["output_tokens"] = count_tokens(traces["response"].tolist(), encoding)
    per_in = traces["model"].map(lambda m: prices[m].input_per_mtok)
    per_out = traces["model"].map(lambda m: prices[m].output_per_mtok)
    traces["cost_usd"] = (traces["input_tokens"] * per_in + traces["output_tokens"] * per_out) / 1e6
    traces["cost_estimated"] = True
    lower_bound = traces["model"].isin(hidden)
    traces.loc[lower_bound, "source"] = traces.loc[lower_bound, "source"] + (
        "; hidden reasoning tokens are not in the output: cost is a lower bound"
    )
    traces["price_source"] = traces["model"].map(lambda m: prices[m].source)

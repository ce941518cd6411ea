"""Benchmarks as example tables: ``prompt_id, benchmark, split, prompt, gold, verifier`` (+ extras).

A benchmark config (``conf/benchmark/<name>.yaml``) names a ``kind``:

* ``traces``: the prompts of recorded traces (a dataset name or a canonical trace file:
  ``benchmark=traces benchmark.traces=<file>``), so a user's own recorded data needs no code.  The
  verifier defaults to ``recorded`` (the replayed answer's recorded score is the ground truth); a
  per-benchmark mapping names real verifiers where the traces carry gold (rows without gold stay
  ``recorded``).  ``letters`` (per benchmark) and ``adapter`` (``llmrouter``: options, tests, task
  ids from the queries; ``routerbench``: MBPP entry points) add verifier fields.
* ``gsm8k``, ``math``, ``mmlu``, ``mmlu_pro``, ``mbpp``, ``humaneval``: question files from the data
  dir, read by ``xrouter/data/questions.py``.

Example ids are stable: ``<benchmark>/<upstream split>/<index or upstream id>``.  ``splits`` maps
examples to train/dev/test: ``{kind: upstream}``, ``{kind: test_only}``, or ``{kind: hash, seed,
fractions, from}`` (bucket by ``xrouter.data.splits.hash_fraction`` of the id; with ``from``, only that upstream split is
divided and the others keep their name).  Extra columns: ``reference`` (a reference solution),
``letters``/``choices`` (choice), ``tests``/``test_setup_code``/``entry_point``/``task_id``/
``code_prompt`` (code), ``subject``, ``upstream_id``.  ``verify_example(row, answer)`` scores a
direct answer against a row.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from xrouter.config import to_plain
from xrouter.data.datasets import select_split
from xrouter.data.questions import EXAMPLE_COLUMNS, LOADERS, load_questions
from xrouter.data.traces import complete_prompts
from xrouter.verify.base import Score
from xrouter.verify.registry import verify, verify_many
from xrouter.verify.code import mbpp_entry_point

NO_GOLD = "no gold: the recorded score applies only to replayed answers"


# ----------------------------------------------------------------------------- traces as benchmarks
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
    return {"entry_point": mbpp_entry_point(gold["test_list"]), "task_id": str(gold["task_id"]),
            "alias_entry_point": True}


ADAPTERS = {"llmrouter": _llmrouter_fields, "routerbench": _routerbench_fields}


def examples_from_traces(traces: pd.DataFrame, verifier: str | Mapping[str, str] = "recorded",
                         letters: Mapping[str, str] | None = None, adapter: str | None = None) -> pd.DataFrame:
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


def load_benchmark(cfg: Mapping[str, Any], data_dir: Path, split: str = "test",
                   cache_dir: Path | None = None) -> pd.DataFrame:
    """The examples of one split (``all``: every split) of a benchmark config (``conf/benchmark/<name>.yaml``)."""
    cfg = to_plain(cfg)
    kind = cfg.get("kind", "traces")
    if kind in LOADERS:
        return select_split(load_questions(cfg, Path(data_dir)), split)
    if kind != "traces":
        raise ValueError(f"benchmark kind '{kind}' is not known; use 'traces' or one of {sorted(LOADERS)}")
    from xrouter.data.datasets import load_pool_traces

    source = cfg.get("traces")
    if not source or source == "???":
        raise ValueError("benchmark=traces needs recorded traces: benchmark.traces=<dataset name or trace file>")
    traces = select_split(load_pool_traces(str(source), data_dir, cache_dir), split)
    if cfg.get("complete_only", True):
        traces, _ = complete_prompts(traces)
    return examples_from_traces(traces, cfg.get("verifier", "recorded"), cfg.get("letters"), cfg.get("adapter"))


# ----------------------------------------------------------------------------- scoring direct answers
def alias_entry_point(answer_text: str | None, entry_point: str | None) -> str | None:
    """The answer as one code block with ``<entry_point> = <f>`` appended when its code defines exactly
    one top-level function ``f`` and none named ``entry_point``; otherwise the answer unchanged.

    For prompts that do not name the function under test (RouterBench's sanitized MBPP prompts), where
    an answer's own name for it is no error."""
    from xrouter.verify.code import extract_code

    if not answer_text or not entry_point:
        return answer_text
    code = extract_code(answer_text, entry_point)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return answer_text
    functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if entry_point in functions or len(functions) != 1:
        return answer_text
    return f"```python\n{code.rstrip()}\n\n{entry_point} = {functions[0]}\n```"


def _as_example(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """A benchmark row as a verifier example: missing values dropped; ``prompt`` (what the model was
    sent) replaced by ``code_prompt`` (HumanEval's function prompt) so code verifiers see the latter."""
    items = row.to_dict() if isinstance(row, pd.Series) else dict(row)
    example = {k: v for k, v in items.items() if not (v is None or (not isinstance(v, (list, dict)) and pd.isna(v)))}
    example.pop("prompt", None)
    if "code_prompt" in example:
        example["prompt"] = example.pop("code_prompt")
    return example


def verify_example(example_row: Mapping[str, Any] | pd.Series, answer_text: str | None) -> Score:
    """Score a direct answer (e.g. the router's own) against a benchmark row; never raises.
    ``recorded`` rows (no gold) score 0: their recorded scores belong to replayed answers only."""
    example = _as_example(example_row)
    if example.get("verifier", "recorded") == "recorded" or example.get("gold") is None:
        return Score(0.0, NO_GOLD)
    return verify(example, _prepared(example, answer_text))


def _prepared(example: Mapping[str, Any], answer_text: str | None) -> str | None:
    if bool(example.get("alias_entry_point", False)):
        return alias_entry_point(answer_text, example.get("entry_point"))
    return answer_text


def verify_examples(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, answers: Sequence[str | None]) -> list[Score]:
    """``verify_example`` over pairs; math and code rows run in parallel (``verify_many``)."""
    rows = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    examples = [_as_example(r) for r in rows]
    if len(answers) != len(examples):
        raise ValueError(f"{len(examples)} rows but {len(answers)} answers")
    graded = [i for i, e in enumerate(examples) if e.get("verifier", "recorded") != "recorded" and e.get("gold") is not None]
    scores = [Score(0.0, NO_GOLD)] * len(examples)
    prepared = [_prepared(examples[i], answers[i]) for i in graded]
    for i, score in zip(graded, verify_many([examples[i] for i in graded], prepared)):
        scores[i] = score
    return scores

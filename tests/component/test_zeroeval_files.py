"""ZeroEval files placed by a user: an unlisted task (crux) with no code change, and bad input.

No real ZeroEval CRUXEval-O file is on this machine (nor downloadable): the crux rows below are
written in the shape the task describes (``id`` like ``crux-test-#0``, ``question``, ``answer`` a
Python literal, ``output`` a list with one ``{"reasoning", "answer"}`` response), with the tricky
answers real models give.  The reference scorer is written independently of xrouter.verify.crux.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import pytest

from tests.conftest import compose
from xrouter.data.converters.zeroeval import ZeroEvalFormatError
from xrouter.data.export import run_export
from xrouter.data.store import DataNotFoundError

GOLDS = [
    "[(4, 1), (4, 1)]",
    "'abc'",
    "{'a': 1, 'b': [2, 3]}",
    "True",
    "[1, 2, 3]",
    "'hello world'",
    "(1, 'x')",
    "3.5",
    "''",
    "[]",
    "{'k': (1, 2)}",
    "'a\\nb'",
    "-7",
    "[[1], [2, 3]]",
    "None",
    "'Q'",
]
MODELS = ["gpt-4o-2024-08-06", "gemma-2-9b-it", "claude-3-haiku-20240307"]


def _json_response(answer: str, fenced: bool = True) -> str:
    body = json.dumps({"reasoning": "Let's trace the function step by step ...", "answer": answer}, indent=4)
    return f"```json\n{body}\n```" if fenced else body


def _response(gold: str, variant: int) -> str:
    """One of the ways a model answers: right, reformatted, wrong type, prose, fenced, truncated..."""
    value = ast.literal_eval(gold)
    if variant == 0:
        return _json_response(gold)
    if variant == 1:  # same value, other formatting (quotes, spacing)
        return _json_response(
            repr(value).replace(", ", ",") if not isinstance(value, str) else json.dumps(value), False
        )
    if variant == 2:  # lists for tuples / a wrong value
        wrong = json.dumps(value) if isinstance(value, (list, tuple, dict)) else repr(value) + "0"
        return _json_response(wrong)
    if variant == 3:  # no answer field at all
        return '```json\n{\n    "reasoning": "The function returns its input reversed."\n}\n```'
    if variant == 4:  # the answer inside a markdown fence inside the field
        return _json_response(f"```python\n{gold}\n```")
    if variant == 5:  # prose and a fenced block, no JSON
        return f"Tracing the loop gives the value below.\n\n```python\n{gold}\n```"
    if variant == 6:  # cut off by max_tokens in the middle of the answer
        return (
            '```json\n{\n    "reasoning": "We iterate over the list and ...",\n    "answer": "'
            + gold[: max(1, len(gold) // 2)]
        )
    return _json_response(f"  {gold}  ")  # padded with whitespace


def _reference_score(gold: str, response: str) -> float:
    """Independent reference: json.loads of the text between the first '{' and the last '}', else the
    last fenced block; strip backquotes/fences; literal_eval equality, else whitespace-normalised text."""
    answer = None
    start, end = response.find("{"), response.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(response[start : end + 1])
            answer = obj.get("answer") if isinstance(obj, dict) else None
        except ValueError:
            answer = None
    if answer is None:
        blocks = re.findall(r"```[a-z]*\n(.*?)```", response, flags=re.S)
        answer = blocks[-1] if blocks else response
    answer = str(answer).strip()
    fence = re.fullmatch(r"```[a-z]*\n(.*?)\n?```", answer, flags=re.S)
    answer = fence.group(1).strip() if fence else answer
    try:
        return float(ast.literal_eval(answer) == ast.literal_eval(gold))
    except Exception:  # noqa: BLE001
        return float(" ".join(answer.split()) == " ".join(gold.split()))


def _write_crux(data_dir: Path, n: int = 64) -> list[dict]:
    folder = data_dir / "routing/zeroeval/crux"
    folder.mkdir(parents=True)
    rows = []
    for m, model in enumerate(MODELS):
        items = []
        for i in range(n):
            gold = GOLDS[i % len(GOLDS)]
            question = f"def f(x):\n    return x\nassert f({gold}) == ??"
            response = _response(gold, (i + 3 * m) % 8)
            items.append(
                {
                    "id": f"crux-test-#{i}",
                    "question": question,
                    "answer": gold,
                    "chat_history": [f"## Question:\n{question}\n## Instruction\nAnswer in json."],
                    "output": [response],
                    "generator": model,
                    "configs": {},
                    "dataset": "crux",
                }
            )
            rows.append(
                {"prompt_id": f"zeroeval/crux/crux-test-#{i}", "model": model, "gold": gold, "response": response}
            )
        (folder / f"{model}.json").write_text(json.dumps(items))
    return rows


def _export(tmp_path, monkeypatch, tasks: str, data_dir: Path):
    monkeypatch.setenv("XROUTER_DATA_DIR", str(data_dir))
    cfg = compose(
        "export",
        [
            "dataset=zeroeval",
            f"dataset.tasks={tasks}",
            f"out={tmp_path / 'out.parquet'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
    )
    return run_export(cfg)


def test_an_unlisted_crux_folder_is_read_with_no_code_change(tmp_path, monkeypatch, caplog):
    import pandas as pd

    data_dir = tmp_path / "data"
    written = _write_crux(data_dir)
    with caplog.at_level(logging.WARNING):
        report = _export(tmp_path, monkeypatch, "[crux]", data_dir)
    assert "not listed" in caplog.text and "unverified" in caplog.text
    assert report["models"] == 3 and report["rows"] == 3 * 64 and report["cost_usd"]["nonpositive_rows"] == 0
    traces = pd.read_parquet(tmp_path / "out.parquet")
    assert set(traces["benchmark"]) == {"crux"} and "crux" in traces["source"].iloc[0]
    assert traces["prompt_id"].str.fullmatch(r"zeroeval/crux/crux-test-#\d+").all()
    ours = traces.set_index(["prompt_id", "model"])["score"]
    reference = {(r["prompt_id"], r["model"]): _reference_score(r["gold"], r["response"]) for r in written}
    agree = sum(ours[key] == value for key, value in reference.items()) / len(reference)
    assert agree >= 0.97, f"item-by-item agreement with the reference scorer: {agree:.4f}"
    assert 0.2 < traces["score"].mean() < 0.9  # neither everything right nor everything wrong


def _listed_file(data_dir: Path, task: str, model: str, items) -> Path:
    path = data_dir / "routing/zeroeval" / task / f"{model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(items if isinstance(items, str) else json.dumps(items))
    return path


def _item(i: int, **change) -> dict:
    item = {"id": f"crux-test-#{i}", "question": "q", "answer": "[1]", "output": ['{"answer": "[1]"}']}
    item.update(change)
    return {k: v for k, v in item.items() if v is not None}


def test_a_truncated_model_file_names_itself(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    path = _listed_file(data_dir, "crux", "gpt-4o-2024-08-06", json.dumps([_item(0), _item(1)])[:-20])
    with pytest.raises(ZeroEvalFormatError, match=re.escape(str(path)) + ".*not valid JSON"):
        _export(tmp_path, monkeypatch, "[crux]", data_dir)


def test_an_item_without_its_gold_answer_names_the_file_and_item(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    path = _listed_file(data_dir, "crux", "gpt-4o-2024-08-06", [_item(0), _item(1, answer=None)])
    with pytest.raises(ZeroEvalFormatError, match=re.escape(f"{path}: item 1 (id 'crux-test-#1'): no 'answer' field")):
        _export(tmp_path, monkeypatch, "[crux]", data_dir)


def test_a_response_without_an_answer_scores_zero_and_is_counted(tmp_path, monkeypatch):
    import pandas as pd

    data_dir = tmp_path / "data"
    _listed_file(data_dir, "crux", "gpt-4o-2024-08-06", [_item(0), _item(1, output=['{"reasoning": "hmm"}'])])
    _export(tmp_path, monkeypatch, "[crux]", data_dir)
    traces = pd.read_parquet(tmp_path / "out.parquet").sort_values("prompt_id")
    assert list(traces["score"]) == [1.0, 0.0]


def test_a_missing_listed_file_names_itself_and_its_upstream(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    (data_dir / "routing").mkdir(parents=True)
    monkeypatch.setattr("xrouter.data.store._download", lambda spec, target: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(
        DataNotFoundError,
        match=r"gsm.summary.json[\s\S]*raw.githubusercontent.com/yuchenlin/ZeroEval/"
        r"570c6269a2e4930ee06a17e713fece1ba52cf1dd/result_dirs/gsm.summary.json",
    ):
        _export(tmp_path, monkeypatch, "[gsm]", data_dir)


def test_an_unlisted_task_without_files_says_where_to_put_them(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    (data_dir / "routing").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=r"task 'crux' is not listed[\s\S]*routing/zeroeval/crux"):
        _export(tmp_path, monkeypatch, "[crux]", data_dir)


def test_a_model_without_a_price_is_one_clear_error(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    _listed_file(data_dir, "crux", "my-own-model", [_item(0)])
    with pytest.raises(LookupError, match=r"my-own-model[\s\S]*conf/pricing/zeroeval.yaml"):
        _export(tmp_path, monkeypatch, "[crux]", data_dir)

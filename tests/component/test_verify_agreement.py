"""Our verifiers against the correctness that routing datasets recorded for real model answers
(``python -m xrouter.data.check``).  The measured figures are asserted as floors; where a floor is
below the issue's target, the comment says why (see docs/data.md, "Verifier agreement")."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xrouter import PROJECT_ROOT
from xrouter.data.check import compose_check, run_check


def check(dataset: str, *overrides: str) -> dict:
    return run_check(compose_check([f"dataset={dataset}", *overrides]))


def report(record_property, result: dict, *keys: str) -> str:
    figures = {k: result.get(k) for k in ("n", "agreement", *keys)}
    for key, value in figures.items():
        record_property(key, value)
    print(f"{result['check']}: {figures}")
    return str(figures)


def test_the_command_line_prints_the_figures_last(tmp_path):
    """``dataset=`` names a check, not a conf/dataset config (the entry point composes without conf/)."""
    out = subprocess.run(
        [sys.executable, "-m", "xrouter.data.check", "dataset=routellm_gsm8k", "show=1", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["check"] == "routellm_gsm8k" and last["n"] == 2638 and 0 < last["agreement"] <= 1
    cfg = compose_check(["dataset=routerbench_mc", "limit=5"])
    assert cfg.dataset == "routerbench_mc" and cfg.checks.routerbench_mc.verifier == "choice" and cfg.paths.cache_dir
    with pytest.raises(ValueError, match="unknown check dataset='nope'"):
        run_check(compose_check(["dataset=nope"]))


def test_numeric_verifier_agrees_with_routellm_gsm8k(record_property):
    result = check("routellm_gsm8k")
    figures = report(record_property, result, "agreement_grader_fixed", "grader_rule_reproduces_labels", "per_model")
    assert result["n"] == 2638 and result["n_without_gold"] == 0
    # Issue target: >= 0.98.  Measured 0.97953 (54 of 2,638 disagree; GPT-4 0.9674, Mixtral 0.9917): RouteLLM
    # graded with "last run of digits equals the gold" (reproduces all 2,638 labels), which reads "$20.00" and
    # "#### 7.00" as 0 (45), takes a later number than the stated answer (3), drops a minus sign (2) or a
    # decimal point (3).  Only 1 disagreement is our error (no answer marker; our last-number fallback read
    # "1/3" from a sentence restating the question).  Matching the grader would make the verifier wrong.
    assert result["agreement"] >= 0.979, figures
    assert result["grader_rule_reproduces_labels"] == 1.0, figures
    assert result["agreement_grader_fixed"] >= 0.999, figures
    ours_wrong = sum(c for t, c in result["categories"].items() if "ours wrong" in t)
    assert ours_wrong <= 1, result["categories"]


def test_choice_verifier_agrees_with_routerbench_arc_and_winogrande(record_property):
    result = check("routerbench_mc")
    figures = report(
        record_property,
        result,
        "per_benchmark",
        "agreement_support2",
        "n_support2",
        "agreement_leave_one_out",
        "n_without_gold",
    )
    assert result["n"] == 29884 and result["n_without_gold"] == 223  # 23 prompts: no answer scored correct / readable
    assert result["agreement"] >= 0.99, figures  # issue target; measured 0.99993 (2 of 29,884)
    assert min(result["per_benchmark"].values()) >= 0.99, figures
    # The gold letter was derived from these same answers: the non-circular figures must hold as well.
    assert result["n_support2"] > 29000 and result["agreement_support2"] >= 0.99, figures
    assert result["agreement_leave_one_out"] >= 0.99, figures


def _assert_mbpp(result: dict, figures: str, raw_floor: float, renamed_floor: float) -> None:
    assert result["agreement"] >= raw_floor, figures
    assert result["agreement_renamed"] >= renamed_floor, figures
    assert result["agreement_renamed"] > result["agreement"] + 0.1, figures
    top = max(result["categories"], key=result["categories"].get)
    assert top.startswith("answer names the function differently"), result["categories"]


def test_code_verifier_on_routerbench_mbpp_sample(record_property):
    """60 answers (seeded sample) of the full check below; measured 0.550 as is, 0.667 aliased."""
    result = check("routerbench_mbpp", "limit=60")
    figures = report(record_property, result, "agreement_renamed", "categories", "categories_renamed")
    assert result["n"] == 60
    _assert_mbpp(result, figures, raw_floor=0.45, renamed_floor=0.65)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_code_verifier_on_routerbench_mbpp_all(record_property):
    """All 3,817 answers with gold (about 5 minutes on 2 cores).  Measured 0.5221 as is and 0.6992 with the
    answer's single function aliased to the tests' entry point.  RouterBench's MBPP labels do not come from
    running MBPP's tests: answers recorded correct name the function differently (1,310), contain no runnable
    code or Code Llama's [PYTHON] tags (210), read stdin (13); and 222 answers recorded wrong pass the tests."""
    result = check("routerbench_mbpp")
    figures = report(
        record_property,
        result,
        "agreement_renamed",
        "agreement_exact_match",
        "agreement_renamed_exact_match",
        "categories",
        "categories_renamed",
    )
    assert result["n"] == 3817
    _assert_mbpp(result, figures, raw_floor=0.52, renamed_floor=0.69)

"""The published xRouter reference table and ``python -m analysis.paper_tables`` beside our runs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from xrouter import PROJECT_ROOT

REFERENCE = PROJECT_ROOT / "analysis" / "reference" / "xrouter_published.csv"
SHARED_REFERENCE = PROJECT_ROOT.parent / "shared" / "reference" / "xrouter_published.csv"


def _run(root: Path, name: str, **summary) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "summary.json").write_text(json.dumps(summary))


def test_reference_is_the_published_table():
    table = pd.read_csv(REFERENCE)
    assert list(table.columns) == ["model", "benchmark", "metric", "score", "cost_usd"]
    assert table["model"].nunique() == 11 and len(table) == 77
    assert set(table["benchmark"]) == {"LiveCodeBench-v5", "GPQA-Diamond", "AIME25", "MT-Bench", "IFEval", "LiveBench"}
    row = table[(table.model == "xRouter-7B-lambda2") & (table.benchmark == "LiveCodeBench-v5")].iloc[0]
    assert (row.score, row.cost_usd) == (0.6774, 0.007166)
    if SHARED_REFERENCE.exists():  # a verbatim copy
        assert hashlib.sha256(REFERENCE.read_bytes()).digest() == hashlib.sha256(SHARED_REFERENCE.read_bytes()).digest()


def test_paper_table_with_and_without_matching_runs(tmp_path):
    from analysis.paper_tables import load_reference, report
    from analysis.runs import load_runs

    runs = tmp_path / "runs"
    _run(
        runs,
        "a",
        policy="single",
        label="single gpt-4-1",
        knob={},
        benchmark="aime25",
        n=30,
        accuracy=0.5,
        cost_per_query=0.02,
        model_share={"gpt-4-1": 1.0},
    )
    _run(
        runs,
        "b",
        policy="router",
        label="xrouter lam=1",
        knob={"lam": 1},
        benchmark="aime25",
        n=30,
        accuracy=0.6,
        cost_per_query=0.01,
        model_share={"gpt-4-1": 0.5, "o3": 0.5},
    )
    _run(
        runs,
        "c",
        policy="single",
        label="single kimi-k2",
        knob={},
        benchmark="livebench",
        n=100,
        accuracy=0.55,
        cost_per_query=0.03,
        model_share={"kimi-k2": 1.0},
    )
    _run(
        runs,
        "d",
        policy="single",
        label="single gpt-4-1106-preview",
        knob={},
        benchmark="routerbench",
        n=945,
        accuracy=0.88,
        cost_per_query=0.005,
        model_share={"gpt-4-1106-preview": 1.0},
        per_benchmark={"mbpp": {"n": 128, "accuracy": 0.69, "cost_per_query": 0.0099, "model_share": {}}},
    )
    long, wide, note = report(load_runs(str(runs)), load_reference())
    wide = wide.set_index("model")
    assert wide.loc["GPT-4.1", "AIME25"] == "0.4000 ($2.58e-02)"  # the paper's figure
    assert wide.loc["GPT-4.1", "AIME25 ours"] == "0.5000 ($2.00e-02)"  # ours beside it
    assert wide.loc["GPT-4.1", "GPQA-Diamond ours"] == "—" and wide.loc["GPT-5", "AIME25 ours"] == "—"
    assert wide.loc["ours: xrouter lam=1", "AIME25 ours"] == "0.6000 ($1.00e-02)"
    assert wide.loc["ours: xrouter lam=1", "AIME25"] == "—"
    # LiveBench on the paper's scale: score x100, cost the total over the benchmark
    assert wide.loc["Kimi-K2", "LiveBench ours"] == "55.00 ($3)"
    assert "IFEval prompt_strict" in wide.columns and "IFEval instruction_strict ours" in wide.columns
    assert "routerbench" in note and "AIME25" in note and "LiveBench" in note
    assert not any("gpt-4-1106" in r for r in wide.index)  # RouterBench is not a paper benchmark
    assert len(wide) == 11 + 1


def test_paper_tables_cli_says_when_nothing_matches(tmp_path):
    runs = tmp_path / "runs"
    _run(
        runs,
        "d",
        policy="oracle",
        label="oracle",
        knob={},
        benchmark="routerbench",
        n=945,
        accuracy=0.97,
        cost_per_query=0.0002,
        model_share={},
    )
    result = subprocess.run(
        [sys.executable, "-m", "analysis.paper_tables", f"runs={runs}", f"out={tmp_path / 'out'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 11  # header, rule, the paper's 11 rows
    assert "xRouter-7B-lambda1" in result.stdout and "None of them is a paper benchmark" in result.stdout
    assert all(cell.strip() == "—" for line in table[2:] for cell in line.split("|")[2:-1][1::2])  # ours columns
    assert (tmp_path / "out" / "paper_table.md").exists() and "\\begin{tabular}" in (
        tmp_path / "out" / "paper_table.tex"
    ).read_text()

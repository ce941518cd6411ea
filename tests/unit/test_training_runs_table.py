"""analysis.training_runs: training run directories -> rows -> an ablation table with mean ± sd over seeds."""

from __future__ import annotations

import json

import pytest

from analysis.training_runs import main, summarize, training_run_row, variant_table


def write_run(root, name, aiq, accuracy, wall=None, curve=True):
    run = root / name
    (run / "eval_test").mkdir(parents=True)
    (run / "result.json").write_text(
        json.dumps(
            {
                "delivered": {"dev_reward": 0.7, "rl_change": 0.1, "step": None},
                "spend": {"training_usd": 80.0, "full_table_usd": 28.8},
                "threads": 2,
            }
        )
    )
    (run / "eval_test" / "summary.json").write_text(
        json.dumps({"accuracy": accuracy, "cost_per_query": 4e-4, "reward": 0.77})
    )
    if curve:
        (run / "eval_test_curve").mkdir()
        (run / "eval_test_curve" / "sweep.json").write_text(
            json.dumps({"aiq_single_model_range": aiq, "zero_router_aiq": 0.8226})
        )
    if wall is not None:
        (root / f"{name}.log").write_text(f"...\nwall {wall} s\n")
    return run


def test_rows_read_the_run_files_and_the_wall_time_beside_them(tmp_path):
    row = training_run_row(write_run(tmp_path, "a_s0", 0.85, 0.81, wall=297.23))
    assert (row["aiq"], row["accuracy"], row["training_usd"], row["wall_s"], row["knn"]) == (
        0.85,
        0.81,
        80.0,
        297.23,
        None,
    )
    fixed = training_run_row(write_run(tmp_path, "fixed_s0", None, 0.8, curve=False))
    assert fixed["aiq"] is None and fixed["wall_s"] is None
    with pytest.raises(FileNotFoundError, match="result.json"):
        training_run_row(tmp_path / "missing")


def test_the_table_gives_mean_and_spread_per_variant(tmp_path, capsys):
    runs = [write_run(tmp_path, f"v_s{i}", aiq, 0.8) for i, aiq in enumerate([0.84, 0.85, 0.86])]
    stats = summarize([training_run_row(r) for r in runs], ["aiq"])
    assert stats["aiq"][0] == pytest.approx(0.85) and stats["aiq"][1] == pytest.approx(0.01) and stats["n"] == 3
    table = variant_table({"v": runs}, ["aiq", "accuracy"])
    assert "| v | 3 | 0.8500 ± 0.0100 | 0.8000 ± 0.0000 |" in table
    main([f"v={tmp_path}/v_s*", "--columns", "aiq"])
    assert "0.8500 ± 0.0100" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no finished run"):
        main([f"w={tmp_path}/nothing_*"])

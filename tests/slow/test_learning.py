"""It learns (slow: about 15 minutes per run on 2 cores, two runs).  On RouterBench replay with the
default tiny router trained for the sweep's 200 steps: validation reward rises during training, cost
per query falls as lambda rises, lambda 0 keeps test accuracy high, and a cost-penalised run is both
accurate and cheap (it routes MBPP to a code-capable model and the rest to Yi-34B).  Numbers and the
command: experiments/lambda_sweep/README.md."""

import pytest

from tests.conftest import compose
from xrouter.train import run_train

pytestmark = [pytest.mark.slow, pytest.mark.timeout(5400)]
# the sweep's settings (experiments/lambda_sweep/README.md): per-task routing appears after ~120 steps
SWEEP = ["trainer.max_steps=200", "trainer.val_check_interval=20"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    runs = {}
    for lam in (0, 1):
        out = tmp_path_factory.mktemp(f"lam{lam}")
        runs[lam] = run_train(compose("train", [f"reward.lam={lam}", *SWEEP, f"output_dir={out}"]))
    return runs


def test_validation_reward_rises(sweep):
    # lambda 1: the cold-started router's greedy choice (an expensive model) is far from the
    # reward's optimum; lambda 0: it may already be the most accurate model, so it must hold.
    assert sweep[1]["best_val_reward"] > sweep[1]["dev_before_rl"]["reward"] + 0.1, sweep[1]
    assert sweep[0]["best_val_reward"] >= sweep[0]["dev_before_rl"]["reward"] - 0.01, sweep[0]


def test_cost_falls_as_lambda_rises(sweep):
    assert sweep[1]["test"]["cost_per_query"] < sweep[0]["test"]["cost_per_query"]


def test_lambda_zero_is_accurate(sweep):
    assert sweep[0]["test"]["accuracy"] >= 0.85


def test_some_lambda_is_accurate_and_cheap(sweep):
    assert any(r["test"]["accuracy"] >= 0.80 and r["test"]["cost_per_query"] <= 0.5e-3 for r in sweep.values())

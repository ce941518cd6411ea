"""router=tiny_encoder end to end on real RouterBench replays: train (debug=fast) over sampled lambdas, save
and load the router directory, sweep the one checkpoint over a lambda grid with ``xrouter.evaluate``, and
serve it with a lambda per request; a fixed-lambda router refuses both with a clear error."""

from __future__ import annotations

import json
import logging
import threading

import httpx
import pandas as pd
import pytest

from tests.conftest import compose
from xrouter.pool.http_serving import serve_in_thread

pytestmark = pytest.mark.timeout(900)
KEY = "sk-query-router-test"


def train(tmp_path, name: str, overrides: list[str], router: str = "tiny_encoder"):
    from xrouter.train import run_train

    out = tmp_path / name
    return out, run_train(
        compose(
            "train",
            [f"router={router}", "debug=fast", f"output_dir={out}", "baselines=none", "threads=1", *overrides],
        )
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A lambda-conditioned tiny_encoder router (the default recipe, debug=fast) and a fixed-lambda one."""
    base = tmp_path_factory.mktemp("query_router")
    conditioned = train(base, "budgets", ["lam_grid=[0,30]"])
    fixed = train(base, "fixed", ["reward.lam_sampling=null"])
    return conditioned, fixed


def test_training_writes_a_prefix_router_and_the_one_checkpoint_curve(trained):
    (out, result), _ = trained
    settings = json.loads((out / "router" / "xrouter.json").read_text())
    assert settings["version"] == 2 and settings["router_name"] == "tiny_encoder"
    assert settings["conditioning"]["lam_conditioned"] is True
    assert settings["conditioning"]["encoder"]["kind"] == "minilm"
    config = json.loads((out / "router" / "config.json").read_text())
    assert config["architectures"] == ["PrefixQwen2ForCausalLM"] and config["condition_dim"] == 384 + 3
    curve = json.loads((out / "eval_test_curve" / "sweep.json").read_text())
    assert [p["knob"] for p in curve["points"]] == [{"lam": 0.0}, {"lam": 30.0}]
    assert "aiq_single_model_range" in curve and "xrouter (one ckpt)" in result["test_curve"]
    figure = out / "pareto_routerbench.png"  # the run draws its own Pareto figure and names it in result.json
    assert result["figure"] == str(figure) and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "eval_test" / "summary.json").read_text())  # the default lambda's point
    assert summary["knob"] == {"lam": 1.0}


def test_evaluate_sweeps_one_checkpoint_over_lam_grid_with_each_points_reward(trained, tmp_path):
    from xrouter.evaluate import run_evaluate

    (out, _), _ = trained
    report = run_evaluate(
        compose(
            "evaluate",
            [
                "policy=router",
                f"policy.path={out / 'router'}",
                "policy.lam_grid=[0,1,30]",
                "limit=8",
                f"output_dir={tmp_path / 'ev'}",
                "progress=false",
            ],
        )
    )
    assert [p["knob"]["lam"] for p in report["points"]] == [0.0, 1.0, 30.0]
    assert 0 <= report["aiq"] <= 1 and report["zero_router_aiq"] > 0  # a debug=fast router may score 0
    for lam in (0, 30):
        episodes = pd.read_parquet(tmp_path / "ev" / f"lam={lam:g}" / "episodes.parquet")
        assert len(episodes) == 8
        expected = episodes["score"] * (1 - (lam * episodes["reward_cost_usd"] / 0.01).clip(upper=0.8))
        assert episodes["reward_total"].round(6).tolist() == expected.round(6).tolist()
    assert json.loads((tmp_path / "ev" / "sweep.json").read_text())["knob_name"] == "lam"


def test_a_fixed_lambda_router_is_swept_nowhere_and_says_why(trained, tmp_path, caplog):
    from xrouter.evaluate import run_evaluate

    _, (fixed, _) = trained
    assert json.loads((fixed / "router" / "xrouter.json").read_text())["conditioning"]["lam_conditioned"] is False
    with pytest.raises(ValueError, match="lambda-conditioned"):
        run_evaluate(
            compose(
                "evaluate",
                [
                    "policy=router",
                    f"policy.path={fixed / 'router'}",
                    "policy.lam_grid=[0,1]",
                    "limit=4",
                    f"output_dir={tmp_path / 'ev'}",
                    "progress=false",
                ],
            )
        )
    # a router not told lambda, trained over sampled lambdas, learns one policy for their mix and is told so
    with caplog.at_level(logging.WARNING, logger="xrouter.train"):
        _, result = train(
            tmp_path, "tiny", ["reward.lam_sampling={low: 0.1, high: 3}", "recipe=text_only"], router="tiny"
        )
    assert "is not told lambda" in caplog.text and "test_curve" not in result


def serve(router_dir, overrides=()):
    from xrouter.serve.service import build_server

    return build_server(
        compose(
            "serve", [f"router_path={router_dir}", "auth.required=false", "inference=thread", "threads=1", *overrides]
        )
    )


def test_serve_takes_lambda_per_request_and_refuses_unknown_fields(trained, routerbench_traces):
    (out, _), (fixed, _) = trained
    test = routerbench_traces[routerbench_traces["split"] == "test"]
    query = test["prompt"].drop_duplicates().iloc[3]
    app, service = serve(out / "router")
    seen = []
    inner = service.generator.generator
    original = inner.generate

    def recording(prompts, sampling, conditions=None):
        seen.append(conditions)
        return original(prompts, sampling, conditions=conditions)

    inner.generate = recording
    encoder_threads = []
    conditioner = service.conditioner
    service.encoder.fn = lambda examples: (
        encoder_threads.append(threading.current_thread().name) or list(conditioner(examples))
    )
    body = {"model": "xrouter", "messages": [{"role": "user", "content": query}]}
    with serve_in_thread(app) as base_url:
        answers = {}
        for lam in (0, 30):
            reply = httpx.post(f"{base_url}/chat/completions", json={**body, "xrouter": {"lam": lam}}, timeout=60)
            assert reply.status_code == 200, reply.text
            answers[lam] = reply.json()["xrouter"]
            assert answers[lam]["limits"]["lam"] == lam and answers[lam]["timing"]["encoder_ms"] > 0
        default = httpx.post(f"{base_url}/chat/completions", json=body, timeout=60).json()["xrouter"]
        assert default["limits"]["lam"] == 1.0  # the router's default lambda
        assert seen[0][0, -2:].tolist() == [0.0, 1.0] and seen[1][0, -2:].tolist() == [1.0, 0.0]
        assert seen[0][0, :-3].tolist() == seen[1][0, :-3].tolist()  # the same query embedding
        # above the trained range (issue 28: silently clamped to 30 while limits.lam echoed 1000): a 400, never clamped
        for bad, param in (
            ({"lambda": 1}, "xrouter"),
            ({"lam": -1}, "xrouter.lam"),
            ({"lam": "high"}, "xrouter.lam"),
            ({"lam": 31}, "xrouter.lam"),
            ({"lam": 1e308}, "xrouter.lam"),
            ({"lam": 10**309}, "xrouter.lam"),
            ({"lam": 1, "max_cost_per_query": 1e-3}, "xrouter.max_cost_per_query"),
            ({"max_cost_per_query": 0}, "xrouter.max_cost_per_query"),
        ):
            reply = httpx.post(f"{base_url}/chat/completions", json={**body, "xrouter": bad}, timeout=60)
            assert reply.status_code == 400 and reply.json()["error"]["param"] == param, reply.text
        # a target cost per query: the lambda of the router's dev calibration with the largest cost within it
        calibration = json.loads((out / "router" / "calibration.json").read_text())["points"]
        target = max(max(p["cost_per_query"] for p in calibration) * 1.01, 1e-6)  # debug=fast may never call
        reply = httpx.post(
            f"{base_url}/chat/completions", json={**body, "xrouter": {"max_cost_per_query": target}}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        routing = reply.json()["xrouter"]["routing"]
        best = max(calibration, key=lambda p: (p["cost_per_query"], p["accuracy"], p["lam"]))
        assert routing["from"] == "max_cost_per_query" and routing["lam"] == best["lam"] and routing["within_target"]
        assert routing["expected_cost_per_query"] == best["cost_per_query"]
        assert all(name.startswith("xrouter-encoder") for name in encoder_threads)  # never the event loop's thread
    service.generator.close()
    app, service = serve(fixed / "router")
    with serve_in_thread(app) as base_url:
        reply = httpx.post(f"{base_url}/chat/completions", json={**body, "xrouter": {"lam": 2}}, timeout=60)
        assert reply.status_code == 400 and "one lambda" in reply.json()["error"]["message"]
    service.generator.close()

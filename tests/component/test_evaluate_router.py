"""policy=router / router_prompted with the tiny router: run files, identity from the training run,
and evaluate_router's resumption."""

import json
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from tests.conftest import compose
from xrouter.build import build_run, load_examples, train_and_dev
from xrouter.config import data_dir_of
from xrouter.evaluate import run_evaluate
from xrouter.evaluation.router_run import evaluate_router
from xrouter.router.model_loader import load_router
from xrouter.router.settings import RouterSettings

SHORT = ["router=tiny", "progress=false", "limit=4", "policy.max_new_tokens=8", "policy.batch_size=2"]


@pytest.fixture(scope="module")
def prompted(tmp_path_factory):
    out = tmp_path_factory.mktemp("prompted")
    summary = run_evaluate(compose("evaluate", ["policy=router_prompted", *SHORT, f"output_dir={out}"]))
    return out, summary


def test_router_before_rl_writes_the_run_files(prompted):
    out, summary = prompted
    assert {k: summary[k] for k in ("policy", "label", "knob", "benchmark", "pool", "split", "n")} == {
        "policy": "router_prompted",
        "label": "router before RL",
        "knob": {},
        "benchmark": "routerbench",
        "pool": "routerbench",
        "split": "test",
        "n": 4,
    }
    assert Path(summary["router_path"]).parent.name == "tiny_router"  # the untrained tiny router xrouter.train builds
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert len(episodes) == 4 and {"latency_s", "actions", "models_called", "reward_total"} <= set(episodes.columns)
    assert json.loads((out / "summary.json").read_text())["per_benchmark"]
    assert OmegaConf.load(out / "config.yaml").policy.name == "router_prompted"


def test_router_before_rl_is_the_untrained_router_train_builds(prompted):
    _, summary = prompted
    # the recipe xrouter.train runs with evaluate's default router (router=tiny)
    run = build_run(compose("train", ["router=tiny", "recipe=text_only", "output_dir=x"]))
    assert summary["router_path"] == run.settings.initial_router
    run.close()


def saved_router(prompted, run: Path) -> Path:
    _, summary = prompted
    model, tokenizer = load_router(summary["router_path"])
    model.save_pretrained(run / "router")
    tokenizer.save_pretrained(run / "router")
    return run / "router"


def test_trained_router_runs_with_its_settings_file(prompted, tmp_path):
    router_dir = saved_router(prompted, tmp_path / "train_run")
    trained = compose("train", ["router=tiny", "recipe=text_only", "reward.lam=3", "env.max_turns=2", "output_dir=x"])
    RouterSettings.from_config(OmegaConf.to_container(trained, resolve=True), ["yi-34b-chat"]).save(router_dir)
    out = tmp_path / "eval"
    result = run_evaluate(
        compose("evaluate", ["policy=router", f"policy.path={router_dir}", *SHORT, f"output_dir={out}"])
    )
    assert (result["label"], result["knob"], result["policy"]) == ("xrouter lam=3", {"lam": 3.0}, "router")
    config = OmegaConf.load(out / "config.yaml")
    assert config.router_settings.reward.lam == 3.0 and config.router_settings.max_turns == 2
    assert pd.read_parquet(out / "episodes.parquet")["turns"].max() <= 2
    ignored = run_evaluate(
        compose(
            "evaluate",
            [
                "policy=router",
                f"policy.path={router_dir}",
                *SHORT,
                "policy.use_router_settings=false",
                f"output_dir={tmp_path / 'own'}",
            ],
        )
    )
    assert ignored["knob"] == {} and OmegaConf.load(tmp_path / "own" / "config.yaml").router_settings.max_turns == 3


def test_router_directory_of_an_older_run_takes_the_run_config(prompted, tmp_path):
    run = tmp_path / "train_run"
    router_dir = saved_router(prompted, run)
    (run / "config.yaml").write_text(
        OmegaConf.to_yaml(
            compose(
                "train", ["router=tiny", "recipe=text_only", "reward.lam=3", "env.max_turns=2", f"output_dir={run}"]
            ),
            resolve=True,
        )
    )
    result = run_evaluate(
        compose("evaluate", ["policy=router", f"policy.path={router_dir}", *SHORT, f"output_dir={tmp_path / 'eval'}"])
    )
    assert result["knob"] == {"lam": 3.0}
    assert pd.read_parquet(tmp_path / "eval" / "episodes.parquet")["turns"].max() <= 2


def test_a_broken_settings_file_is_named(prompted, tmp_path):
    router_dir = saved_router(prompted, tmp_path / "run")
    (router_dir / "xrouter.json").write_text('{"version": 99}')
    with pytest.raises(ValueError, match="settings version 99"):
        run_evaluate(
            compose(
                "evaluate", ["policy=router", f"policy.path={router_dir}", *SHORT, f"output_dir={tmp_path / 'eval'}"]
            )
        )


class Stop(Exception):
    pass


def test_evaluate_router_resumes(prompted, shared_data_dir, tmp_path):
    _, summary = prompted
    cfg = compose("evaluate", ["router=tiny", "policy=router_prompted", "output_dir=unused"])
    examples = load_examples(cfg, cfg.split, 6)
    run = build_run(cfg, router_path=summary["router_path"])
    loop = run.loop
    whole = evaluate_router(loop, examples, tmp_path / "whole", 8, batch_size=2)  # train.py's positional call
    original, calls = loop.run, {"n": 0}

    def stop_at_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Stop
        return original(*args, **kwargs)

    loop.run = stop_at_second_batch
    with pytest.raises(Stop):
        evaluate_router(loop, examples, tmp_path / "cut", 8, batch_size=2, resume=True)
    calls["n"] = 10
    resumed = evaluate_router(loop, examples, tmp_path / "cut", 8, batch_size=2, resume=True)
    assert calls["n"] == 12  # two batches left, not three
    columns = lambda f: f.drop(columns=["episode_id"])  # noqa: E731  (ids carry the batch offset)
    pd.testing.assert_frame_equal(
        columns(pd.read_parquet(tmp_path / "whole" / "episodes.parquet")),
        columns(pd.read_parquet(tmp_path / "cut" / "episodes.parquet")),
    )
    assert resumed == whole
    loop.close()


def test_split_dev_is_the_slice_training_holds_out(tmp_path):
    cfg = compose(
        "evaluate", ["policy=router_prompted", *SHORT, "split=dev", "seed=1", f"output_dir={tmp_path / 'dev'}"]
    )
    summary = run_evaluate(cfg)
    _, dev = train_and_dev(compose("train", ["seed=1", "output_dir=x"]), data_dir_of(cfg), Path(cfg.paths.cache_dir))
    episodes = pd.read_parquet(tmp_path / "dev" / "episodes.parquet")
    assert summary["split"] == "dev" and summary["n"] == 4
    assert set(episodes["prompt_id"].astype(str)) == {str(e["prompt_id"]) for e in dev[:4]}


def test_split_dev_refuses_a_baseline_fitted_on_it(tmp_path):
    with pytest.raises(ValueError, match="tune_dev.py"):
        run_evaluate(compose("evaluate", ["policy=knn", "split=dev", "progress=false", f"output_dir={tmp_path}"]))

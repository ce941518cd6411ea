"""The cold start's teacher (cold_start.weighting=teacher) on real RouterBench replays: a kNN fitted on the
training prompts outside the dev slice routes by lambda, and the cold start scripts exactly its choices."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import compose
from xrouter import CONF_DIR
from xrouter.config import data_dir_of, to_plain

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def run_and_teacher():
    from xrouter.build import build_run
    from xrouter.training import cold_start_teacher

    cfg = compose(
        "train",
        [
            "router=tiny_encoder",
            "cold_start.weighting=teacher",
            "teacher=knn",
            "output_dir=unused",
            "threads=1",
        ],
    )
    run = build_run(cfg)
    teacher = cold_start_teacher(cfg, run)
    yield cfg, run, teacher
    run.close()


def test_teacher_routes_by_lambda_and_never_sees_the_dev_slice(run_and_teacher):
    from xrouter.evaluation.baseline_policy import policy_context
    from xrouter.policies.teacher import fit_teacher

    cfg, run, teacher = run_and_teacher
    examples = run.train[:200]
    free, cheap = (
        Counter(teacher([dict(e, lam=0.0) for e in examples])),
        Counter(teacher([dict(e, lam=30.0) for e in examples])),
    )
    assert free.most_common(1)[0][0] == "gpt-4-1106-preview"  # quality only: the strongest model
    assert cheap.most_common(1)[0][0] in ("mistral-7b-chat", "wizardlm-13b-v1-2")  # cost dominates: the cheapest
    assert teacher(examples[:5]) == teacher([dict(e, lam=float(cfg.reward.lam)) for e in examples[:5]])  # default lam
    # the fit excludes the dev slice: refitting with every train prompt in it changes some choices
    policy_cfg = to_plain(OmegaConf.load(Path(CONF_DIR) / "policy" / "knn.yaml"))
    ctx = policy_context(
        OmegaConf.create({"pool": cfg.pool, "policy": policy_cfg, "reward": cfg.reward, "seed": 0}),
        run.pool,
        data_dir_of(cfg),
        Path(cfg.paths.cache_dir),
    )
    leaky = fit_teacher(policy_cfg, ctx, run.train, set(), float(cfg.reward.lam))
    assert teacher(run.train) != leaky(run.train)
    with pytest.raises(ValueError, match="knn or mlp"):
        fit_teacher({"name": "cascade"}, ctx, run.train, set(), 1.0)


def test_the_teacher_is_a_composed_config_group(run_and_teacher):
    from xrouter.training import cold_start_teacher

    cfg, run, _ = run_and_teacher
    assert cfg.teacher.name == "knn" and cfg.teacher.k == compose("train", ["teacher=knn"]).teacher.k
    assert compose("train", []).get("teacher") is None  # rl_only: no teacher composed
    assert compose("train", ["recipe=teacher"]).teacher.name == "mlp"
    assert compose("train", ["recipe=teacher", "experiment=zeroeval_math"]).teacher.name == "knn"
    bare = OmegaConf.create(OmegaConf.to_container(cfg))
    del bare["teacher"]
    with pytest.raises(ValueError, match="add teacher=mlp"):
        cold_start_teacher(bare, run)


def test_cold_start_scripts_the_teachers_choice_once_per_prompt(run_and_teacher):
    from xrouter.rl.cold_start import cold_start, scripted_trajectories

    cfg, run, teacher = run_and_teacher
    examples = [dict(e, lam=lam) for e, lam in zip(run.train[:6], (0.0, 0.0, 1.0, 1.0, 30.0, 30.0))]
    batch = scripted_trajectories(run.loop, examples, run.pool.names, None, teacher(examples))
    assert len(batch.episodes) == 6
    assert [e.final_source for e in batch.episodes] == [f"call_{m}" for m in teacher(examples)]
    losses = cold_start(
        run.model,
        run.loop,
        run.train,
        run.pool.names,
        steps=3,
        batch_size=4,
        lr=3e-3,
        micro_batch_size=8,
        seed=0,
        weighting="teacher",
        teacher=teacher,
    )
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    with pytest.raises(ValueError, match="weighting=teacher"):
        cold_start(
            run.model,
            run.loop,
            run.train,
            run.pool.names,
            steps=1,
            batch_size=2,
            lr=3e-3,
            micro_batch_size=8,
            seed=0,
            weighting="uniform",
            teacher=teacher,
        )
    with pytest.raises(ValueError, match="weighting=teacher"):
        cold_start(
            run.model,
            run.loop,
            run.train,
            run.pool.names,
            steps=1,
            batch_size=2,
            lr=3e-3,
            micro_batch_size=8,
            seed=0,
            weighting="teacher",
        )


def test_oracle_escalation_scripts_a_second_call_only_where_the_first_answer_was_wrong():
    from xrouter.build import build_run
    from xrouter.rl.cold_start import scripted_trajectories
    from xrouter.train import check_train_config
    from xrouter.training import cold_start_teacher

    cfg = compose(
        "train",
        [
            "router=tiny_encoder",
            "recipe=teacher",
            "env=full",
            "cold_start.escalation=oracle",
            "output_dir=unused",
            "threads=1",
        ],
    )
    check_train_config(cfg)
    run = build_run(cfg)
    try:
        teacher = cold_start_teacher(cfg, run)
        examples = [dict(e, lam=1.0) for e in run.train[:300]]
        choices = teacher(examples)
        chains = [(e, c) for e, c in zip(examples, choices) if not isinstance(c, str)]
        assert 0.02 < len(chains) / len(choices) < 0.4, len(chains)
        episodes = scripted_trajectories(
            run.loop, [e for e, _ in chains[:6]], run.pool.names, None, [c for _, c in chains[:6]]
        ).episodes
        for episode, (_, (first, second)) in zip(episodes, chains[:6]):
            # the router read the first answer (a wrong one, by the recorded score) and escalated to a right one
            assert [c.model for c in episode.calls] == [first, second] and first != second
            assert episode.calls[0].recorded_score < 0.5 <= episode.calls[1].recorded_score
            assert episode.final_source == f"call_{second}" and episode.score == 1.0
            assert episode.tool_cost_usd == pytest.approx(sum(c.cost_usd for c in episode.calls))
        with pytest.raises(ValueError, match="env.max_turns >= 3"):
            run.env.__class__.script(
                type("Simple", (), {"action_format": "tool_calls", "mode": "simple", "max_turns": 1})(), ("a", "b")
            )
    finally:
        run.close()
    for overrides in (["env=simple"], ["env=full", "router=tiny", "recipe=text_only"]):
        bad = compose("train", ["router=tiny_encoder", "cold_start.escalation=oracle", *overrides])
        with pytest.raises(ValueError, match="needs env=full and cold_start.weighting=teacher"):
            check_train_config(bad)


def test_the_per_task_agreement_teacher_starts_each_sub_benchmark_with_its_own_candidate():
    """teacher=agreement on pool=zeroeval_reasoning: one candidate per lambda for every prompt, or (per_task) the
    best one per lambda and sub-benchmark: at lambda 0, MATH level 5 straight to o1-mini, GSM8K to a cheap group."""
    from xrouter.build import build_run
    from xrouter.rl.cold_start import scripted_trajectories
    from xrouter.training import cold_start_teacher

    base = ["experiment=zeroeval_reasoning", "env=full", "teacher=agreement", "cold_start.weighting=teacher"]
    cfg = compose("train", [*base, "teacher.per_task=true", "output_dir=unused", "threads=1"])
    run = build_run(cfg)
    try:
        per_task = cold_start_teacher(cfg, run)
        shared_cfg = cfg.copy()  # build_run resolved reward.cost_unit_usd=pool into cfg
        shared_cfg.teacher.per_task = False
        shared = cold_start_teacher(shared_cfg, run)
        assert "sub-benchmark" in per_task.label and "sub-benchmark" not in shared.label
        by_task = {t: [e for e in run.train if e["benchmark"] == t][:60] for t in ("math-l5", "gsm")}
        examples = [dict(e, lam=0.0) for group in by_task.values() for e in group]
        tasks = [e["benchmark"] for e in examples]
        assert set(tasks) == {"math-l5", "gsm"}

        def first_stage(choice):
            return (choice,) if isinstance(choice, str) else tuple(choice["turns"][0])

        starts = {(t, first_stage(c)) for t, c in zip(tasks, per_task(examples))}
        assert {s for t, s in starts if t == "math-l5"} == {("o1-mini",)}
        gsm = {s for t, s in starts if t == "gsm"}
        assert len(gsm) == 1 and len(next(iter(gsm))) >= 2 and "o1-mini" not in next(iter(gsm))
        assert len({first_stage(c) for c in shared(examples)}) == 1  # one candidate for both sub-benchmarks
        math = [(e, c) for e, c in zip(examples, per_task(examples)) if e["benchmark"] == "math-l5"][:2]
        episodes = scripted_trajectories(run.loop, [e for e, _ in math], run.pool.names, None, [c for _, c in math])
        for episode in episodes.episodes:
            assert [c.model for c in episode.calls] == ["o1-mini"] and episode.final_source == "call_o1-mini"
    finally:
        run.close()

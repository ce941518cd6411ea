"""The tiny_encoder router's parts without data: the soft-prefix LM, its save/load, lambda features and draws,
the per-episode lambda of the reward, and the settings file that describes a prefix router."""

from __future__ import annotations

import json
import random

import pytest
import torch

from xrouter.reward.functions import build_reward
from xrouter.reward.lam_sampling import LamSampling, with_lams
from xrouter.rollout.logprobs import sequence_logprobs
from xrouter.router.conditioning import LAM_FEATURES, ConditioningSpec, check_router_matches, lam_features
from xrouter.router.model_loader import load_router, tiny_model, train_bpe_tokenizer
from xrouter.router.prefix_lm import PREFIX_TOKEN, PrefixQwen2ForCausalLM, prefix_router
from xrouter.router.settings import RouterSettings, RouterSettingsError

ARCH = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
    "max_position_embeddings": 256,
}
DIM = 6


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["which model answers this question best", "call_a call_b hello world"] * 20
    return train_bpe_tokenizer(texts, 300, extra_tokens=[PREFIX_TOKEN, "call_a", "call_b"])


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    return prefix_router(tokenizer, ARCH, condition_dim=DIM, prefix_tokens=3, projector_hidden=16).eval()


def prompt(tokenizer, text="which model answers this question"):
    return tokenizer(PREFIX_TOKEN * 3 + text, add_special_tokens=False)["input_ids"]


def test_the_condition_changes_the_next_token_distribution_through_slots_and_every_position(model, tokenizer):
    ids = torch.tensor([prompt(tokenizer)] * 2)
    conditions = torch.randn(2, DIM)
    logits = model(input_ids=ids, conditions=conditions).logits[:, -1]
    assert not torch.allclose(logits[0], logits[1], atol=1e-5)
    same = model(input_ids=ids, conditions=conditions[:1].expand(2, -1)).logits[:, -1]
    torch.testing.assert_close(same[0], same[1])
    plain = torch.tensor([tokenizer("which model answers this question", add_special_tokens=False)["input_ids"]] * 2)
    no_slots = model(input_ids=plain, conditions=conditions).logits[:, -1]  # a decoding step: no slots, still told
    assert not torch.allclose(no_slots[0], no_slots[1], atol=1e-5)


def test_every_forward_needs_conditions_of_the_right_shape(model, tokenizer):
    ids = torch.tensor([prompt(tokenizer)])
    with pytest.raises(ValueError, match="conditions"):
        model(input_ids=ids)
    with pytest.raises(ValueError, match="expected"):
        model(input_ids=ids, conditions=torch.zeros(1, DIM + 1))


def test_generate_and_the_shared_prefix_forward_use_each_rows_condition(model, tokenizer):
    rows = [prompt(tokenizer) + [5, 6, 7]] * 4
    masks = [[0] * len(prompt(tokenizer)) + [1, 1, 1]] * 4
    conditions = torch.randn(2, DIM).repeat_interleave(2, dim=0)  # two groups of two rows
    shared = next(sequence_logprobs(model, rows, masks, tokenizer.pad_token_id, conditions=conditions))[1]
    plain = next(
        sequence_logprobs(model, rows, masks, tokenizer.pad_token_id, conditions=conditions, share_prefix=False)
    )[1]
    torch.testing.assert_close(shared, plain, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(shared[0], shared[2])
    out = model.generate(
        input_ids=torch.tensor([prompt(tokenizer)] * 2),
        attention_mask=torch.ones(2, len(prompt(tokenizer)), dtype=torch.long),
        conditions=conditions[[0, 2]],
        max_new_tokens=4,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    assert out.shape[1] == len(prompt(tokenizer)) + 4


def test_save_and_load_keep_the_projector_and_a_directory_without_it_is_an_error(model, tokenizer, tmp_path):
    model.save_pretrained(tmp_path / "r")
    tokenizer.save_pretrained(tmp_path / "r")
    loaded, _ = load_router(tmp_path / "r")
    assert isinstance(loaded, PrefixQwen2ForCausalLM)
    ids, conditions = torch.tensor([prompt(tokenizer)]), torch.randn(1, DIM)
    torch.testing.assert_close(
        loaded.eval()(input_ids=ids, conditions=conditions).logits, model(input_ids=ids, conditions=conditions).logits
    )
    plain = tiny_model(tokenizer, ARCH)  # same config.json claims, weights without a projector
    plain.save_pretrained(tmp_path / "broken")
    tokenizer.save_pretrained(tmp_path / "broken")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    (tmp_path / "broken" / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match="no projector"):
        load_router(tmp_path / "broken")


def settings_with(conditioning):
    return RouterSettings(
        prompt={},
        price=None,
        mode="simple",
        max_turns=1,
        call_max_tokens=None,
        max_new_tokens=8,
        eos_token="<|im_end|>",
        max_seq_len=256,
        reward={"name": "xrouter", "lam": 1.0},
        conditioning=conditioning,
        source="test xrouter.json",
    )


SPEC = {
    "encoder": {"kind": "hashing", "dim": DIM - LAM_FEATURES},
    "lam_conditioned": True,
    "lam_max": 30.0,
    "default_lam": 1.0,
    "prefix_tokens": 3,
}


def test_settings_round_trip_a_prefix_router_and_read_version_1_files(tmp_path):
    settings = settings_with(SPEC)
    settings.save(tmp_path)
    back = RouterSettings.read(tmp_path)
    assert back.conditioning == SPEC and back.version == 2
    fields = json.loads((tmp_path / "xrouter.json").read_text())
    fields.pop("conditioning")
    fields["version"] = 1  # written before prefix routers
    (tmp_path / "xrouter.json").write_text(json.dumps(fields))
    assert RouterSettings.read(tmp_path).conditioning is None
    fields.update(version=2, conditioning={**SPEC, "prefix_tokens": None, "extra": 1})
    (tmp_path / "xrouter.json").write_text(json.dumps(fields))
    with pytest.raises(RouterSettingsError, match="bad conditioning"):
        RouterSettings.read(tmp_path)


def test_weights_and_settings_must_agree_on_being_a_prefix_router(model, tokenizer):
    check_router_matches("r", model, settings_with(SPEC))  # 4 hashing dims + 2 lambda features = DIM
    with pytest.raises(ValueError, match="no conditioning"):
        check_router_matches("r", model, settings_with(None))
    with pytest.raises(ValueError, match="without a projector"):
        check_router_matches("r", tiny_model(tokenizer, ARCH), settings_with(SPEC))
    with pytest.raises(ValueError, match="reads 6 features"):
        check_router_matches("r", model, settings_with({**SPEC, "lam_conditioned": False}))
    assert ConditioningSpec.from_dict(SPEC).dimension == DIM


def test_lambda_features_draws_and_the_per_episode_reward():
    assert lam_features(0, 30) == [0.0, 1.0]
    assert lam_features(30, 30) == [1.0, 0.0] and lam_features(300, 30) == [1.0, 0.0]
    assert 0 < lam_features(1, 30)[0] < lam_features(3, 30)[0] < 1
    with pytest.raises(ValueError):
        lam_features(-1, 30)
    sampling = LamSampling.from_config({"low": 0.1, "high": 30, "zero_prob": 0.25})
    draws = [sampling.draw(random.Random(i)) for i in range(2000)]
    zeros = sum(d == 0 for d in draws) / len(draws)
    assert 0.2 < zeros < 0.3 and all(d == 0 or 0.1 <= d <= 30 for d in draws)
    positive = sorted(d for d in draws if d > 0)
    assert 0.9 < positive[len(positive) // 2] < 2.5  # log-uniform: the median is near sqrt(0.1 * 30) = 1.7
    examples = with_lams([{"prompt": "q"}] * 3, sampling, random.Random(0))
    assert all("lam" in e for e in examples) and with_lams([{"p": 1}], None, random.Random(0)) == [{"p": 1}]
    for bad in ({"low": 0, "high": 1}, {"low": 2, "high": 1}, {"low": 1, "high": 2, "zero_prob": 2}, {"lo": 1}):
        with pytest.raises(ValueError, match="lam_sampling"):
            LamSampling.from_config(bad)
    reward = build_reward(
        {
            "name": "xrouter",
            "K": 1.0,
            "lam": 1.0,
            "cap": 0.8,
            "cost_unit_usd": 0.01,
            "lam_sampling": {"low": 0.1, "high": 30},
        }
    )
    assert reward(1.0, 0.002).total == pytest.approx(0.8)
    assert reward(1.0, 0.002, lam=0.0).total == pytest.approx(1.0)
    assert reward(1.0, 0.002, lam=2.0).total == pytest.approx(0.6)
    with pytest.raises(ValueError, match="no lam"):
        build_reward({"name": "linear", "alpha": 0.5})(1.0, 0.002, lam=1.0)


def test_a_clipped_tool_result_keeps_its_head_its_tail_and_says_its_length():
    from xrouter.env.tool_calls import clip_tool_result

    text = "Let me think. " * 10 + 'so the answer is {"answer": "42"}'
    clipped = clip_tool_result(text, 40)
    assert clipped == f"{text[:20]}...[{len(text)} chars]...{text[-20:]}" and '"42"' in clipped
    assert clip_tool_result("short", 40) == "short"


def test_what_a_run_draws_after_the_router_is_the_same_built_or_loaded_from_the_cache(tmp_path):
    """A fresh clone's first run builds the router, later runs load it: the seeded run must not tell them apart."""
    from xrouter.router.model_loader import build_tiny_router

    texts = ["which model answers this question best", "call_a call_b hello world"] * 20
    prefix = {"condition_dim": DIM, "prefix_tokens": 3, "projector_hidden": 16}
    draws, models = [], []
    for _ in ("built", "loaded"):
        torch.manual_seed(1234)
        model, _tok = build_tiny_router(texts, ARCH, 300, tmp_path, seed=0, prefix=prefix)
        draws.append(torch.rand(4))
        models.append(model)
    torch.manual_seed(1234)
    untouched = torch.rand(4)
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)
    torch.testing.assert_close(draws[0], untouched, rtol=0, atol=0)
    built, loaded = models  # the same object state too: a constructor's model is in train mode, a loaded one not
    assert built.training == loaded.training
    assert built.config.to_dict() == loaded.config.to_dict()
    for (name, a), (_, b) in zip(built.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name

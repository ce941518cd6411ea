"""The routing head of a prefix router without data: where its logits go, save/load, lambda conditioning, the
decision-only update agreeing with the full forward, generation with a shared prefill, the lambda features,
which checkpoint a run delivers, and the spend meter."""

from __future__ import annotations

import json

import pytest
import torch

from xrouter.evaluation.spend import SpendMeter
from xrouter.pool.ledger import CallRecord, CostLedger
from xrouter.rl.checkpoints import StartingPoint
from xrouter.rl.decision import decision_batch, decision_logprobs, decision_positions
from xrouter.rollout.hf import HFGenerator, SamplingConfig
from xrouter.rollout.logprobs import sequence_logprobs
from xrouter.router.conditioning import ConditioningSpec, lam_features
from xrouter.router.decision_head import DecisionHead, add_decision_logits
from xrouter.router.model_loader import load_router, train_bpe_tokenizer
from xrouter.router.parsing import TOOL_SCAFFOLD_TOKENS
from xrouter.router.prefix_lm import PREFIX_TOKEN, prefix_router

ARCH = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
    "max_position_embeddings": 256,
}
CALLS = ["call_a", "call_b", "call_c"]
ANCHOR = TOOL_SCAFFOLD_TOKENS[0]
DIM = 7  # 4 embedding dimensions + 3 lambda features ("log")


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["which model answers this question best", "hello world, a longer question to route"] * 20
    return train_bpe_tokenizer(texts, 300, extra_tokens=[PREFIX_TOKEN, *CALLS, ANCHOR, "<tool_call>"])


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    router = prefix_router(
        tokenizer,
        ARCH,
        condition_dim=DIM,
        prefix_tokens=2,
        projector_hidden=16,
        lam_features=3,
        decision={"tokens": CALLS, "anchor": ANCHOR, "hidden": 16, "lam_scale": 3.0},
    )
    with torch.no_grad():  # a head that has learned something
        for p in router.decision_head.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return router.eval()


def ids_of(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prompt(tokenizer, text="which model answers this question"):
    return ids_of(tokenizer, PREFIX_TOKEN * 2 + text) + ids_of(tokenizer, "<tool_call>") + ids_of(tokenizer, ANCHOR)


def test_head_logits_go_to_the_call_tokens_at_the_anchor_only():
    logits = torch.zeros(2, 3, 10)
    ids = torch.tensor([[1, 7, 2], [7, 3, 4]])
    head = torch.tensor([[1.0, -1.0], [2.0, 0.5]])
    out = add_decision_logits(logits, ids, head, anchor_id=7, token_ids=[5, 8])
    assert out[0, 1, 5] == 1.0 and out[0, 1, 8] == -1.0 and out[1, 0, 5] == 2.0 and out[1, 0, 8] == 0.5
    out[0, 1, [5, 8]] = 0
    out[1, 0, [5, 8]] = 0
    assert torch.count_nonzero(out) == 0  # nothing anywhere else
    last = add_decision_logits(torch.zeros(2, 1, 10), ids, head, anchor_id=4, token_ids=[5, 8])  # logits_to_keep=1
    assert last[1, 0, 5] == 2.0 and last[0, 0, 5] == 0.0


def test_a_fresh_head_adds_nothing_and_its_logits_are_centred():
    head = DecisionHead(DIM, 3, hidden=8, lam_features=3)
    head.reset()
    assert torch.count_nonzero(head(torch.randn(4, DIM))) == 0
    torch.nn.init.normal_(head.net[-1].weight)
    out = head(torch.randn(4, DIM))
    torch.testing.assert_close(out.sum(-1), torch.zeros(4), atol=1e-5, rtol=0)


def test_the_call_distribution_follows_the_condition_and_survives_save_and_load(model, tokenizer, tmp_path):
    ids = torch.tensor([prompt(tokenizer)] * 2)
    calls = [tokenizer.convert_tokens_to_ids(c) for c in CALLS]
    cheap, dear = torch.zeros(2, DIM), torch.zeros(2, DIM)
    cheap[:, -3:] = torch.tensor(lam_features(30.0, 30.0, "log"))
    dear[:, -3:] = torch.tensor(lam_features(0.0, 30.0, "log"))
    at_cheap = model(input_ids=ids, conditions=cheap).logits[0, -1, calls]
    at_dear = model(input_ids=ids, conditions=dear).logits[0, -1, calls]
    assert not torch.allclose(at_cheap - at_cheap.mean(), at_dear - at_dear.mean(), atol=1e-3)
    model.save_pretrained(tmp_path / "r")
    tokenizer.save_pretrained(tmp_path / "r")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["decision_token_ids"] == calls and config["decision_anchor_id"] == tokenizer.convert_tokens_to_ids(
        ANCHOR
    )
    loaded, _ = load_router(tmp_path / "r")
    torch.testing.assert_close(
        loaded.eval()(input_ids=ids, conditions=cheap).logits, model(input_ids=ids, conditions=cheap).logits
    )


def test_the_decision_update_sees_the_same_log_probabilities_as_the_full_forward(model, tokenizer):
    calls = [tokenizer.convert_tokens_to_ids(c) for c in CALLS]
    tail = ids_of(tokenizer, '", "arguments": {}}\n')
    rows, masks = [], []
    for text, call in [
        ("which model answers this question", calls[0]),
        ("hello world", calls[2]),
        ("which model answers this question", calls[1]),
    ]:
        head = prompt(tokenizer, text)
        start = head.index(tokenizer.convert_tokens_to_ids("<tool_call>"))
        rows.append(head + [call] + tail)
        masks.append([0] * start + [1] * (len(head) - start + 1 + len(tail)))
    conditions = torch.randn(3, DIM)
    full = next(
        sequence_logprobs(model, rows, masks, tokenizer.pad_token_id, conditions=conditions, share_prefix=False)
    )
    _, logprobs, mask, _ = full
    batch = decision_batch(model, rows, masks, conditions, tokenizer.pad_token_id)
    assert batch.rows.tolist() == [0, 1, 2] and batch.actions.tolist() == [0, 2, 1]
    fast, entropy = decision_logprobs(
        model.decision_head(batch.conditions), batch.lm_logits, batch.rest_lse, batch.actions
    )
    width = logprobs.shape[1]
    for i, row in enumerate(rows):
        j = decision_positions([row], [masks[i]], tokenizer.convert_tokens_to_ids(ANCHOR), calls)[0][1]
        column = width - (len(row) - j)  # sequence_logprobs is right-aligned: predicts row[-width:]
        torch.testing.assert_close(fast[i], logprobs[i, column], atol=1e-5, rtol=1e-4)
    assert bool((entropy > 0).all()) and bool((entropy <= torch.log(torch.tensor(3.0)) + 1e-5).all())


def test_generation_with_a_shared_prefill_equals_plain_generation_on_rows_of_different_lengths(model, tokenizer):
    rows = [prompt(tokenizer, "hi")] * 3 + [prompt(tokenizer, "which model answers this long question best")] * 3
    conditions = torch.randn(2, DIM).repeat_interleave(3, dim=0)
    generator = HFGenerator(model, tokenizer, tokenizer.convert_tokens_to_ids("<|im_end|>"), batch_size=16)
    greedy = SamplingConfig(max_new_tokens=5, do_sample=False)
    assert generator._shared_prefill(rows, *_padded(rows, tokenizer), conditions)  # the shared path is taken
    shared = generator.generate(rows, greedy, conditions=conditions)
    torch.manual_seed(1)
    shared_sampled = generator.generate(rows, SamplingConfig(max_new_tokens=5), conditions=conditions)
    generator._shared_prefill = lambda *args: {}
    assert generator.generate(rows, greedy, conditions=conditions) == shared
    torch.manual_seed(1)
    assert generator.generate(rows, SamplingConfig(max_new_tokens=5), conditions=conditions) == shared_sampled


def _padded(rows, tokenizer):
    from xrouter.rollout.logprobs import left_pad

    return left_pad(rows, tokenizer.pad_token_id)


def test_log_lambda_features_separate_small_lambdas_and_old_specs_read_as_log1p():
    small = [lam_features(x, 30.0, "log")[0] for x in (0.1, 0.2, 0.3, 1.0)]
    assert all(b - a > 0.05 for a, b in zip(small, small[1:]))  # log1p puts 0.1-0.3 within 0.05 of each other
    assert lam_features(0.2, 30.0, "log1p")[0] - lam_features(0.1, 30.0, "log1p")[0] < 0.03
    assert lam_features(0.0, 30.0, "log") == [0.0, 0.0, 1.0] and lam_features(30.0, 30.0, "log")[:2] == [1.0, 1.0]
    with pytest.raises(ValueError, match="feature set"):
        lam_features(1.0, 30.0, "cubic")
    old = {
        "encoder": {"kind": "hashing", "dim": 4},
        "lam_conditioned": True,
        "lam_max": 30.0,
        "default_lam": 1.0,
        "prefix_tokens": 2,
    }
    assert ConditioningSpec.from_dict(old).lam_features == "log1p" and ConditioningSpec.from_dict(old).dimension == 6
    assert ConditioningSpec.from_dict({**old, "lam_features": "log"}).dimension == 7
    with pytest.raises(ValueError, match="lam_features"):
        ConditioningSpec.from_dict({**old, "lam_features": "cubic"})


def test_the_cold_start_router_competes_with_rl_and_a_tie_keeps_it(tmp_path):
    start = StartingPoint(tmp_path)
    start.save(torch.nn.Linear(2, 2), {"reward": 0.70, "accuracy": 0.8})
    assert start.choose("rl.ckpt", torch.tensor(0.70))["step"] == 0  # RL did not improve it
    kept = start.choose("rl.ckpt", torch.tensor(0.65))
    assert kept["step"] == 0 and kept["rl_change"] == pytest.approx(-0.05, abs=1e-6)
    assert torch.load(kept["checkpoint"], weights_only=False)["state_dict"].keys() == {"model.weight", "model.bias"}
    better = start.choose("rl.ckpt", torch.tensor(0.72))
    assert better["checkpoint"] == "rl.ckpt" and better["rl_change"] == pytest.approx(0.02, abs=1e-6)
    assert StartingPoint(tmp_path / "none").choose("rl.ckpt", torch.tensor(0.5))["checkpoint"] == "rl.ckpt"


def test_the_spend_meter_books_each_phase_and_compares_with_the_full_table():
    ledger = CostLedger()
    meter = SpendMeter(ledger)
    ledger.record(CallRecord("m", 1, 1, 0.5, 0.0, episode_id="sft-1"))
    meter.mark("cold_start")
    ledger.record(CallRecord("m", 1, 1, 1.0, 0.0, episode_id="s0-1-0"))
    ledger.record(CallRecord("m", 1, 1, 0.0, 0.0, episode_id="s0-2-0", cached=True, saved_usd=1.0))
    ledger.record(CallRecord("m", 1, 1, 0.25, 0.0, episode_id="val10-0-1"))
    ledger.record(CallRecord("router", 1, 1, 9.0, 0.0, episode_id="s0-1-0", kind="router"))
    meter.mark("rl_rollouts", {"val": "validation"})
    report = meter.report(["cold_start", "rl_rollouts"], full_table_usd=3.0)
    assert {k: (v["calls"], v["cost_usd"], v["cached_calls"]) for k, v in report["phases"].items()} == {
        "cold_start": (1, 0.5, 0),
        "rl_rollouts": (2, 1.0, 1),
        "validation": (1, 0.25, 0),
    }
    assert report["training_usd"] == 1.5 and report["training_share_of_full_table"] == 0.5
    assert report["training_cached_calls"] == 1 and report["training_usd_without_cache"] == 2.5


def test_an_lm_blind_to_the_condition_leaves_the_routing_to_the_head(tokenizer):
    torch.manual_seed(0)
    blind = prefix_router(
        tokenizer,
        ARCH,
        condition_dim=DIM,
        prefix_tokens=2,
        projector_hidden=16,
        lam_features=3,
        decision={"tokens": CALLS, "anchor": ANCHOR, "hidden": 16},
        condition_lm=False,
    ).eval()
    with torch.no_grad():
        for p in blind.decision_head.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    ids = torch.tensor([prompt(tokenizer)] * 2)
    conditions = torch.randn(2, DIM)
    logits = blind(input_ids=ids, conditions=conditions).logits
    torch.testing.assert_close(logits[0, :-1], logits[1, :-1])  # before the anchor: the same for every condition
    calls = [tokenizer.convert_tokens_to_ids(c) for c in CALLS]
    assert not torch.allclose(logits[0, -1, calls], logits[1, -1, calls])  # at the anchor: the head's choice
    with pytest.raises(ValueError, match="needs router.decision_head"):
        prefix_router(tokenizer, ARCH, condition_dim=DIM, prefix_tokens=2, condition_lm=False)

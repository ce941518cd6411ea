"""HFLocalEndpoint on a tiny random Qwen2 model with a BPE tokenizer trained here (no download)."""

from __future__ import annotations

import asyncio

import pytest

from xrouter.pool.hf_local import HFLocalEndpoint, ModelLoadError
from xrouter.pool.pool import ModelCard, ModelPool
from xrouter.pool.pricing import Price

PRICE = Price(input_per_mtok=0.5, output_per_mtok=1.5, source="test: local GPU time")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SENTENCES = [
    "The cheapest model answers easy questions.",
    "What is two plus two? Four.",
    "A router decides which model to call.",
    "Costs are counted per million tokens.",
] * 4


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    directory = tmp_path_factory.mktemp("tiny-qwen2")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        SENTENCES,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    from tokenizers import decoders

    bpe.decoder = decoders.ByteLevel()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        vocab_size=len(tokenizer),
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    transformers.Qwen2ForCausalLM(config).save_pretrained(directory)
    return directory


def test_local_model_answers_with_real_token_counts_and_cost(tiny_model_dir):
    endpoint = HFLocalEndpoint(name="tiny", model_path=str(tiny_model_dir), price=PRICE, dtype="float32")
    pool = ModelPool({"tiny": endpoint}, {"tiny": ModelCard("tiny", PRICE)})
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is two plus two?"}]

    async def go():
        return await asyncio.gather(
            pool.call("tiny", messages, max_tokens=8),
            pool.call("tiny", messages, max_tokens=8),
            pool.call("tiny", messages, temperature=0.9, max_tokens=4),
        )

    greedy, again, sampled = asyncio.run(go())
    prompt = endpoint.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    expected_input = len(endpoint.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert isinstance(greedy.text, str)
    assert greedy.input_tokens == expected_input > 0
    assert 0 < greedy.output_tokens <= 8 and 0 < sampled.output_tokens <= 4
    assert greedy.cost_usd > 0 and greedy.cost_usd == pytest.approx(
        PRICE.cost(greedy.input_tokens, greedy.output_tokens)
    )
    assert (greedy.text, greedy.output_tokens) == (again.text, again.output_tokens)  # greedy is deterministic
    assert not greedy.usage_estimated and greedy.model == "tiny"
    assert len(pool.ledger) == 3 and pool.ledger.totals()["cost_usd"] == pytest.approx(
        greedy.cost_usd + again.cost_usd + sampled.cost_usd
    )


def test_missing_model_directory_is_a_clear_error(tmp_path):
    endpoint = HFLocalEndpoint(name="gone", model_path=str(tmp_path / "no-such-model"), price=PRICE)
    with pytest.raises(ModelLoadError, match="no-such-model is not a directory"):
        endpoint.load()
    empty = HFLocalEndpoint(name="empty", model_path=str(tmp_path), price=PRICE)
    with pytest.raises(ModelLoadError, match="could not load .* from the local directory"):
        empty.load()

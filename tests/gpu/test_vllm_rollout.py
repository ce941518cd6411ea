"""rollout=vllm on a GPU (skipped without CUDA or without vLLM): HF and vLLM log-probs of the same
sequences agree, a weight sync changes the engine's outputs to the new policy's, and sleeping frees
GPU memory.

The model is the tiny router (offline, no hub) with its tied embedding scaled up so that its
next-token distributions are sharp: a random 0.02-std model is nearly uniform, and any misaligned
comparison of uniform log-probs would pass.  Both sides run in bf16.  Tolerance: mean |HF - vLLM|
<= 0.05 nats per token and max <= 0.5 (bf16 round-off on logits of magnitude ~10; different
kernels), while a one-token misalignment differs by several nats on average.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm (pip install -e '.[gpu]')"),
]

MEAN_TOL, MAX_TOL = 0.05, 0.5


@pytest.fixture(scope="module")
def setup(shared_data_dir, tmp_path_factory):
    from tests.conftest import compose
    from xrouter.build import build_env, build_pool, build_router, router_corpus, router_extra_tokens
    from xrouter.data.benchmarks import load_benchmark
    from xrouter.rollout.agent_loop import AgentLoop
    from xrouter.rollout.vllm import VLLMGenerator
    from xrouter.router.settings import RouterSettings

    cfg = compose(
        "train",
        [
            "rollout=vllm",
            "rollout.max_seq_len=1024",
            "rollout.gpu_memory_utilization=0.3",
            "rollout.enforce_eager=true",
        ],
    )
    pool = build_pool(cfg.pool, shared_data_dir)
    env = build_env(pool, RouterSettings.from_config(cfg, pool.names))
    examples = load_benchmark(cfg.benchmark, shared_data_dir, "train").to_dict("records")[:64]
    model, tokenizer = build_router(
        cfg.router,
        router_corpus(examples, env),
        tmp_path_factory.mktemp("cache"),
        extra_tokens=router_extra_tokens(pool),
    )
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(40.0)  # tied: sharp logits
    path = tmp_path_factory.mktemp("sharp")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    model.config._name_or_path = str(path)
    model = model.to("cuda", torch.bfloat16)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    from omegaconf import OmegaConf

    generator = VLLMGenerator(model, tokenizer, eos, OmegaConf.to_container(cfg.rollout, resolve=True))
    loop = AgentLoop(generator, tokenizer, env, max_seq_len=1024)
    prompts = [loop.prompt_ids(env.reset(e, f"p{i}")) for i, e in enumerate(examples[:8])]
    yield model, tokenizer, generator, prompts
    generator.close()


def hf_logprobs(model, tokenizer, sequences):
    from xrouter.rollout.logprobs import sequence_logprobs

    masks = [[0] + [1] * (len(s) - 1) for s in sequences]
    out = []
    for _, logprobs, mask, _ in sequence_logprobs(
        model, sequences, masks, tokenizer.pad_token_id, 4, device="cuda", share_prefix=False
    ):  # the plain training forward
        for row in range(logprobs.shape[0]):
            out.append(logprobs[row][mask[row].bool()].float().cpu())
    return out


def sample_sequences(generator, prompts, max_new_tokens=24):
    from xrouter.rollout.hf import SamplingConfig

    turns = generator.generate(prompts, SamplingConfig(max_new_tokens=max_new_tokens, do_sample=True))
    return [list(p) + t for p, t in zip(prompts, turns)], turns


def test_hf_and_vllm_logprobs_agree(setup):
    model, tokenizer, generator, prompts = setup
    sequences, _ = sample_sequences(generator, prompts)
    hf = torch.cat(hf_logprobs(model, tokenizer, sequences))
    engine = torch.cat(generator.prompt_logprobs(sequences))
    assert hf.shape == engine.shape
    assert float(hf.std()) > 0.5, "the model is too flat for this test to mean anything"
    diff = (hf - engine).abs()
    assert float(diff.mean()) <= MEAN_TOL and float(diff.max()) <= MAX_TOL, (float(diff.mean()), float(diff.max()))
    misaligned = (hf[1:] - engine[:-1]).abs().mean()
    assert float(misaligned) > 10 * MEAN_TOL


def test_weight_sync_changes_the_engines_outputs(setup):
    from xrouter.rollout.hf import SamplingConfig

    model, tokenizer, generator, prompts = setup
    greedy = SamplingConfig(max_new_tokens=16, do_sample=False)
    before = generator.generate(prompts, greedy)
    sequences = [list(p) + t for p, t in zip(prompts, before)]
    engine_before = torch.cat(generator.prompt_logprobs(sequences))
    with torch.no_grad():  # an "optimizer step": in place, as AdamW does, so the version counters move
        generator_seed = torch.Generator(device="cuda").manual_seed(1)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator_seed, device=p.device, dtype=p.dtype) * p.abs().mean())
    after = generator.generate(prompts, greedy)  # syncs first: the parameters changed
    assert after != before
    engine_after = torch.cat(generator.prompt_logprobs(sequences))
    hf_after = torch.cat(hf_logprobs(model, tokenizer, sequences))
    assert float((engine_after - hf_after).abs().mean()) <= MEAN_TOL  # the engine holds the new weights
    assert float((engine_after - engine_before).abs().mean()) > 10 * MEAN_TOL


def test_release_memory_frees_the_engine_and_the_next_generate_wakes_it(setup):
    from xrouter.rollout.hf import SamplingConfig

    _, _, generator, prompts = setup
    generator.generate(prompts[:2], SamplingConfig(max_new_tokens=4, do_sample=False))
    torch.cuda.synchronize()
    free_awake, _ = torch.cuda.mem_get_info()
    generator.release_memory()
    torch.cuda.synchronize()
    free_asleep, total = torch.cuda.mem_get_info()
    assert free_asleep - free_awake > 0.1 * 0.3 * total  # most of the engine's 30% share came back
    assert len(generator.generate(prompts[:2], SamplingConfig(max_new_tokens=4, do_sample=False))) == 2

"""vLLM rollouts (GPU only, ``pip install -e ".[gpu]"``): a colocated engine behind ``HFGenerator``'s interface.

``VLLMGenerator.generate(prompts, sampling) -> new token ids per prompt`` is what ``AgentLoop``
calls, so tool calls are still parsed by our own parser (the env decodes the returned tokens).

* Colocated: the engine runs inside the training process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``)
  on the same GPU, created lazily on first use with ``distributed_executor_backend=
  "external_launcher"`` so that under DDP it joins the trainer's process group instead of
  creating its own (each rank runs its own engine, tensor parallel 1).
* Memory: with ``enable_sleep_mode`` the module calls ``release_memory()`` after each rollout:
  ``sleep(level=2)`` frees the engine's weights and KV cache for the update; the next
  ``generate`` wakes the weights, loads the current policy into them, then wakes the KV cache.
* Weight sync: the policy's parameters are loaded into the engine (``LLM.apply_model`` ->
  ``model.load_weights``) whenever they changed since the last sync -- detected from the
  parameters' in-place version counters, which every optimizer step (and checkpoint load) bumps.
  So rollouts always sample from the weights after the latest optimizer step.
* Sampling parameters (temperature, top_p, max_new_tokens) come from the config via
  ``SamplingConfig``; greedy is temperature 0.

Under multi-process training, generation requested before the process group exists (the dev
evaluation before RL on rank 0) uses HF ``generate`` on the same model: creating the engine then
would create a one-process group and break the DDP set-up that follows.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from xrouter.rollout.hf import HFGenerator, SamplingConfig

log = logging.getLogger(__name__)

INSTALL_HINT = 'rollout=vllm needs vLLM on a CUDA machine (pip install -e ".[gpu]"); elsewhere use rollout=hf'


def sampling_params_kwargs(sampling: SamplingConfig, eos_token_id: int, seed: int | None = None) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for one router turn (greedy = temperature 0).

    Token ids in, token ids out (``detokenize=False``): the agent loop decodes and our parser
    reads the text.  Generation stops at the end-of-turn token, which is kept in the output."""
    kwargs: dict[str, Any] = {
        "n": 1,
        "max_tokens": int(sampling.max_new_tokens),
        "stop_token_ids": [int(eos_token_id)],
        "detokenize": False,
        "skip_special_tokens": False,
    }
    if sampling.do_sample:
        kwargs.update(temperature=float(sampling.temperature), top_p=float(sampling.top_p), top_k=-1)
        if seed is not None:
            kwargs["seed"] = int(seed)
    else:
        kwargs.update(temperature=0.0)
    return kwargs


def trim_at_eos(tokens: Sequence[int], eos_token_id: int) -> list[int]:
    """The turn up to and including the first end-of-turn token (all of it when there is none)."""
    tokens = list(tokens)
    return tokens[: tokens.index(eos_token_id) + 1] if eos_token_id in tokens else tokens


class VLLMGenerator:
    """Generates router turns with a colocated vLLM engine holding a copy of ``model``'s weights."""

    def __init__(self, model, tokenizer, eos_token_id: int, rollout: Mapping[str, Any]) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise ImportError(INSTALL_HINT) from None
        if not torch.cuda.is_available():
            raise RuntimeError(f"{INSTALL_HINT}: no CUDA device is visible")
        self.model, self.tokenizer = model, tokenizer
        self.eos_token_id, self.pad_token_id = eos_token_id, tokenizer.pad_token_id
        self.options = dict(rollout)
        self.device: str | torch.device = "cuda"
        self.batch_size = int(self.options.get("generate_batch_size", 256))
        self.sleep_mode = bool(self.options.get("enable_sleep_mode", True))
        self.sleep_level = int(self.options.get("sleep_level", 2))
        self.expected_world_size = _world_size(self.options.get("world_size"))
        self.llm = None
        self._asleep = False
        self._synced_version: tuple[int, ...] | None = None
        self._requests = 0
        self._hf_fallback = HFGenerator(model, tokenizer, eos_token_id, batch_size=self.batch_size)

    # ---- engine life cycle ------------------------------------------------------------------
    def _engine(self):
        if self.llm is not None:
            return self.llm
        import torch.distributed as dist

        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: apply_model sees our tensors
        if not dist.is_initialized():  # external_launcher reads the torch.distributed variables
            os.environ.setdefault("RANK", "0")
            os.environ.setdefault("LOCAL_RANK", "0")
            os.environ.setdefault("WORLD_SIZE", "1")
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
        from vllm import LLM

        path = self.options.get("model_path") or self.model.config._name_or_path
        if not path:
            raise ValueError(
                "rollout=vllm needs the router's weights on disk (router.path or a saved tiny router); "
                "set rollout.model_path=<dir with config.json>"
            )
        rank = dist.get_rank() if dist.is_initialized() else 0
        dtype = self.options.get("dtype") or str(next(self.model.parameters()).dtype).removeprefix("torch.")
        self.llm = LLM(
            model=str(path),
            skip_tokenizer_init=True,
            dtype=dtype,
            gpu_memory_utilization=float(self.options.get("gpu_memory_utilization", 0.4)),
            max_model_len=int(self.options["max_seq_len"]),
            enable_sleep_mode=self.sleep_mode,
            enable_prefix_caching=bool(self.options.get("enable_prefix_caching", True)),
            enforce_eager=bool(self.options.get("enforce_eager", False)),
            distributed_executor_backend="external_launcher",
            tensor_parallel_size=1,
            seed=int(self.options.get("seed", 0)) + rank,
        )
        self._synced_version = None  # the engine holds the weights on disk, not the current policy
        log.info(
            "vLLM engine for %s (dtype %s, gpu_memory_utilization %s, sleep mode %s)",
            path,
            dtype,
            self.options.get("gpu_memory_utilization"),
            self.sleep_mode,
        )
        return self.llm

    def _weights_version(self) -> tuple[int, ...]:
        return tuple(p._version for p in self.model.parameters())

    def _ready(self):
        """The engine awake and holding the current policy's weights."""
        llm = self._engine()
        changed = False
        if self._asleep:
            llm.wake_up(tags=["weights"])  # weights first: loading them needs no KV cache memory
            if self.sleep_level == 2:
                self._synced_version = None  # level 2 sleep discarded them
        if self._synced_version != self._weights_version():
            self._load_weights()
            changed = True
        if self._asleep:
            llm.wake_up(tags=["kv_cache"])
            self._asleep, changed = False, True
        if changed:  # cached prefixes hold keys/values of other weights, or were discarded
            llm.reset_prefix_cache()
        return llm

    @torch.no_grad()
    def _load_weights(self) -> None:
        weights = [(name, tensor.detach()) for name, tensor in self.model.state_dict().items()]

        def load(engine_model) -> None:
            engine_model.load_weights(weights=iter(weights))

        self._engine().apply_model(load)
        self._synced_version = self._weights_version()

    def sync_weights(self) -> None:
        """Load the policy's current parameters into the engine now (it also happens lazily, on
        the first ``generate`` after they changed)."""
        self._ready()

    def release_memory(self) -> None:
        """Free the engine's GPU memory (weights and KV cache) until the next ``generate``."""
        if self.llm is not None and self.sleep_mode and not self._asleep:
            self.llm.sleep(level=self.sleep_level)
            self._asleep = True
            if self.sleep_level == 2:
                self._synced_version = None

    # ---- generation ---------------------------------------------------------------------------
    def _use_hf_fallback(self) -> bool:
        import torch.distributed as dist

        return self.llm is None and self.expected_world_size > 1 and not dist.is_initialized()

    def generate(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig) -> list[list[int]]:
        if self._use_hf_fallback():
            self._hf_fallback.device = self.device
            return self._hf_fallback.generate(prompts, sampling)
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        llm = self._ready()
        self._requests += 1
        seed = int(self.options.get("seed", 0)) * 1_000_003 + self._requests if sampling.do_sample else None
        params = SamplingParams(**sampling_params_kwargs(sampling, self.eos_token_id, seed))
        outputs = llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        return [trim_at_eos(output.outputs[0].token_ids, self.eos_token_id) for output in outputs]

    def prompt_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """log p(token t | tokens < t) for t = 1..T-1 of each sequence, as the engine computes them
        (raw logits, temperature 1): what ``sequence_logprobs`` gives on the HF side."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        llm = self._ready()
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        outputs = llm.generate([TokensPrompt(prompt_token_ids=list(s)) for s in sequences], params, use_tqdm=False)
        result = []
        for sequence, output in zip(sequences, outputs):
            values = [entry[token].logprob for token, entry in zip(sequence[1:], output.prompt_logprobs[1:])]
            result.append(torch.tensor(values, dtype=torch.float32))
        return result

    def close(self) -> None:
        if self.llm is not None:
            import gc

            self.llm = None
            gc.collect()
            torch.cuda.empty_cache()


def _world_size(devices: Any) -> int:
    """Processes the trainer will run: ``trainer.devices`` as an int; "auto"/-1 mean every visible GPU."""
    try:
        value = int(devices if devices is not None else 1)
    except (TypeError, ValueError):
        value = -1
    return torch.cuda.device_count() if value < 0 else max(value, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

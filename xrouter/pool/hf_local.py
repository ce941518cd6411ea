"""``HFLocalEndpoint``: a transformers causal LM on this machine as a priced pool model.

The model loads on first use (or ``load()``), from a local directory or a Hugging Face Hub id.
Generation runs in a worker thread under a lock (one ``generate`` at a time), so the event loop
stays free for the other endpoints; token counts are the real ones, priced with the model's
``Price`` (e.g. amortised GPU time).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xrouter.pool.base import Completion, Message
from xrouter.pool.pricing import Price

DTYPES = ("auto", "float32", "float16", "bfloat16")


class ModelLoadError(OSError):
    """The model or its tokenizer could not be loaded (missing directory, no Hub access, ...)."""


class HFLocalEndpoint:
    """A local ``AutoModelForCausalLM`` with its tokenizer's chat template.

    ``device``: ``cpu``, ``cuda``, ``cuda:1``, ... ; ``dtype``: one of ``DTYPES`` (``auto`` keeps
    the checkpoint's).  Greedy decoding when ``temperature == 0``, else sampling at that temperature.
    ``max_tokens`` of a call (else ``max_new_tokens``) bounds the generated tokens.
    """

    def __init__(
        self,
        *,
        name: str,
        model_path: str,
        price: Price,
        device: str = "cpu",
        dtype: str = "auto",
        max_new_tokens: int = 256,
        trust_remote_code: bool = False,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.name = name
        self.model_path = str(model_path)
        self.price = price
        self.device = device
        self.dtype = dtype
        self.max_new_tokens = int(max_new_tokens)
        self.trust_remote_code = trust_remote_code
        self.model: Any = None
        self.tokenizer: Any = None
        self._lock = threading.Lock()  # one load / generate at a time, across event loops and threads

    def __repr__(self) -> str:
        return f"HFLocalEndpoint(name={self.name!r}, model_path={self.model_path!r}, device={self.device!r})"

    def load(self) -> HFLocalEndpoint:
        """Load model and tokenizer now (idempotent); raise ModelLoadError with what to do."""
        with self._lock:
            self._load_locked()
        return self

    def _load_locked(self) -> None:
        if self.model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(self.model_path).expanduser()
        looks_local = path.is_absolute() or self.model_path.startswith((".", "~")) or path.exists()
        if looks_local and not path.is_dir():
            raise ModelLoadError(
                f"pool model '{self.name}': model_path {self.model_path} is not a directory; "
                "point model_path at a local folder holding config.json, the weights and the "
                "tokenizer (e.g. one written by save_pretrained or `hf download <id> --local-dir`)"
            )
        source = str(path) if looks_local else self.model_path
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=self.trust_remote_code)
            dtype = "auto" if self.dtype == "auto" else getattr(torch, self.dtype)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=self.trust_remote_code)
        except (OSError, ValueError) as error:
            where = (
                "the local directory"
                if looks_local
                else "the Hugging Face Hub id (download it where there is internet: "
                f"`hf download {self.model_path} --local-dir <dir>`, then set model_path to <dir>)"
            )
            raise ModelLoadError(
                f"pool model '{self.name}': could not load '{self.model_path}' from {where}: "
                f"{type(error).__name__}: {str(error)[:300]}"
            ) from error
        if tokenizer.chat_template is None:
            raise ModelLoadError(
                f"pool model '{self.name}': the tokenizer at '{self.model_path}' has no chat "
                "template; use an instruct/chat checkpoint or set tokenizer.chat_template"
            )
        model.to(self.device).eval()
        self.tokenizer, self.model = tokenizer, model

    async def complete(
        self,
        messages: Sequence[Message],
        temperature: float = 0.0,
        max_tokens: int | None = None,
        *,
        prompt_id: str | None = None,
    ) -> Completion:
        started = time.perf_counter()
        text, input_tokens, output_tokens = await asyncio.to_thread(
            self._generate, list(messages), float(temperature or 0.0), max_tokens or self.max_new_tokens
        )
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self.price.cost(input_tokens, output_tokens),
            latency_s=time.perf_counter() - started,
            model=self.name,
        )

    def _generate(self, messages: list[Message], temperature: float, max_new_tokens: int) -> tuple[str, int, int]:
        import torch

        with self._lock:
            self._load_locked()
            tokenizer, model = self.tokenizer, self.model
            prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
            pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            sampling = (
                {"do_sample": True, "temperature": temperature}
                if temperature > 0
                else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
            )
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=pad_id, **sampling)
        prompt_length = inputs["input_ids"].shape[1]
        new_tokens = output[0, prompt_length:].tolist()
        if pad_id is not None and pad_id != tokenizer.eos_token_id:
            while new_tokens and new_tokens[-1] == pad_id:
                new_tokens.pop()
        text = tokenizer.decode(new_tokens, skip_special_tokens=True)
        return text, int(prompt_length), len(new_tokens)

"""Router model + tokenizer factory: load a hub id / local path, or build the tiny CPU router.

The tiny router is a Qwen2-architecture causal LM built from a config (about 1-5M parameters) with
a byte-level BPE tokenizer trained on the training prompts and the router's own texts (system
prompt, tool schemas), Qwen's special tokens and a tool-capable chat template.  It is built once
per (config, texts) and cached.  A random model cannot emit tool calls, so training starts with a
short supervised cold start on generated valid trajectories (``xrouter.rl.cold_start``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from xrouter.router.chat_format import ADDED_TOKENS, CHAT_TEMPLATE, EOS, IM_END, SPECIAL_TOKENS

log = logging.getLogger(__name__)


def train_bpe_tokenizer(
    texts: Iterable[str], vocab_size: int, extra_tokens: Iterable[str] = ()
) -> PreTrainedTokenizerFast:
    """Byte-level BPE with Qwen's special tokens, wrapped as PreTrainedTokenizerFast (left padding).

    ``extra_tokens`` become whole (non-special) tokens: the tiny router gets its tool names and the
    tool-call JSON scaffolding as single tokens, so a call is ~8 tokens instead of ~35 and both
    the cold start and RL have far fewer tokens to get right."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS + ADDED_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    # AutoTokenizer would swap the pre-tokenizer for Qwen2's and change token ids: wrap it directly
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=IM_END, pad_token=EOS, padding_side="left", chat_template=CHAT_TEMPLATE
    )
    tokenizer.add_tokens(ADDED_TOKENS + [t for t in extra_tokens if t not in ADDED_TOKENS])
    return tokenizer


def tiny_model(tokenizer: PreTrainedTokenizerFast, arch: Mapping[str, Any], seed: int = 0) -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **dict(arch),
    )
    with torch.random.fork_rng(devices=[]):  # seeded weights, and the caller's RNG left as it was
        torch.manual_seed(seed)
        return Qwen2ForCausalLM(config)


def build_tiny_router(
    texts: list[str],
    arch: Mapping[str, Any],
    vocab_size: int,
    cache_dir: Path,
    seed: int = 0,
    extra_tokens: list[str] | None = None,
    prefix: Mapping[str, int] | None = None,
) -> tuple[Qwen2ForCausalLM, PreTrainedTokenizerFast]:
    """The tiny router for these texts, from the cache when it was built before.  ``prefix``
    (``condition_dim``, ``prefix_tokens``, ``projector_hidden``) makes it a prefix router
    (``xrouter/router/prefix_lm.py``: router=tiny_encoder)."""
    from xrouter.router.prefix_lm import ARCH_VERSION, PREFIX_TOKEN, prefix_router

    extra_tokens = list(extra_tokens or []) + ([PREFIX_TOKEN] if prefix else [])
    key_parts = [sorted(set(texts)), dict(arch), vocab_size, seed, extra_tokens] + (
        [dict(prefix), ARCH_VERSION] if prefix else []
    )
    key = hashlib.sha1(json.dumps(key_parts).encode()).hexdigest()[:16]
    path = Path(cache_dir) / ("tiny_encoder_router" if prefix else "tiny_router") / key
    if (path / "config.json").exists():
        return load_router(path)
    tokenizer = train_bpe_tokenizer(texts, vocab_size, extra_tokens)
    model = (
        prefix_router(tokenizer, dict(arch), seed=seed, **dict(prefix)) if prefix else tiny_model(tokenizer, arch, seed)
    )
    # built aside and renamed into place: a parallel job (xdist, a joblib multirun) never loads half a router
    staging = path.with_name(f".{key}.{os.getpid()}.tmp")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if path.exists() and not (path / "config.json").exists():
        shutil.rmtree(path, ignore_errors=True)  # left half-written by a job that died
    try:
        staging.rename(path)
    except OSError:  # another job put the same router there first: its weights are these
        shutil.rmtree(staging, ignore_errors=True)
    log.info("built tiny router (%.2fM parameters) at %s", sum(p.numel() for p in model.parameters()) / 1e6, path)
    # the run goes on with the saved router, as every later run will: a model fresh from its constructor is in train
    # mode where a loaded one is in eval mode, and that alone made a first run's RL differ from the next ones
    return load_router(path)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Left-padded tokenizer; a local tokenizer.json is loaded with PreTrainedTokenizerFast as is."""
    local = Path(path)
    if (local / "tokenizer.json").exists():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(local, padding_side="left")
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def require_projector_weights(path: Path) -> None:
    """A prefix router directory whose weights lack the projector is an error, not a random projector."""
    from safetensors import safe_open

    files = sorted(path.glob("*.safetensors"))
    names: set[str] = set()
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names.update(handle.keys())
    if files and not any(name.startswith("projector.") for name in names):
        raise FileNotFoundError(
            f"router directory {path} is a prefix router (config.json names prefix_tokens) but its "
            "weights hold no projector: it was saved incompletely; retrain it or copy the whole "
            "router directory"
        )


def load_router(path: str | Path, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"):
    """A router saved with ``save_pretrained`` (model, tokenizer, chat template), or a hub id."""
    if not Path(path).exists() and "/" not in str(path):
        raise FileNotFoundError(f"router '{path}' is neither a local directory nor a hub id (org/name)")
    try:
        tokenizer = load_tokenizer(path)
        model_class = AutoModelForCausalLM
        config_file = Path(path) / "config.json"
        if config_file.exists():
            from xrouter.router.prefix_lm import PrefixQwen2ForCausalLM, is_prefix_router_config

            if is_prefix_router_config(json.loads(config_file.read_text())):
                model_class = PrefixQwen2ForCausalLM
                require_projector_weights(Path(path))
        model = model_class.from_pretrained(str(path), dtype=dtype).to(device)
    except OSError as error:
        raise FileNotFoundError(
            f"cannot load router '{path}': {error}. Offline, give a local directory "
            "holding config.json, the weights and tokenizer files"
        ) from None
    return model, tokenizer

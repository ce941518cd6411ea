"""Offline token counts with the ``bpe-openai`` package (its encodings ship inside the wheel).

``tiktoken`` downloads its encodings on first use and so fails offline; ``bpe-openai`` bundles
``o200k_base`` and ``cl100k_base`` and encodes the same way.  Text is counted as ordinary text:
a response that happens to contain ``<|endoftext|>`` is counted as the characters it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=4)
def _encoding(name: str):
    import bpe_openai

    return bpe_openai.get_encoding(name)


def count_tokens(texts: Sequence[str | None], encoding: str = "o200k_base") -> list[int]:
    """Number of tokens of each text under ``encoding`` (None counts as 0)."""
    enc = _encoding(encoding)
    return [len(enc.encode_ordinary(t)) if t else 0 for t in texts]

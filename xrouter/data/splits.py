"""The one definition of seeded, stable splits: a hash of an example's id, never file order or Python's hash.

Every split in xrouter comes from ``hash_fraction``: the dev slice carved from a train split
(``split_dev``), the ``{kind: hash}`` split rules of benchmark configs (``assign_splits``), and the
train/dev/test split of test-only datasets such as ZeroEval.  The hash is the one RL dev splits
have always used (``sha1("<seed>:<id>")``), so the RouterBench dev slice of earlier runs is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any


def hash_fraction(key: str, seed: int = 0) -> float:
    """A uniform number in [0, 1] fixed by ``seed`` and ``key`` alone."""
    digest = hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


def split_dev(
    examples: Sequence[dict[str, Any]], fraction: float, seed: int, max_dev: int | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, dev): ``dev`` holds the examples whose ``prompt_id`` hashes below ``fraction``.

    With ``max_dev`` only the ``max_dev`` lowest-hashing dev examples are kept (the others are dropped,
    not returned to train, so a smaller dev slice never changes the training prompts).
    """
    buckets = [hash_fraction(e["prompt_id"], seed) for e in examples]
    dev = [e for e, x in zip(examples, buckets) if x < fraction]
    train = [e for e, x in zip(examples, buckets) if x >= fraction]
    if max_dev is not None and len(dev) > max_dev:
        dev = sorted(dev, key=lambda e: hash_fraction(e["prompt_id"], seed))[:max_dev]
    return train, dev


def assign_splits(ids: Sequence[str], upstream: Sequence[str], rule: Mapping[str, Any] | None) -> list[str]:
    """The split of each example under ``rule``.

    ``{kind: upstream}`` keeps the upstream split names, ``{kind: test_only}`` makes everything test,
    ``{kind: hash, seed, fractions: {name: share, ...}, from}`` buckets each id by ``hash_fraction``
    into the named shares in order; with ``from``, only that upstream split is divided and the others
    keep their name.
    """
    rule = dict(rule or {"kind": "upstream"})
    kind = rule.get("kind", "upstream")
    if kind == "upstream":
        return list(upstream)
    if kind == "test_only":
        return ["test"] * len(ids)
    if kind != "hash":
        raise ValueError(f"unknown splits kind {kind!r}; use upstream, test_only or hash")
    fractions = dict(rule["fractions"])
    if abs(sum(fractions.values()) - 1.0) > 1e-9:
        raise ValueError(f"split fractions {fractions} do not sum to 1")
    out = []
    for example_id, up in zip(ids, upstream):
        if rule.get("from") and up != rule["from"]:
            out.append(up)
            continue
        x, edge, name = hash_fraction(example_id, int(rule.get("seed", 0))), 0.0, None
        for name, share in fractions.items():  # noqa: B007 (the name the loop stops at is appended below)
            edge += share
            if x < edge:
                break
        out.append(name)
    return out

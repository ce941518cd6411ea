"""The one split definition: stable, seeded, and shared by dev slices and benchmark split rules."""

import pytest

from xrouter.data.splits import assign_splits, hash_fraction, split_dev


def test_hash_fraction_is_fixed_by_seed_and_key():
    assert hash_fraction("a", 0) == hash_fraction("a", 0)
    assert hash_fraction("a", 0) != hash_fraction("a", 1)
    values = [hash_fraction(f"id-{i}", 3) for i in range(2000)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert 0.45 < sum(values) / len(values) < 0.55


def test_split_dev_is_independent_of_order_and_keeps_train_when_dev_is_capped():
    examples = [{"prompt_id": f"p{i}"} for i in range(1000)]
    train, dev = split_dev(examples, 0.1, seed=0)
    train_rev, dev_rev = split_dev(examples[::-1], 0.1, seed=0)
    assert {e["prompt_id"] for e in dev} == {e["prompt_id"] for e in dev_rev}
    assert 60 < len(dev) < 140 and len(train) + len(dev) == 1000
    capped_train, capped_dev = split_dev(examples, 0.1, seed=0, max_dev=10)
    assert capped_train == train and len(capped_dev) == 10
    assert {e["prompt_id"] for e in capped_dev} <= {e["prompt_id"] for e in dev}


def test_assign_splits_hash_rule_matches_the_dev_split():
    ids = [f"q{i}" for i in range(500)]
    splits = assign_splits(ids, ["train"] * 500, {"kind": "hash", "seed": 0, "fractions": {"dev": 0.1, "train": 0.9}})
    _, dev = split_dev([{"prompt_id": i} for i in ids], 0.1, seed=0)
    assert [i for i, s in zip(ids, splits) if s == "dev"] == [e["prompt_id"] for e in dev]


def test_assign_splits_rules():
    assert assign_splits(["a", "b"], ["train", "test"], None) == ["train", "test"]
    assert assign_splits(["a", "b"], ["train", "test"], {"kind": "test_only"}) == ["test", "test"]
    kept = assign_splits(["a", "b"], ["train", "test"], {"kind": "hash", "from": "train", "fractions": {"dev": 1.0}})
    assert kept == ["dev", "test"]
    with pytest.raises(ValueError, match="do not sum to 1"):
        assign_splits(["a"], ["train"], {"kind": "hash", "fractions": {"train": 0.5}})
    with pytest.raises(ValueError, match="unknown splits kind"):
        assign_splits(["a"], ["train"], {"kind": "random"})

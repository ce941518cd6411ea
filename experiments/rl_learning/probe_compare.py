"""Paired comparison of routing-head settings with head_probe.py: each variant against the reference on the same
dev slices (default 20), printed as its mean dev AIQ, the mean paired difference +- its standard error, and on how
many slices it stays below the single models' hull.

    .venv/bin/python experiments/rl_learning/probe_compare.py --pool zeroeval_math --base select=reward \\
        cosine=1 kl=0.05,cosine=1 steps=50

A variant is ``key=value[,key=value...]`` over head_probe.py's options (underscores: ``zero_prob=0.2``); ``--base``
changes the reference (and every variant) the same way.  The reference is the recipe: lambda from 0.01, the
recipe's ``lam_grid``, KL 0.2 to the uniform start, 150 rollouts of 64 prompts x 8, 3 epochs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import head_probe  # noqa: E402  (a sibling script, not a package)

RECIPE_GRID = ["0", "0.01", "0.03", "0.1", "0.2", "0.3", "0.5", "1", "2", "3", "5", "10", "30"]  # rl_only's lam_grid
RECIPE = vars(head_probe.arguments().parse_args(["--lam-low", "0.01", "--grid", *RECIPE_GRID]))
"""head_probe.py's defaults with the recipe's lambda range (reward.lam_sampling.low 0.01) and lam_grid."""
SETTINGS = sorted(set(RECIPE) - {"grid", "seeds", "data_dir", "cache_dir", "threads", "pool"})


def with_changes(settings: dict, changes: str) -> dict:
    """``settings`` with ``key=value,...`` applied, each value cast to the type of the setting it replaces."""
    settings = dict(settings)
    for change in filter(None, changes.split(",")):
        key, _, value = change.partition("=")
        if key not in SETTINGS:
            raise SystemExit(f"unknown probe setting {key!r}; one of {SETTINGS}")
        kind = type(settings[key])
        settings[key] = value in ("1", "true", "True") if kind is bool else kind(value)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="key=value[,key=value...] changes to compare with the reference")
    parser.add_argument("--pool", default="routerbench")
    parser.add_argument("--base", default="", help="key=value,... applied to the reference and every variant")
    parser.add_argument("--seeds", type=int, default=20, help="dev slices (seeds 0 .. n-1)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache"))
    args = parser.parse_args()
    base = with_changes(RECIPE, args.base)
    variants = {variant: argparse.Namespace(**with_changes(base, variant)) for variant in ["", *args.variants]}
    for settings in variants.values():  # every variant checked before the first one runs
        head_probe.check_settings(settings)
    torch.set_num_threads(1)
    data = head_probe.load(args.pool, Path(os.environ.get("XROUTER_DATA_DIR", "data")), args.cache_dir)
    reference: list[float] = []
    for variant, settings in variants.items():
        results = [head_probe.run(data, settings, seed) for seed in range(args.seeds)]
        aiqs, hulls = [r[0] for r in results], [r[1] for r in results]
        reference = reference or aiqs
        paired = [a - r for a, r in zip(aiqs, reference)]
        below = sum(a < h for a, h in zip(aiqs, hulls))
        print(
            f"{args.pool} {variant or 'reference (' + (args.base or 'the recipe') + ')':32s} dev AIQ "
            f"{statistics.fmean(aiqs):.4f}  hull {statistics.fmean(hulls):.4f}  vs reference "
            f"{statistics.fmean(paired):+.4f} +- {statistics.stdev(paired) / len(paired) ** 0.5:.4f}  "
            f"below the hull on {below}/{len(aiqs)}",
            flush=True,
        )


if __name__ == "__main__":
    main()

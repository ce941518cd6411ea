"""Evaluation: run policies over benchmarks, summarise episodes, metrics and baselines.

Run directories follow the contract documented in ``analysis/__init__.py`` (summary.json with the
policy identity and per_benchmark figures, episodes.parquet, config.yaml).
"""

"""Evaluation: run policies over benchmarks, summarise episodes, metrics and baselines."""

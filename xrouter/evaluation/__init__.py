"""Evaluation: run a routing rule (a policy) over a benchmark split and write its run files.

``router_policy`` (which router weights and settings ``policy=router|router_prompted`` means) and
``router_run`` (the router's loop, greedy, over examples); ``baseline_policy`` (build, sweep and run
a baseline) and ``engines`` (the replay fast path and the environment path that run a baseline's
choices); ``runfiles`` (the run-directory contract of ``analysis/__init__.py``: summary.json with the
policy identity and per_benchmark figures, episodes.parquet, config.yaml).
"""

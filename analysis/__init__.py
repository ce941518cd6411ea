"""Analysis layer: reads only the files runs write (episodes, summaries, ledgers) -> tables and plots.

Modules: ``runs`` (find run directories by glob -> one tidy DataFrame), ``scores`` (Pareto frontier
and AIQ on a panel's common cost range, from ``xrouter.metrics``), ``plots`` (Pareto and
call-share figures), ``tables`` (runs and families ranked by AIQ, sweep/lambda tables, markdown and
LaTeX), ``make_figures``, ``paper_tables``, ``run_figure`` and ``training_runs`` (the CLIs), ``robustness``
(a robustness report), ``reference/`` (published xRouter figures).

The run-file contract with evaluation (``xrouter.evaluate`` and ``xrouter.train`` write it):

An evaluation run is a directory containing:
- `summary.json`: `n, accuracy, cost_per_query, total_cost_usd, cost_per_correct, calls_per_query, direct_answer_rate,
  model_share` (dict model -> share of calls) as produced today by `xrouter/env/summary.py::summarize_episodes`, plus
  the run's identity: `policy` (one of router, router_prompted, single, random, cheapest, oracle, best_fixed_per_task,
  knn, mlp, cascade, threshold, agreement, barp, cscr: conf/policy/), `label` (short human label, e.g. "knn k=10",
  "single gpt-4-1106-preview", "xrouter lam=1"), `knob` (dict of the policy's own sweep parameter(s), e.g.
  {"lam": 1.0} or {"threshold": 0.3} or {} ),
  `benchmark` (the benchmark config name, e.g. routerbench), `pool` (pool config name), `split`, and `per_benchmark`:
  {sub-benchmark name (the `benchmark` column of episodes, e.g. arc-challenge / winogrande / mbpp): {n, accuracy,
  cost_per_query, model_share}}.
- `episodes.parquet`: one row per episode, the columns of `Episode.summary()` in xrouter/env/episode.py (episode_id,
  prompt_id, benchmark, termination, final_source, final_answer, score, tool_cost_usd, router_cost_usd, turns, n_calls,
  models_called, n_malformed, strategy, reward_*), plus `latency_s`.
- `config.yaml`: the resolved Hydra config.
Training runs from `python -m xrouter.train` write the same files under `<train output_dir>/eval_test/` (policy
"router", knob {"lam": reward.lam}); the analysis layer finds run directories by globbing for `summary.json`.
"""

"""``python -m xrouter.record pool=<pool> benchmark=<b> split=<s> output=<file.jsonl>``: record traces.

Every pool model (or ``models=[a,b]``) answers every example of the split (or the first ``limit``);
each answer becomes one canonical trace row (``xrouter/data/traces.py``) plus ``error`` (null on
success; the endpoint's message, which never holds a key) and ``attempts`` (HTTP tries).

* Append-only: each row is written as one JSON line, flushed at once and fsynced every
  ``fsync_every`` rows, so a kill loses only the calls in flight.  A rerun reads the file (a last
  line cut short by a kill is dropped with a warning), skips the (prompt_id, model) pairs already
  recorded and calls again those whose newest row has an error (``retry_errors=true``).  A retried
  pair may thus appear twice; the newest row wins (:func:`compact_traces`).  At an orderly end the
  compacted traces are written to ``<output stem>.parquet``.
* ``concurrency`` calls in flight (asyncio workers); a tqdm bar shows USD spent and errors.
* ``max_usd`` caps this run's spending (the pool ledger's; earlier runs' rows do not count).  Each
  call's cost is estimated first (input: characters / 4 tokens; output: ``max_tokens``, else the
  model's mean so far, else ``estimate_output_tokens``); it starts only if spent + the estimates of
  the calls in flight + its own fit under the cap, else it waits for calls in flight to finish (their
  actual costs replace their estimates); with none in flight and still no room, the run stops.  So
  spent <= max_usd + what the calls in flight cost beyond their estimates, at most max_usd +
  ``concurrency`` x the dearest call.  Costs come only from the pool's validated completions (never
  negative: a reply with impossible usage is an error row costing 0), so the spend only grows and
  the cap holds whatever upstream reports.  Exit code 0; rerun with a higher cap to go on.
* SIGINT / SIGTERM: no new calls; the calls in flight finish and are written (a second signal
  abandons them); exit code 130 (SIGINT) or 143 (SIGTERM).  Bad options or an unwritable output:
  one line on stderr, exit code 2.
* The last line printed is a JSON summary: pairs, rows_written, skipped_done, errors, usd, remaining,
  stopped (complete | budget | interrupted | terminated), exit_code, output, parquet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from xrouter import CONF_DIR
from xrouter.config import data_dir_of, quiet_logs, to_plain
from xrouter.recording.jsonl_file import (  # noqa: F401
    ROW_COLUMNS,
    RecordError,
    RowWriter,
    compact_traces,
    pair_status,
    prepare_output,
    scan_rows,
)
from xrouter.recording.loop import Recorder, plain_value, served_name

log = logging.getLogger(__name__)
EXIT_CODES = {"complete": 0, "budget": 0, "interrupted": 130, "terminated": 143}


def select_models(pool: Any, pool_name: str, models: Any) -> list[str]:
    if models is None or models == "":
        return pool.names
    wanted = [m.strip() for m in models.split(",")] if isinstance(models, str) else [str(m) for m in models]
    unknown = [m for m in wanted if m not in pool]
    if unknown or not wanted:
        raise RecordError(
            f"models={wanted}: {unknown or 'empty'} not in pool '{pool_name}', whose models are: "
            f"{', '.join(pool.names)}"
        )
    return [m for m in pool.names if m in wanted]


def check_options(cfg: Any) -> None:
    if int(cfg.concurrency) < 1:
        raise RecordError(f"concurrency={cfg.concurrency}: use at least 1")
    if cfg.get("limit") is not None and int(cfg.limit) < 0:
        raise RecordError(f"limit={cfg.limit}: use a number >= 0 (or null for every example)")
    if cfg.get("max_usd") is not None and float(cfg.max_usd) < 0:
        raise RecordError(f"max_usd={cfg.max_usd}: use a number >= 0 (or null for no cap)")


def run_record(cfg: DictConfig) -> dict:
    """Record the configured pool over the benchmark split; return the summary (also printed)."""
    from xrouter.build import build_pool
    from xrouter.data.benchmarks import load_benchmark

    quiet_logs()
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # openai 3's httpx fork logs every request
    check_options(cfg)
    output = prepare_output(cfg.get("output"))
    data_dir, cache_dir = data_dir_of(cfg), cfg.paths.get("cache_dir")
    cache_dir = Path(cache_dir) if cache_dir else None
    pool_name = str(cfg.pool.get("name", "pool"))
    pool = build_pool(cfg.pool, data_dir, cache_dir)
    models = select_models(pool, pool_name, to_plain(cfg.get("models")))
    examples = load_benchmark(cfg.benchmark, data_dir, split=str(cfg.split), cache_dir=cache_dir)
    if cfg.get("limit") is not None:
        examples = examples.head(int(cfg.limit))
    if examples.empty:
        raise RecordError(f"benchmark={cfg.benchmark.get('name')} split={cfg.split}: no examples")
    status = pair_status(output, repair=True)
    finished = {pair for pair, failed in status.items() if not (failed and cfg.retry_errors)}
    rows = [{k: plain_value(v) for k, v in r.items()} for r in examples.to_dict("records")]
    todo = [(r, m) for r in rows for m in models if (r["prompt_id"], m) not in finished]
    pairs = len(rows) * len(models)
    sources = {m: f"record:{pool_name}:{served_name(pool.endpoint(m), m)}" for m in models}
    print(
        f"record: {len(rows)} examples x {len(models)} models = {pairs} pairs; {pairs - len(todo)} done in "
        f"{output}; {len(todo)} to call",
        flush=True,
    )
    writer = RowWriter(output, cfg.fsync_every)
    recorder = Recorder(cfg, pool, writer, sources)
    try:
        stopped = asyncio.run(recorder.run(todo))
    finally:
        writer.close()
    parquet = output.with_suffix(".parquet")
    compact_traces(output).to_parquet(parquet, index=False)
    ok = recorder.written - recorder.errors
    summary = {
        "pairs": pairs,
        "rows_written": recorder.written,
        "skipped_done": pairs - len(todo),
        "errors": recorder.errors,
        "usd": float(pool.ledger.totals()["cost_usd"]),
        "remaining": len(todo) - ok,
        "stopped": stopped,
        "max_usd": recorder.max_usd,
        "exit_code": EXIT_CODES[stopped],
        "output": str(output),
        "parquet": str(parquet),
    }
    print(
        f"record: {summary['rows_written']} rows written ({summary['errors']} with errors), "
        f"{summary['skipped_done']} skipped as done, ${summary['usd']:.6f} spent; {summary['remaining']} "
        f"pairs left; traces in {output} and {parquet}"
    )
    if stopped == "budget":
        print(
            f"record: stopped by the budget: the next call would take this run past max_usd={recorder.max_usd:g} "
            f"(spent ${summary['usd']:.6f}); rerun with a higher max_usd to record the rest"
        )
    elif stopped != "complete":
        print(f"record: stopped ({stopped}); rerun the same command to record the rest")
    print(json.dumps(summary), flush=True)
    return summary


@hydra.main(config_path=str(CONF_DIR), config_name="record", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        summary = run_record(cfg)
    except RecordError as error:
        print(f"record: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("record: interrupted outside the recording loop; the rows written so far are kept", file=sys.stderr)
        sys.exit(130)
    if summary["exit_code"]:
        sys.exit(summary["exit_code"])


if __name__ == "__main__":
    main()

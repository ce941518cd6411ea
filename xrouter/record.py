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
  ``concurrency`` x the dearest call.  Exit code 0; rerun with a higher cap to go on.
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
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import hydra
import pandas as pd
from omegaconf import DictConfig

from xrouter import CONF_DIR
from xrouter.config import data_dir_of, quiet_http_loggers, to_plain
from xrouter.data.traces import OPTIONAL_COLUMNS, TRACE_COLUMNS, validate_traces
from xrouter.pool.base import EndpointError
from xrouter.pool.openai_compat import estimate_tokens

log = logging.getLogger(__name__)
EXIT_CODES = {"complete": 0, "budget": 0, "interrupted": 130, "terminated": 143}
ROW_COLUMNS = list(TRACE_COLUMNS) + list(OPTIONAL_COLUMNS) + ["attempts"]


class RecordError(ValueError):
    """A bad option or output path: reported in one line, without a traceback."""


# ---- the JSONL file --------------------------------------------------------------------------------
def scan_rows(path: Path, on_row: Callable[[dict], None], repair: bool = False) -> None:
    """Call ``on_row`` for each row of a recorder JSONL file, oldest first.  A last line that is not
    valid JSON (a write cut short by a kill) is skipped with a warning; with ``repair`` it is also
    cut from the file so that appends start on a fresh line.  A bad line elsewhere is an error."""
    if not path.exists():
        return
    bad: tuple[int, int, str] | None = None  # line number, byte offset, reason
    offset = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                if bad is not None:
                    raise RecordError(f"{path}: line {bad[0]} is not valid JSON ({bad[2]}) and is not the last "
                                      "line: the file is damaged; fix or move it")
                try:
                    row = json.loads(line)
                except ValueError as error:
                    bad = (number, offset, getattr(error, "msg", str(error)))
                else:
                    if not isinstance(row, dict) or not {"prompt_id", "model"} <= set(row):
                        raise RecordError(f"{path}: line {number} is not a trace row (a JSON object with "
                                          "prompt_id and model); is this the right output file?")
                    on_row(row)
            offset += len(line)
    if bad is None:
        if repair and offset and not line.endswith(b"\n"):
            with open(path, "ab") as handle:
                handle.write(b"\n")
        return
    log.warning("%s: line %d is incomplete (%s), probably cut short by a kill; skipped%s", path, bad[0], bad[2],
                " and removed" if repair else "")
    if repair:
        with open(path, "r+b") as handle:
            handle.truncate(bad[1])


def pair_status(path: Path, repair: bool = False) -> dict[tuple[str, str], bool]:
    """(prompt_id, model) -> whether the newest row of that pair has an error."""
    status: dict[tuple[str, str], bool] = {}

    def note(row: dict) -> None:
        status[(row["prompt_id"], row["model"])] = row.get("error") is not None

    scan_rows(path, note, repair=repair)
    return status


def compact_traces(path: str | Path) -> pd.DataFrame:
    """The newest row of each (prompt_id, model) of a recorder JSONL file, validated
    (``validate_traces``).  Rows whose newest attempt failed keep their ``error``."""
    rows: list[dict] = []
    scan_rows(Path(path), rows.append)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=ROW_COLUMNS)
    frame = frame.drop_duplicates(["prompt_id", "model"], keep="last")
    return validate_traces(frame, source=str(path))


class RowWriter:
    """Appends rows as JSON lines: flushed one by one, fsynced every ``fsync_every`` rows and on close."""

    def __init__(self, path: Path, fsync_every: int) -> None:
        self.handle = open(path, "a", encoding="utf-8")
        self.fsync_every, self.unsynced = max(1, int(fsync_every)), 0

    def write(self, row: dict) -> None:
        self.handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
        self.handle.flush()
        self.unsynced += 1
        if self.unsynced >= self.fsync_every:
            os.fsync(self.handle.fileno())
            self.unsynced = 0

    def close(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()


def prepare_output(output: Any) -> Path:
    """The output path, its folder created and the file opened for appending once (fail fast)."""
    if output in (None, "", "???"):
        raise RecordError("output=<file.jsonl> is required")
    path = Path(str(output)).expanduser()
    if path.suffix != ".jsonl":
        raise RecordError(f"output={output}: use a .jsonl file (the append-only log); the compacted traces "
                          "go beside it as <stem>.parquet")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as error:
        blocker = next((p for p in (path, path.parent, *path.parent.parents) if p.exists() and not p.is_dir()
                        and p != path), None)
        why = f"{blocker} is a file, not a folder" if blocker else (error.strerror or str(error))
        raise RecordError(f"output={output}: cannot write there ({why}); choose a writable folder") from None
    return path


# ---- the run ---------------------------------------------------------------------------------------
def select_models(pool: Any, pool_name: str, models: Any) -> list[str]:
    if models is None or models == "":
        return pool.names
    wanted = [m.strip() for m in models.split(",")] if isinstance(models, str) else [str(m) for m in models]
    unknown = [m for m in wanted if m not in pool]
    if unknown or not wanted:
        raise RecordError(f"models={wanted}: {unknown or 'empty'} not in pool '{pool_name}', whose models are: "
                          f"{', '.join(pool.names)}")
    return [m for m in pool.names if m in wanted]


def _served_name(endpoint: Any, name: str) -> str:
    """What the endpoint calls the model: the provider's id, the replayed trace model, else the pool name."""
    return getattr(endpoint, "api_model", None) or getattr(endpoint, "trace_model", None) or name


def _plain(value: Any) -> Any:
    """None for missing values (None, NaN, pd.NA); anything else unchanged."""
    return None if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else value


class Recorder:
    """Runs (example, model) calls with bounded concurrency, a budget and signal handling."""

    def __init__(self, cfg: Any, pool: Any, writer: RowWriter, sources: dict[str, str]) -> None:
        self.cfg, self.pool, self.writer, self.sources = cfg, pool, writer, sources
        self.max_usd = None if cfg.get("max_usd") is None else float(cfg.max_usd)
        self.spent, self.in_flight = 0.0, {}
        self.written = self.errors = self.signals = 0
        self.outputs: dict[str, list[int]] = {}  # model -> [output tokens, answers]
        self.stopped: str | None = None
        self.workers: list[asyncio.Task] = []
        self.bar: Any = None
        self.changed = asyncio.Condition()  # notified when a call ends or a signal stops the run

    def messages(self, example: dict) -> list[dict]:
        system = self.cfg.get("system_prompt")
        return ([{"role": "system", "content": system}] if system else []) + \
               [{"role": "user", "content": example["prompt"]}]

    def estimate(self, example: dict, model: str) -> float:
        tokens, answers = self.outputs.get(model, (0, 0))
        out = self.cfg.get("max_tokens") or (tokens / answers if answers else self.cfg.estimate_output_tokens)
        text = "\n".join(m["content"] for m in self.messages(example))
        return self.pool.cards[model].price.cost(estimate_tokens(text), int(math.ceil(out)))

    def row(self, example: dict, model: str, **fields: Any) -> dict:
        row = {"prompt_id": example["prompt_id"], "benchmark": example["benchmark"], "split": example["split"],
               "prompt": example["prompt"], "gold": None if example.get("gold") is None else str(example["gold"]),
               "model": model, "response": None, "score": 0.0, "input_tokens": None, "output_tokens": None,
               "cost_usd": 0.0, "latency_s": None, "source": self.sources[model], "cost_estimated": False,
               "error": None, "attempts": 1}
        row.update(fields)
        return row

    async def call(self, example: dict, model: str) -> dict:
        from xrouter.data.benchmarks import verify_example

        cfg = self.cfg
        try:
            done = await self.pool.call(model, self.messages(example), float(cfg.temperature), cfg.get("max_tokens"),
                                        prompt_id=example["prompt_id"])
        except EndpointError as error:
            return self.row(example, model, error=error.reason, attempts=error.attempts, latency_s=error.latency_s)
        except Exception as error:  # noqa: BLE001 - one broken call must not end a paid run
            log.warning("%s on %s: %s: %s", model, example["prompt_id"], type(error).__name__, error)
            return self.row(example, model, error=f"{type(error).__name__}: {error}"[:500])
        self.spent += done.cost_usd
        stats = self.outputs.setdefault(model, [0, 0])
        stats[0], stats[1] = stats[0] + (done.output_tokens or 0), stats[1] + 1
        score = await asyncio.to_thread(verify_example, example, done.text)
        return self.row(example, model, response=done.text, score=score.value, input_tokens=done.input_tokens,
                        output_tokens=done.output_tokens, cost_usd=done.cost_usd, latency_s=done.latency_s,
                        cost_estimated=bool(done.usage_estimated), attempts=done.attempts)

    async def worker(self, pending: Iterator[tuple[dict, str]]) -> None:
        while self.stopped is None:
            item = next(pending, None)
            if item is None:
                return
            example, model = item
            estimate = self.estimate(example, model)
            if not await self.fits(estimate):
                return
            key = object()
            self.in_flight[key] = estimate
            try:
                row = await self.call(example, model)
            finally:
                del self.in_flight[key]
                await self.wake()
            self.writer.write(row)
            self.written += 1
            self.errors += row["error"] is not None
            self.bar.set_postfix(usd=f"{self.spent:.4f}", errors=self.errors, refresh=False)
            self.bar.update(1)

    async def fits(self, estimate: float) -> bool:
        """Whether a call of this estimated cost may start: wait while calls in flight may leave room
        (estimates are replaced by actual costs as they finish); stop when none is in flight."""
        async with self.changed:
            while self.stopped is None:
                if self.max_usd is None or self.spent + sum(self.in_flight.values()) + estimate <= self.max_usd:
                    return True
                if not self.in_flight:
                    self.stopped = "budget"
                    self.changed.notify_all()
                    break
                await self.changed.wait()
        return False

    async def wake(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def on_signal(self, signum: int) -> None:
        self.signals += 1
        if self.signals == 1:
            self.stopped = "interrupted" if signum == signal.SIGINT else "terminated"
            print(f"\nrecord: {signal.Signals(signum).name}: launching no more calls; waiting for "
                  f"{len(self.in_flight)} in flight (send it again to abandon them)", file=sys.stderr, flush=True)
            self.waking = asyncio.get_running_loop().create_task(self.wake())
        else:
            for task in self.workers:
                task.cancel()

    async def run(self, todo: list[tuple[dict, str]]) -> str:
        from tqdm import tqdm

        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.on_signal, sig)
                handled.append(sig)
            except (RuntimeError, ValueError, NotImplementedError):  # not the main thread / platform
                pass
        self.bar = tqdm(total=len(todo), desc="record", unit="call", disable=not self.cfg.progress,
                        dynamic_ncols=True)
        pending = iter(todo)
        try:
            self.workers = [asyncio.create_task(self.worker(pending))
                            for _ in range(min(int(self.cfg.concurrency), len(todo)))]
            await asyncio.gather(*self.workers, return_exceptions=True)
            for task in self.workers:  # a worker's own failure (not a cancellation) is a bug: show it
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()
        finally:
            self.bar.close()
            for sig in handled:
                loop.remove_signal_handler(sig)
            for endpoint in self.pool.endpoints.values():
                if hasattr(endpoint, "aclose"):
                    await endpoint.aclose()
        return self.stopped or "complete"


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

    quiet_http_loggers()
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
    rows = [{k: _plain(v) for k, v in r.items()} for r in examples.to_dict("records")]
    todo = [(r, m) for r in rows for m in models if (r["prompt_id"], m) not in finished]
    pairs = len(rows) * len(models)
    sources = {m: f"record:{pool_name}:{_served_name(pool.endpoint(m), m)}" for m in models}
    print(f"record: {len(rows)} examples x {len(models)} models = {pairs} pairs; {pairs - len(todo)} done in "
          f"{output}; {len(todo)} to call", flush=True)
    writer = RowWriter(output, cfg.fsync_every)
    recorder = Recorder(cfg, pool, writer, sources)
    try:
        stopped = asyncio.run(recorder.run(todo))
    finally:
        writer.close()
    parquet = output.with_suffix(".parquet")
    compact_traces(output).to_parquet(parquet, index=False)
    ok = recorder.written - recorder.errors
    summary = {"pairs": pairs, "rows_written": recorder.written, "skipped_done": pairs - len(todo),
               "errors": recorder.errors, "usd": float(pool.ledger.totals()["cost_usd"]), "remaining": len(todo) - ok,
               "stopped": stopped, "max_usd": recorder.max_usd, "exit_code": EXIT_CODES[stopped],
               "output": str(output), "parquet": str(parquet)}
    print(f"record: {summary['rows_written']} rows written ({summary['errors']} with errors), "
          f"{summary['skipped_done']} skipped as done, ${summary['usd']:.6f} spent; {summary['remaining']} "
          f"pairs left; traces in {output} and {parquet}")
    if stopped == "budget":
        print(f"record: stopped by the budget: the next call would take this run past max_usd={recorder.max_usd:g} "
              f"(spent ${summary['usd']:.6f}); rerun with a higher max_usd to record the rest")
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

"""The recorder loop: (example, model) calls with bounded concurrency, a USD budget and signal handling.

Budget: each call's cost is estimated before it starts (input: characters / 4 tokens; output:
``max_tokens``, else the model's mean so far, else ``estimate_output_tokens``); it starts only if the
run's spend + the estimates of the calls in flight + its own fit under ``max_usd``, else it waits for
calls in flight (their booked costs replace their estimates); with none in flight and still no room,
the run stops.  Booked costs come from the pool ledger's validated completions (never negative, so
the spend only grows); a call whose upstream reply is invalid is an error row costing 0.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd

from xrouter.pool.base import EndpointError
from xrouter.pool.replies import estimate_tokens
from xrouter.recording.jsonl_file import RowWriter

log = logging.getLogger(__name__)


def served_name(endpoint: Any, name: str) -> str:
    """What the endpoint calls the model: the provider's id, the replayed trace model, else the pool name."""
    return getattr(endpoint, "api_model", None) or getattr(endpoint, "trace_model", None) or name


def plain_value(value: Any) -> Any:
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
        return ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": example["prompt"]}
        ]

    def estimate(self, example: dict, model: str) -> float:
        tokens, answers = self.outputs.get(model, (0, 0))
        out = self.cfg.get("max_tokens") or (tokens / answers if answers else self.cfg.estimate_output_tokens)
        text = "\n".join(m["content"] for m in self.messages(example))
        return self.pool.cards[model].price.cost(estimate_tokens(text), int(math.ceil(out)))

    def row(self, example: dict, model: str, **fields: Any) -> dict:
        row = {
            "prompt_id": example["prompt_id"],
            "benchmark": example["benchmark"],
            "split": example["split"],
            "prompt": example["prompt"],
            "gold": None if example.get("gold") is None else str(example["gold"]),
            "model": model,
            "response": None,
            "score": 0.0,
            "input_tokens": None,
            "output_tokens": None,
            "cost_usd": 0.0,
            "latency_s": None,
            "source": self.sources[model],
            "cost_estimated": False,
            "error": None,
            "attempts": 1,
        }
        row.update(fields)
        return row

    async def call(self, example: dict, model: str) -> dict:
        from xrouter.data.benchmarks import verify_example

        cfg = self.cfg
        try:
            done = await self.pool.call(
                model,
                self.messages(example),
                float(cfg.temperature),
                cfg.get("max_tokens"),
                prompt_id=example["prompt_id"],
            )
        except EndpointError as error:
            return self.row(example, model, error=error.reason, attempts=error.attempts, latency_s=error.latency_s)
        except Exception as error:  # noqa: BLE001 - one broken call must not end a paid run
            log.warning("%s on %s: %s: %s", model, example["prompt_id"], type(error).__name__, error)
            return self.row(example, model, error=f"{type(error).__name__}: {error}"[:500])
        self.spent += done.cost_usd
        stats = self.outputs.setdefault(model, [0, 0])
        stats[0], stats[1] = stats[0] + (done.output_tokens or 0), stats[1] + 1
        score = await asyncio.to_thread(verify_example, example, done.text)
        return self.row(
            example,
            model,
            response=done.text,
            score=score.value,
            input_tokens=done.input_tokens,
            output_tokens=done.output_tokens,
            cost_usd=done.cost_usd,
            latency_s=done.latency_s,
            cost_estimated=bool(done.usage_estimated),
            attempts=done.attempts,
        )

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
            print(
                f"\nrecord: {signal.Signals(signum).name}: launching no more calls; waiting for "
                f"{len(self.in_flight)} in flight (send it again to abandon them)",
                file=sys.stderr,
                flush=True,
            )
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
        self.bar = tqdm(total=len(todo), desc="record", unit="call", disable=not self.cfg.progress, dynamic_ncols=True)
        pending = iter(todo)
        try:
            self.workers = [
                asyncio.create_task(self.worker(pending)) for _ in range(min(int(self.cfg.concurrency), len(todo)))
            ]
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

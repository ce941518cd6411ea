"""Batched router inference for many requests in flight, off the event loop.

Requests ``await batcher.generate(prompt_ids)``; one collector task takes everything pending (up
to ``max_batch_size``, after waiting ``max_wait_ms`` for more to arrive) and runs one
``HFGenerator.generate`` call for all of them on a single worker thread.  The thread is the lock:
the model is never run twice at once, and the event loop keeps serving HTTP and pool calls while it
runs.  Turns that arrive during a batch form the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from xrouter.rollout.hf import SamplingConfig


class BatchedGenerator:
    """Async front of a (thread-confined) generator with ``generate(prompts, sampling) -> new ids``: a
    ``ThreadBatcher`` whose batches are ``generate`` calls."""

    def __init__(
        self,
        generator,
        sampling: SamplingConfig,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_wait_ms < 0:
            raise ValueError("batching.max_batch_size must be >= 1 and batching.max_wait_ms >= 0")
        self.generator, self.sampling = generator, sampling
        self._batcher = ThreadBatcher(
            self._generate_batch,
            max_batch_size=max_batch_size,
            max_pending=None,
            name="xrouter-router",
            max_wait_ms=max_wait_ms,
            on_batch=on_batch,
        )

    async def generate(self, prompt_ids: Sequence[int], condition: Any = None) -> list[int]:
        """The router's next turn (new token ids) for one sequence; ``condition``: its condition vector
        (a prefix router's, ``xrouter/router/conditioning.py``), else None."""
        return await self._batcher.submit((list(prompt_ids), condition))

    def _generate_batch(self, items: list[tuple[list[int], Any]]) -> list[list[int]]:
        conditions = [c for _, c in items]
        options = {}
        if any(c is not None for c in conditions):
            import torch

            options["conditions"] = torch.stack([torch.as_tensor(c) for c in conditions])
        return self.generator.generate([ids for ids, _ in items], self.sampling, **options)

    def close(self) -> None:
        self._batcher.close()
        if hasattr(self.generator, "close"):  # a ProcessGenerator stops its child
            self.generator.close()


class Overloaded(Exception):
    """More work is waiting than the server accepts (answered 503 with Retry-After)."""


class ThreadBatcher:
    """``await batcher.submit(item)`` -> ``fn(items)[i]``, with everything pending run as one batch on one worker
    thread (the query encoder of a prefix router, the router's ``generate``: the event loop never runs them).  At
    most ``max_pending`` items wait (None: no bound); beyond that ``submit`` raises ``Overloaded`` at once.
    ``max_wait_ms``: how long a batch waits for more items before it runs; ``on_batch(size)`` after each batch."""

    def __init__(
        self,
        fn: Callable[[list[Any]], Sequence[Any]],
        max_batch_size: int = 64,
        max_pending: int | None = 1024,
        name: str = "xrouter-batch",
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.fn, self.max_batch_size = fn, int(max_batch_size)
        self.max_pending = None if max_pending is None else int(max_pending)
        self.max_wait_s, self.on_batch = float(max_wait_ms) / 1000.0, on_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._collector: asyncio.Task | None = None

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def submit(self, item: Any) -> Any:
        if self.max_pending is not None and len(self._pending) >= self.max_pending:
            raise Overloaded(f"{len(self._pending)} items are waiting (at most {self.max_pending})")
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((item, future))
        if self._collector is None or self._collector.done():
            self._collector = loop.create_task(self._collect())
        return await future

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            if self.max_wait_s and len(self._pending) < self.max_batch_size:
                await asyncio.sleep(self.max_wait_s)  # let concurrent requests join this batch
            batch = [(item, f) for item, f in self._pending[: self.max_batch_size] if not f.done()]  # drop cancelled
            del self._pending[: self.max_batch_size]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.fn, [item for item, _ in batch])
            except Exception as error:  # noqa: BLE001 - every waiting request gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch))
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

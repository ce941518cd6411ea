"""Router inference in a child process, so that generation never holds the server's GIL.

A small model's ``generate`` loop is mostly Python: run in a thread of the server it holds the GIL
most of the time and the event loop (HTTP, JSON, pool calls) waits for it.  ``ProcessGenerator`` has
the same blocking ``generate(prompts, sampling)`` as ``HFGenerator`` and forwards each batch of token
ids over a pipe to an ``HFGenerator`` in a spawned process; the server thread that waits on the pipe
releases the GIL.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from collections.abc import Sequence
from typing import Any

from xrouter.rollout.hf import SamplingConfig


def _serve_generations(
    conn: Any, router_path: str, dtype: str, device: str, eos_token_id: int, batch_size: int, threads: int | None
) -> None:
    """The child: load the router, then answer ``(prompts, sampling)`` messages until ``None`` or EOF."""
    try:
        import torch

        from xrouter.rollout.hf import HFGenerator
        from xrouter.router.model_loader import load_router

        if threads:
            torch.set_num_threads(threads)
        model, tokenizer = load_router(router_path, dtype=getattr(torch, dtype), device=device)
        model.eval()
        generator = HFGenerator(model, tokenizer, eos_token_id, device=device, batch_size=batch_size)
    except Exception as error:  # reported to the parent, which fails start-up with it
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready", sum(p.numel() for p in model.parameters())))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        prompts, sampling, conditions = message
        try:
            options = {} if conditions is None else {"conditions": torch.tensor(conditions, dtype=torch.float32)}
            conn.send(("ok", generator.generate(prompts, SamplingConfig(**sampling), **options)))
        except Exception as error:
            conn.send(("error", f"{type(error).__name__}: {error}"))


class ProcessGenerator:
    """``HFGenerator`` in a spawned child process; ``generate`` blocks (call it from a worker thread)."""

    def __init__(
        self,
        router_path: str,
        eos_token_id: int,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        batch_size: int = 64,
        threads: int | None = 1,
        start_timeout_s: float = 300.0,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve_generations,
            name="xrouter-router-inference",
            daemon=True,
            args=(child, str(router_path), dtype, device, eos_token_id, batch_size, threads),
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        if not self._conn.poll(start_timeout_s):
            self.close()
            raise RuntimeError(f"the router inference process did not load {router_path} within {start_timeout_s:g} s")
        status, payload = self._conn.recv()
        if status != "ready":
            self.close()
            raise RuntimeError(f"the router inference process could not load {router_path}: {payload}")
        self.n_parameters = int(payload)

    def generate(self, prompts: Sequence[Sequence[int]], sampling: SamplingConfig, conditions=None) -> list[list[int]]:
        """``conditions``: a prefix router's condition rows (a tensor or nested lists), sent as lists."""
        if hasattr(conditions, "tolist"):
            conditions = conditions.tolist()
        rows = None if conditions is None else [[float(x) for x in row] for row in conditions]
        with self._lock:
            try:
                self._conn.send(([list(p) for p in prompts], dataclasses.asdict(sampling), rows))
                status, payload = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                raise RuntimeError(f"the router inference process died (exit code {self._process.exitcode})") from None
        if status != "ok":
            raise RuntimeError(f"router inference failed: {payload}")
        return payload

    def close(self) -> None:
        if self._process.is_alive():
            if self._lock.acquire(timeout=10):  # not while a batch is being sent or awaited
                try:
                    self._conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
                finally:
                    self._lock.release()
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._conn.close()

"""Math answers: math-verify equivalence in a pool of worker processes with a hard per-call timeout.

math-verify's own timeout uses ``signal.alarm``, which only works in the main thread (it raises
in a thread pool or an async server) and cannot interrupt a long C-level computation such as
``9^{9^{9^{9}}}``.  So every parse/compare runs in a small pool of persistent worker processes
(each imports math-verify once, then serves requests over a socketpair); a call that
exceeds its timeout gets ``Score(0, "timeout")`` and its worker is killed and replaced.  The pool
is thread-safe: any thread (or ``asyncio.to_thread``) may call it.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from xrouter.verify.base import Score, require_gold

DEFAULT_TIMEOUT_S = 5.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # so workers import this very xrouter
_TAIL_CHARS = 4000  # without \boxed or "answer is", math-verify reads the end of the response
_ANSWER_IS = re.compile(r"(?i:answer)\s*(?:is|:)\s*:?\s*([^\n]+)")


# ----------------------------------------------------------------------------- answer extraction
def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces balanced), or None."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0 or text[start:brace].strip("\\boxedfbx ").strip():  # noqa: B005 (a character set on purpose)
        return None
    depth = 0
    for i in range(brace, len(text)):
        ch = text[i]
        if ch == "{" and text[i - 1] != "\\":
            depth += 1
        elif ch == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : i].strip()
    return None


def extract_math_answer(text: str | None) -> str | None:
    """The final-answer span of a response: last ``\\boxed{}``, else the last "answer is X" line."""
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    stated = _ANSWER_IS.findall(text)
    if stated:
        return stated[-1].strip().rstrip(".").strip() or None
    return None


def answer_candidates(text: str) -> list[str]:
    """Strings to hand to math-verify's ``parse``, most specific first."""
    text = text or ""
    if last_boxed(text) is not None:
        return [f"\\boxed{{{last_boxed(text)}}}"]
    span = extract_math_answer(text)
    if span is not None:
        return [span, f"${span}$", f"\\boxed{{{span}}}"]
    return [text[-_TAIL_CHARS:]] if text.strip() else []


def gold_candidates(gold: str) -> list[str]:
    """A bare gold like ``\\left( 3, \\frac{\\pi}{2} \\right)`` must be wrapped to parse whole."""
    inner = last_boxed(gold)
    inner = inner if inner is not None else gold.strip()
    return [f"\\boxed{{{inner}}}", inner, f"${inner}$"]


# ----------------------------------------------------------------------------- worker pool
class _Worker:
    __slots__ = ("proc", "conn", "ready")

    def __init__(self, proc: subprocess.Popen, conn: Connection):
        self.proc, self.conn, self.ready = proc, conn, False


class MathVerifierPool:
    """``n_workers`` persistent math-verify processes; thread-safe; hard timeout per call.

    Workers are plain ``python -m xrouter.verify._math_worker`` subprocesses talking over a
    socketpair (not ``multiprocessing.Process``: spawn/forkserver re-import the caller's
    ``__main__``, which breaks scripts without an ``if __name__ == "__main__"`` guard).  A fresh
    worker needs about a second to import math-verify; that start-up is not charged to any call's
    timeout (a call waits for a ready worker first, up to ``startup_timeout_s``).
    """

    def __init__(
        self,
        n_workers: int | None = None,
        memory_limit_bytes: int | None = 4 << 30,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.n_workers = n_workers or max(1, min(4, os.cpu_count() or 1))
        self.memory_limit_bytes = memory_limit_bytes
        self.startup_timeout_s = startup_timeout_s
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self._workers: set[_Worker] = set()
        self._closed = False
        for _ in range(self.n_workers):
            self._idle.put(self._spawn())

    # -- lifecycle
    def _spawn(self) -> _Worker:
        parent, child = mp.Pipe(duplex=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        cmd = [
            sys.executable,
            "-m",
            "xrouter.verify._math_worker",
            str(child.fileno()),
            str(self.memory_limit_bytes or 0),
        ]
        try:
            proc = subprocess.Popen(
                cmd,
                pass_fds=(child.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            child.close()
        worker = _Worker(proc, parent)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _kill(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        try:
            worker.proc.kill()
            worker.proc.wait(5)
        except Exception:
            pass
        worker.conn.close()

    def _replace(self, worker: _Worker) -> None:
        self._kill(worker)
        if not self._closed:
            self._idle.put(self._spawn())

    def _acquire(self) -> _Worker:
        for _ in range(3):
            if self._closed:
                raise RuntimeError("MathVerifierPool is closed")
            worker = self._idle.get()
            if worker is None:  # close() woke us up
                self._idle.put(None)
                raise RuntimeError("MathVerifierPool is closed")
            if worker.ready:
                return worker
            try:
                if worker.conn.poll(self.startup_timeout_s) and worker.conn.recv()[0] == "ready":
                    worker.ready = True
                    return worker
            except (EOFError, OSError):
                pass
            self._replace(worker)
        raise RuntimeError("math-verify worker failed to start three times")

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        self._closed = True
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            self._kill(worker)
        self._idle.put(None)  # wake any thread blocked waiting for a worker

    @property
    def alive(self) -> bool:
        return not self._closed and os.getpid() == self._pid

    def worker_pids(self) -> list[int]:
        with self._lock:
            return sorted(w.proc.pid for w in self._workers if w.proc.pid is not None)

    # -- calls
    def _call(self, message: tuple, timeout_s: float) -> Score:
        worker = self._acquire()
        try:
            worker.conn.send(message)
            if not worker.conn.poll(timeout_s):
                self._replace(worker)
                return Score(0.0, "timeout")
            reply = worker.conn.recv()
        except (EOFError, OSError):
            self._replace(worker)
            return Score(0.0, "worker crashed")
        self._idle.put(worker)
        if reply[0] == "ok":
            return Score(1.0 if reply[1] else 0.0, reply[2])
        return Score(0.0, f"error: {reply[1]}")

    def check(self, gold: str, answer: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> Score:
        """Score one response against one gold answer."""
        try:
            return self._call(("check", str(gold), answer or ""), timeout_s)
        except Exception as err:
            return Score(0.0, f"error: {type(err).__name__}: {err}")

    def check_many(
        self, golds: Sequence[str], answers: Sequence[str | None], timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> list[Score]:
        """Score pairs in parallel over the workers (each pair has its own ``timeout_s``)."""
        if len(golds) != len(answers):
            raise ValueError(f"{len(golds)} golds but {len(answers)} answers")
        scores: list[Score | None] = [None] * len(golds)
        pending = iter(range(len(golds)))
        take = threading.Lock()

        def drain() -> None:
            while True:
                with take:
                    i = next(pending, None)
                if i is None:
                    return
                scores[i] = self.check(golds[i], answers[i], timeout_s)

        threads = [threading.Thread(target=drain, daemon=True) for _ in range(min(self.n_workers, len(golds)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [s if s is not None else Score(0.0, "error: unscored") for s in scores]


# ----------------------------------------------------------------------------- module-level API
_default_pool: MathVerifierPool | None = None
_default_lock = threading.Lock()


def get_math_pool() -> MathVerifierPool:
    """The process-wide pool (created on first use; recreated after a fork or ``shutdown``)."""
    global _default_pool
    with _default_lock:
        if _default_pool is None or not _default_pool.alive:
            n = int(os.environ.get("XROUTER_MATH_WORKERS", "0")) or None
            _default_pool = MathVerifierPool(n_workers=n)
        return _default_pool


def shutdown_math_pool() -> None:
    global _default_pool
    with _default_lock:
        if _default_pool is not None and os.getpid() == _default_pool._pid:
            _default_pool.close()
        _default_pool = None


atexit.register(shutdown_math_pool)


def verify_math(gold: str, answer: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> Score:
    """1 if ``answer``'s final answer is mathematically equivalent to ``gold`` (math-verify)."""
    return get_math_pool().check(gold, answer, timeout_s)


def verify_math_batch(
    golds: Sequence[str], answers: Sequence[str | None], timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Score]:
    """``verify_math`` over pairs, in parallel over the pool's workers."""
    return get_math_pool().check_many(golds, answers, timeout_s)


def verify_math_example(example: Mapping[str, Any], answer_text: str) -> Score:
    """Registry entry "math"; an optional ``timeout_s`` in the example overrides the default."""
    gold = require_gold(example)
    return verify_math(gold, answer_text, float(example.get("timeout_s") or DEFAULT_TIMEOUT_S))

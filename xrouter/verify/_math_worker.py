"""The math worker process: parse + compare with math-verify, one request at a time over a pipe.

Runs in its own process (``python -m xrouter.verify._math_worker FD MEMORY_LIMIT``, started by
``xrouter.verify.math.MathVerifierPool``), so math-verify's ``signal.alarm`` timeouts are switched
off here: the parent enforces the timeout by killing this process.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from multiprocessing.connection import Connection

from math_verify import parse as _mv_parse
from math_verify import verify as _mv_verify

from xrouter.verify.math import answer_candidates, gold_candidates


def _parse_first(candidates: list[str]) -> list:
    for text in candidates:
        parsed = _mv_parse(text, parsing_timeout=None)
        if parsed:
            return parsed
    return []


def check(gold: str, answer: str) -> tuple[bool, str]:
    """(equivalent?, reason) for a gold answer and a response, with no timeout of its own."""
    gold_parsed = _parse_first(gold_candidates(gold))
    if not gold_parsed:
        return False, "gold unparseable"
    answer_parsed = _parse_first(answer_candidates(answer))
    if not answer_parsed:
        return False, "no answer found"
    ok = _mv_verify(gold_parsed, answer_parsed, timeout_seconds=None)
    return bool(ok), "match" if ok else "mismatch"


def _limit_memory(limit_bytes: int | None) -> None:
    if not limit_bytes:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    except (ImportError, ValueError, OSError):  # not on this platform / above the hard limit
        pass


def serve(conn, memory_limit_bytes: int | None = None) -> None:
    """Answer ``("check", gold, answer)`` and ``("sleep", s)`` (a test hook) until EOF or "stop"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # "timeout disabled" warnings
    _limit_memory(memory_limit_bytes)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        op = message[0]
        if op == "stop":
            return
        try:
            if op == "check":
                reply = ("ok", *check(message[1], message[2]))
            elif op == "sleep":
                time.sleep(float(message[1]))
                reply = ("ok", False, "slept")
            else:
                reply = ("error", f"unknown op {op!r}")
        except MemoryError:
            reply = ("error", "out of memory")
        except Exception as err:  # a math-verify / sympy bug is a 0, not a dead worker
            reply = ("error", f"{type(err).__name__}: {str(err)[:200]}")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])), int(sys.argv[2]) or None)

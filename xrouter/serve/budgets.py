"""Spend limits per API key that survive restarts: a persisted spend book, reservations and admission.

Keys are named: ``XROUTER_API_KEYS="alice:sk-...,bob:sk-..."`` (a key given without a name is called
``key-<first 8 hex of its sha256>``; the key itself is never written anywhere).  ``budgets`` in the serve
config sets ``total_usd`` and ``daily_usd`` (UTC days) per key name, with a ``default`` for the others.

``SpendBook`` is an append-only JSONL file, one line per charged ledger record (``ts``, ``day``, ``key``,
``request_id``, ``model``, ``usd``), written to the OS before the call's answer is used, so a crash or a
SIGKILL loses nothing that was paid; on start it is read back, so a restart cannot reset a budget.

``Budgets.admit`` admits a request only when the key's spend so far, plus what its requests in flight have
reserved, plus this request's ``max_usd`` stays within each limit; the reservation is held until the
request ends.  A request may pass its own ``max_usd`` by the turn in flight when it was reached (the server
checks ``max_usd`` before each turn; the calls of a turn run concurrently), so a key's spend can pass its
limit by at most that: the sum, over the requests it had in flight, of one turn's cost beyond their
``max_usd``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xrouter.pool.ledger import CallRecord
from xrouter.serve.protocol import RequestError

ANONYMOUS = "anonymous"  # the key name of requests to a server without authentication


def named_key(entry: tuple[str, str] | str) -> tuple[str, str]:
    """``(name, key)`` of an API key entry: ``"name:key"`` or a bare key (named by its hash)."""
    if isinstance(entry, tuple):
        return entry
    text = entry.strip()
    name, sep, key = text.partition(":")
    if sep and name and key and not name.startswith("sk-") and " " not in name:
        return name, key
    return f"key-{hashlib.sha256(text.encode()).hexdigest()[:8]}", text


def utc_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


@dataclass(frozen=True)
class Limit:
    total_usd: float | None = None
    daily_usd: float | None = None

    @classmethod
    def from_config(cls, name: str, cfg: Mapping[str, Any] | None) -> Limit:
        cfg = dict(cfg or {})
        unknown = sorted(set(cfg) - {"total_usd", "daily_usd"})
        if unknown:
            raise ValueError(f"budgets for {name}: unknown keys {unknown}; use total_usd and daily_usd")
        values = {}
        for field in ("total_usd", "daily_usd"):
            value = cfg.get(field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0
            ):
                raise ValueError(f"budgets for {name}: {field} must be a number >= 0 or null, not {value!r}")
            values[field] = None if value is None else float(value)
        return cls(**values)


class SpendBook:
    """The persisted spend per key (total and per UTC day), appended one line per charge."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.total: dict[str, float] = defaultdict(float)
        self.daily: dict[tuple[str, str], float] = defaultdict(float)
        self._lock = threading.Lock()
        self._handle = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                self._read()
            self._handle = open(self.path, "a", encoding="utf-8")

    def _read(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key, day, usd = str(entry["key"]), str(entry["day"]), float(entry["usd"])
            except (ValueError, KeyError, TypeError):
                if number == len(lines):
                    continue  # a last line cut short by a crash: that write never completed
                raise ValueError(
                    f"{self.path}: line {number} is not a spend record; fix or move the file "
                    "(it is what keeps the budgets across restarts)"
                ) from None
            self.total[key] += usd
            self.daily[(key, day)] += usd

    def charge(self, key: str, request_id: str | None, model: str, usd: float, ts: float | None = None) -> None:
        ts = time.time() if ts is None else ts
        day = utc_day(ts)
        with self._lock:
            self.total[key] += usd
            self.daily[(key, day)] += usd
            if self._handle is not None:
                self._handle.write(
                    json.dumps(
                        {
                            "ts": round(ts, 3),
                            "day": day,
                            "key": key,
                            "request_id": request_id,
                            "model": model,
                            "usd": usd,
                        }
                    )
                    + "\n"
                )
                self._handle.flush()  # to the OS: a SIGKILL of the server cannot lose it

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Budgets:
    """Admission against per-key limits, with reservations for requests in flight."""

    def __init__(self, cfg: Mapping[str, Any] | None) -> None:
        cfg = dict(cfg or {})
        unknown = sorted(set(cfg) - {"default", "per_key", "spend_file"})
        if unknown:
            raise ValueError(f"budgets: unknown keys {unknown}; use default, per_key, spend_file")
        self.default = Limit.from_config("default", cfg.get("default"))
        self.per_key = {
            str(name): Limit.from_config(str(name), limit) for name, limit in (cfg.get("per_key") or {}).items()
        }
        self.book = SpendBook(cfg.get("spend_file"))
        self.reserved: dict[str, float] = defaultdict(float)
        self.requests: dict[str, tuple[str, float]] = {}  # request id -> (key, reserved USD)
        self._lock = threading.Lock()

    @property
    def limited(self) -> bool:
        return any(v is not None for limit in [self.default, *self.per_key.values()] for v in vars(limit).values())

    def limit_of(self, key: str) -> Limit:
        return self.per_key.get(key, self.default)

    def admit(self, key: str | None, request_id: str, max_usd: float) -> None:
        """Reserve ``max_usd`` for the request, or refuse it (429 ``budget_exceeded``) before any call."""
        key = key or ANONYMOUS
        limit = self.limit_of(key)
        with self._lock:
            committed = self.reserved[key] + max_usd
            today = self.book.daily[(key, utc_day(time.time()))]
            for name, cap, spent in (
                ("total", limit.total_usd, self.book.total[key]),
                ("daily", limit.daily_usd, today),
            ):
                if cap is not None and spent + committed > cap + 1e-12:
                    raise RequestError(
                        429,
                        f"API key '{key}' would pass its {name} budget: ${spent:.6f} spent and "
                        f"${self.reserved[key]:.6f} reserved by requests in flight, of ${cap:g}; this "
                        f"request may spend up to ${max_usd:g} (send a lower xrouter.max_usd, or raise "
                        f"budgets.per_key.{key}.{name}_usd)",
                        "insufficient_quota",
                        code="budget_exceeded",
                    )
            self.reserved[key] += max_usd
            self.requests[request_id] = (key, max_usd)

    def release(self, request_id: str) -> None:
        with self._lock:
            key, usd = self.requests.pop(request_id, (None, 0.0))
            if key is not None:
                self.reserved[key] = max(0.0, self.reserved[key] - usd)

    def charge(self, record: CallRecord) -> None:
        """Book a ledger record against the key of the request it belongs to."""
        if record.cost_usd <= 0:
            return
        owner = self.requests.get(record.episode_id or "")
        key = owner[0] if owner else ANONYMOUS
        self.book.charge(key, record.episode_id, record.model, record.cost_usd)

    def spent(self, key: str) -> dict[str, float]:
        return {"total_usd": self.book.total[key], "today_usd": self.book.daily[(key, utc_day(time.time()))]}

"""Server metrics in the Prometheus text format, and the bounded cost ledger that feeds USD spent.

Hand-written exposition (format 0.0.4): counters of requests by status, errors by type and
fallbacks by reason, a request-latency histogram, USD spent per model (pool calls and the router's
own tokens), router batches, and requests in flight.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable

from xrouter.pool.ledger import CallRecord, CostLedger

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class ServerMetrics:
    """Thread-safe counters for ``GET /metrics``."""

    def __init__(self, buckets: Iterable[float] = LATENCY_BUCKETS_S) -> None:
        self._lock = threading.Lock()
        self.buckets = tuple(sorted(buckets))
        self.requests: Counter[str] = Counter()  # by HTTP status
        self.errors: Counter[str] = Counter()  # by error type
        self.fallbacks: Counter[str] = Counter()  # by reason
        self.spent_usd: Counter[tuple[str, str]] = Counter()  # by (model, kind)
        self.pool_calls: Counter[tuple[str, str]] = Counter()  # by (model, outcome)
        self.latency_counts = [0] * (len(self.buckets) + 1)
        self.latency_sum_s = 0.0
        self.in_flight = 0
        self.router_batches = 0
        self.router_batch_rows = 0

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def finished(self, status: int, latency_s: float, error_type: str | None = None) -> None:
        with self._lock:
            self.in_flight -= 1
            self.requests[str(status)] += 1
            if error_type:
                self.errors[error_type] += 1
            self.latency_sum_s += latency_s
            index = next((i for i, bound in enumerate(self.buckets) if latency_s <= bound), len(self.buckets))
            self.latency_counts[index] += 1

    def fallback(self, reason: str) -> None:
        with self._lock:
            self.fallbacks[reason] += 1

    def charge(self, record: CallRecord) -> None:
        with self._lock:
            self.spent_usd[(record.model, record.kind)] += record.cost_usd
            if record.kind == "tool":
                self.pool_calls[(record.model, "error" if record.error else "ok")] += 1

    def batch(self, rows: int) -> None:
        with self._lock:
            self.router_batches += 1
            self.router_batch_rows += rows

    def render(self) -> str:
        """The exposition text."""
        with self._lock:
            lines = [
                "# HELP xrouter_requests_total Chat-completion requests by HTTP status.",
                "# TYPE xrouter_requests_total counter",
            ]
            lines += [f'xrouter_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.requests.items())]
            lines += [
                "# HELP xrouter_request_errors_total Requests answered with an error, by error type.",
                "# TYPE xrouter_request_errors_total counter",
            ]
            lines += [f'xrouter_request_errors_total{{type="{_label(t)}"}} {n}' for t, n in sorted(self.errors.items())]
            lines += [
                "# HELP xrouter_fallbacks_total Answers that fell back (limit hit, endpoint failed), by reason.",
                "# TYPE xrouter_fallbacks_total counter",
            ]
            lines += [f'xrouter_fallbacks_total{{reason="{_label(r)}"}} {n}' for r, n in sorted(self.fallbacks.items())]
            lines += [
                "# HELP xrouter_request_latency_seconds Chat-completion latency in the server.",
                "# TYPE xrouter_request_latency_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip(self.buckets, self.latency_counts):
                cumulative += count
                lines.append(f'xrouter_request_latency_seconds_bucket{{le="{bound:g}"}} {cumulative}')
            cumulative += self.latency_counts[-1]
            lines += [
                f'xrouter_request_latency_seconds_bucket{{le="+Inf"}} {cumulative}',
                f"xrouter_request_latency_seconds_sum {self.latency_sum_s:.6f}",
                f"xrouter_request_latency_seconds_count {cumulative}",
            ]
            lines += [
                "# HELP xrouter_spent_usd_total USD spent, by model (kind tool: pool calls; router: its own tokens).",
                "# TYPE xrouter_spent_usd_total counter",
            ]
            lines += [
                f'xrouter_spent_usd_total{{model="{_label(m)}",kind="{k}"}} {usd:.10g}'
                for (m, k), usd in sorted(self.spent_usd.items())
            ]
            lines += [
                "# HELP xrouter_pool_calls_total Pool calls by model and outcome (after retries).",
                "# TYPE xrouter_pool_calls_total counter",
            ]
            lines += [
                f'xrouter_pool_calls_total{{model="{_label(m)}",outcome="{o}"}} {n}'
                for (m, o), n in sorted(self.pool_calls.items())
            ]
            lines += [
                "# HELP xrouter_router_batches_total Router generate calls (batches of turns).",
                "# TYPE xrouter_router_batches_total counter",
                f"xrouter_router_batches_total {self.router_batches}",
                "# HELP xrouter_router_batch_rows_total Router turns generated, over all batches.",
                "# TYPE xrouter_router_batch_rows_total counter",
                f"xrouter_router_batch_rows_total {self.router_batch_rows}",
                "# HELP xrouter_requests_in_flight Chat-completion requests being answered.",
                "# TYPE xrouter_requests_in_flight gauge",
                f"xrouter_requests_in_flight {self.in_flight}",
            ]
        return "\n".join(lines) + "\n"


class ServingLedger(CostLedger):
    """A ``CostLedger`` for a long-running server: keeps the last ``keep`` records (not every call
    ever made) and charges each record to the metrics, and to its API key's budget, as it arrives."""

    def __init__(self, metrics: ServerMetrics, keep: int = 10_000, budgets=None) -> None:
        super().__init__()
        self._records = deque(maxlen=keep)  # type: ignore[assignment]
        self.metrics = metrics
        self.budgets = budgets  # xrouter/serve/budgets.py: each charge booked (persisted) against its API key

    def record(self, record: CallRecord) -> CallRecord:
        super().record(record)
        self.metrics.charge(record)
        if self.budgets is not None:
            self.budgets.charge(record)
        return record

"""An optional JSONL log of every served request's decision record (``decision_log`` in the serve config).

One line per answered request: when, the request id, the API key's name, the query's SHA-256 and length (not
its text: logs get copied around), and the response's ``xrouter`` metadata: the lambda used and where it came
from, every call with its cost, latency and attempts, how the episode ended and any fallback.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any


class DecisionLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, served: Any) -> None:
        query = str(served.episode.example.get("prompt", ""))
        line = {
            "ts": round(time.time(), 3),
            "request_id": served.episode.episode_id,
            "key": served.key,
            "query_sha256": hashlib.sha256(query.encode("utf-8", "replace")).hexdigest(),
            "query_chars": len(query),
            "answered": served.text is not None,
            **served.metadata(),
        }
        with self._lock:
            self._handle.write(json.dumps(line, default=str) + "\n")
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()

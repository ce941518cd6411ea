"""Retry policy of ``OpenAICompatEndpoint``: which failures are retried, how long to sleep between
tries (``Retry-After`` wins, else exponential backoff with full jitter, both capped), and the error
messages a failed try leaves (server message extracted, truncated; advice per HTTP status)."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from typing import Any


def is_retryable_status(status: int) -> bool:
    """429 and 5xx are retried; any other 4xx fails at once."""
    return status == 429 or status >= 500


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random, retry_after: float | None = None) -> float:
    """Sleep before try ``attempt + 1``: Retry-After if given, else full jitter, both capped at ``max_s``."""
    if retry_after is not None:
        return min(retry_after, max_s)
    return rng.uniform(0.0, min(max_s, base_s * 2 ** (attempt - 1)))


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date); None if absent."""
    if not headers:
        return None
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def status_advice(status: int, base_url: str, api_model: str, api_key_env: str | None) -> str:
    """What a non-retried HTTP status from an OpenAI-compatible server most likely means, and the fix."""
    if status == 401:
        where = (
            f"check the env var {api_key_env}"
            if api_key_env
            else "this endpoint sends no key: set api_key_env to the variable holding one"
        )
        return f"HTTP 401 (unauthorized) from {base_url}: the API key was rejected; {where}"
    if status == 403:
        return (
            f"HTTP 403 (forbidden) from {base_url}: the key in {api_key_env} may not use "
            f"model '{api_model}'; check the account's access"
        )
    if status == 404:
        return (
            f"HTTP 404 (not found) from {base_url}: check api_model '{api_model}' "
            "(the provider's model id) and base_url (usually ends in /v1)"
        )
    if status in (400, 422):
        return (
            f"HTTP {status} (bad request) from {base_url} for model '{api_model}': "
            "check the request parameters (temperature, max_tokens, extra_body)"
        )
    return f"HTTP {status} from {base_url} (not retried)"


def short_error(error: BaseException, limit: int = 200) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= limit else text[:limit] + "..."


def error_detail(error: Any, limit: int = 300) -> str:
    """The server's error message (OpenAI error bodies), else the status error's text; truncated."""
    body = getattr(error, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
    text = str(message if message is not None else getattr(error, "message", error))
    return text if len(text) <= limit else text[:limit] + "..."

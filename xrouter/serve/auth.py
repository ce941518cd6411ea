"""API-key authentication of the router server: ``Authorization: Bearer <key>`` against the configured keys."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.requests import Request

from xrouter.serve.protocol import RequestError


class ApiKeyAuth:
    """The server's API keys (``name:key`` or a bare key), checked in constant time; never logged."""

    def __init__(self, keys: Iterable[tuple[str, str] | str], required: bool) -> None:
        from xrouter.serve.budgets import named_key

        self.keys = [(name, key.encode()) for name, key in (named_key(k) for k in keys) if key]
        self.required = required
        if required and not self.keys:
            raise ValueError(
                "auth.required is true but no API key is configured: set the environment variable "
                "named by auth.api_keys_env (comma-separated keys), or auth.required=false for local "
                "experiments"
            )

    def check(self, request: Request) -> tuple[str | None, RequestError | None]:
        """(the key's name, None) for a valid key (no auth: (None, None)), else (None, the 401)."""
        if not self.required:
            return None, None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode()
        if scheme.lower() == "bearer" and given:
            # every key is compared in constant time: the time says neither whether nor which one matched
            matched = [name for name, key in self.keys if hmac.compare_digest(given, key)]
            if matched:
                return matched[0], None
        return None, RequestError(
            401,
            "invalid or missing API key: send the header 'Authorization: Bearer <key>' "
            "with a key this server was started with",
            code="invalid_api_key",
        )

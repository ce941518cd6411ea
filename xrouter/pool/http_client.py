"""The HTTP client of ``OpenAICompatEndpoint``: openai's ``AsyncOpenAI`` with request templates.

``TemplatedAsyncOpenAI`` reuses one request template per request shape instead of merging headers
and parsing URLs on every call; ``httpx_module`` names the httpx package openai is built on.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Mapping
from typing import Any

import openai

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def httpx_module() -> Any:
    """The httpx package the installed openai client is built on (``httpx``, or ``httpx2`` in openai 3)."""
    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return importlib.import_module(base.__module__.split(".")[0])


_SENTINEL = "xrouter-template-value-{}"
_IDEMPOTENCY = object()  # slot name of the idempotency key (a header only where the client sends one)


class _RequestTemplate:
    """The request openai's ``_build_request`` makes for one shape of options, with the slots that
    change per call (custom header values, idempotency key, retry count, content length) located
    by sentinel values."""

    __slots__ = (
        "request_cls",
        "stream_cls",
        "method",
        "url",
        "extensions",
        "raw",
        "slots",
        "retry_slot",
        "length_slot",
        "checked",
    )

    def __init__(self, request: Any, sentinels: Mapping[bytes, Any]) -> None:
        self.request_cls, self.method, self.url = type(request), request.method, request.url
        self.stream_cls = type(request.stream)  # httpx's ByteStream for bytes content
        self.extensions = dict(request.extensions)
        self.checked = False  # set once a built request equals openai's for the same options
        self.raw = list(request.headers.raw)
        self.slots = [(i, sentinels[value]) for i, (_, value) in enumerate(self.raw) if value in sentinels]
        self.retry_slot = self.length_slot = None
        taken = {i for i, _ in self.slots}
        for i, (key, _) in enumerate(self.raw):
            if i in taken:  # a custom header that overrides one of openai's
                continue
            if key.lower() == b"x-stainless-retry-count":
                self.retry_slot = i
            elif key.lower() == b"content-length":
                self.length_slot = i
        found = {name for _, name in self.slots}
        if (
            len(found) != len(self.slots)
            or not found >= set(sentinels.values()) - {_IDEMPOTENCY}
            or self.length_slot is None
        ):
            raise ValueError("the template request does not show each per-call value once")

    def build(self, options: Any, retries_taken: int) -> Any:
        """openai's request for ``options`` (of this template's shape), or None to let openai build it."""
        headers = options.headers if isinstance(options.headers, dict) else {}
        content = options.content
        raw = self.raw.copy()
        for i, name in self.slots:
            value = options.idempotency_key if name is _IDEMPOTENCY else headers[name]
            if not value.isascii() or not value.isprintable():
                return None  # let openai / httpx encode (or reject) it
            raw[i] = (raw[i][0], value.encode())
        if self.retry_slot is not None:
            raw[self.retry_slot] = (raw[self.retry_slot][0], str(retries_taken).encode())
        raw[self.length_slot] = (raw[self.length_slot][0], str(len(content)).encode())
        # stream= rather than content=: the headers are complete (Host, Content-Length), and httpx's
        # content= path re-scans and rebuilds them (5x the cost of the rest of this method)
        request = self.request_cls(
            self.method, self.url, headers=raw, stream=self.stream_cls(content), extensions=self.extensions
        )
        request.read()
        return request


class TemplatedAsyncOpenAI(openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` whose ``_build_request`` reuses a per-shape template for pre-serialized
    (``content=``) requests instead of merging headers and parsing URLs anew on every call (~40% of
    the client's CPU per call against a local server).  Everything else (auth, option hooks,
    sending, error mapping, response handling) is openai's own.  A template is made from openai's
    ``_build_request`` and checked against it (method, URL, headers in order, body, extensions) on
    the first request of its shape; where they differ (another openai version), that shape keeps
    openai's path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._xr_templates: dict[tuple, _RequestTemplate | None] = {}

    @property
    def user_agent(self) -> str:  # what openai.AsyncOpenAI sends, not this subclass's name
        return super().user_agent.replace(type(self).__name__, openai.AsyncOpenAI.__name__, 1)

    def _build_request(self, options: Any, *, retries_taken: int = 0) -> Any:
        template = request = None
        shape = _template_shape(options)
        if shape is not None:
            shape += (self.api_key,)
            template = self._xr_templates.get(shape, False)
            if template is False:
                template = self._xr_templates[shape] = self._xr_new_template(options, shape)
        if template is not None:
            request = template.build(options, retries_taken)
        if request is None:
            return super()._build_request(options, retries_taken=retries_taken)
        if not template.checked:  # the first request of this shape: compare with openai's own
            expected = super()._build_request(options, retries_taken=retries_taken)
            if _request_fields(request) != _request_fields(expected):
                log.debug("request template for %s %s differs from openai's request; not used", *shape[:2])
                self._xr_templates[shape] = None
                return expected
            template.checked = True
        return request

    def _xr_new_template(self, options: Any, shape: tuple) -> _RequestTemplate | None:
        """The template for ``shape`` (None if there is none), from a request openai builds for these
        options with sentinels for the per-call values."""
        sentinels: dict[bytes, Any] = {}
        update: dict[str, Any] = {"content": b"{}", "headers": {}}  # an empty body moves Content-Length
        for i, name in enumerate(shape[2]):
            update["headers"][name] = _SENTINEL.format(i)
            sentinels[update["headers"][name].encode()] = name
        if options.idempotency_key is not None:
            update["idempotency_key"] = _SENTINEL.format("idempotency")
            sentinels[update["idempotency_key"].encode()] = _IDEMPOTENCY
        try:
            return _RequestTemplate(super()._build_request(options.model_copy(update=update)), sentinels)
        except Exception as error:  # noqa: BLE001 - any surprise: openai's own path for this shape
            log.debug("no request template for %s %s: %s", *shape[:2], type(error).__name__)
            return None


def _request_fields(request: Any) -> tuple:
    return (
        request.method,
        str(request.url),
        request.headers.raw,
        request.content,
        request.extensions,
        type(request.stream),
    )


def _template_shape(options: Any) -> tuple | None:
    """A key for the requests that differ only in custom header values, idempotency key, body bytes
    and retry count; None for what a template does not cover (json bodies, files, params, timeouts)."""
    if (
        type(options.content) is not bytes
        or options.json_data is not None
        or options.extra_json is not None
        or options.files is not None
        or options.params
        or not isinstance(options.timeout, openai.NotGiven)
    ):
        return None
    headers = options.headers
    if isinstance(headers, dict):
        if not all(isinstance(name, str) and isinstance(value, str) for name, value in headers.items()):
            return None  # Omit() and friends
        names = tuple(headers)
    elif isinstance(headers, openai.NotGiven):
        names = ()
    else:
        return None
    security = options.security
    return (
        options.method,
        options.url,
        names,
        options.idempotency_key is not None,
        tuple(sorted(security.items())) if isinstance(security, dict) else repr(security),
    )

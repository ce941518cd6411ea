"""``OpenAICompatEndpoint``: any OpenAI-compatible chat server (OpenAI, Together, OpenRouter, vLLM,
``xrouter.pool.server``) through the official ``openai`` AsyncOpenAI client.

We retry ourselves (the client runs with ``max_retries=0``) so that every HTTP try is counted:
429, 5xx, timeouts, dropped connections and malformed bodies are retried with exponential backoff
and full jitter (a ``Retry-After`` header wins, capped by ``backoff_max_s``); any other 4xx fails at
once.  The API key is read from the environment variable named by ``api_key_env`` when the client is
first needed; it is never logged and is scrubbed from every error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import importlib
import importlib.util
import json
import logging
import math
import os
import random
import time
from typing import Any, Callable, Mapping, Sequence

import openai
from openai._models import FinalRequestOptions  # what client.post builds per call; we copy a template

from xrouter.pool.base import Completion, EndpointError, Message
from xrouter.pool.pricing import Price

log = logging.getLogger(__name__)

LOCAL_API_KEY = "EMPTY"  # what local servers (vLLM, xrouter.pool.server) get when no key is configured


def estimate_tokens(text: str) -> int:
    """The default token estimate when a server reports no usage: ceil(characters / 4)."""
    return math.ceil(len(text) / 4)


def messages_text(messages: Sequence[Message]) -> str:
    """All message contents joined by newlines (text parts of list contents included)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts.extend(part.get("text", "") for part in content if isinstance(part, dict))
        elif content:
            parts.append(str(content))
    return "\n".join(parts)


class MalformedResponseError(ValueError):
    """The server answered 200 with a body that is not a chat completion."""


@functools.lru_cache(maxsize=1)
def _httpx_module() -> Any:
    """The httpx package the installed openai client is built on (``httpx``, or ``httpx2`` in openai 3)."""
    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return importlib.import_module(base.__module__.split(".")[0])


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


_SENTINEL = "xrouter-template-value-{}"
_IDEMPOTENCY = object()  # slot name of the idempotency key (a header only where the client sends one)


class _RequestTemplate:
    """The request openai's ``_build_request`` makes for one shape of options, with the slots that
    change per call (custom header values, idempotency key, retry count, content length) located
    by sentinel values."""

    __slots__ = ("request_cls", "stream_cls", "method", "url", "extensions", "raw", "slots", "retry_slot",
                 "length_slot", "checked")

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
        if len(found) != len(self.slots) or not found >= set(sentinels.values()) - {_IDEMPOTENCY} \
                or self.length_slot is None:
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
        request = self.request_cls(self.method, self.url, headers=raw, stream=self.stream_cls(content),
                                   extensions=self.extensions)
        request.read()
        return request


class _TemplatedAsyncOpenAI(openai.AsyncOpenAI):
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
    return (request.method, str(request.url), request.headers.raw, request.content, request.extensions,
            type(request.stream))


def _template_shape(options: Any) -> tuple | None:
    """A key for the requests that differ only in custom header values, idempotency key, body bytes
    and retry count; None for what a template does not cover (json bodies, files, params, timeouts)."""
    if type(options.content) is not bytes or options.json_data is not None \
            or options.extra_json is not None or options.files is not None or options.params \
            or not isinstance(options.timeout, openai.NotGiven):
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
    return (options.method, options.url, names, options.idempotency_key is not None,
            tuple(sorted(security.items())) if isinstance(security, dict) else repr(security))


class OpenAICompatEndpoint:
    """A pool model served by an OpenAI-compatible ``/v1/chat/completions``.

    ``timeout_s`` bounds each attempt (the HTTP client's connect/read/write/pool timeouts);
    ``latency_s`` of the result is the wall time of all attempts and backoff sleeps.
    ``max_in_flight`` bounds this endpoint's concurrent requests (an asyncio.Semaphore, held only
    while a request is on the wire, not during backoff) and sizes its connection pool.
    ``tokenizer`` (text -> token count) estimates usage when the server reports none; the default is
    :func:`estimate_tokens`.  ``max_tokens`` is sent as ``max_tokens`` (vLLM, Together, OpenRouter;
    OpenAI's reasoning models want ``max_completion_tokens`` in ``extra_body`` instead).
    ``prompt_id`` is ignored unless ``send_prompt_id``: then it goes as header ``X-Prompt-Id`` (for a
    replay pool behind ``xrouter.pool.server``; never send benchmark ids to a provider).
    ``http_backend``: ``auto`` uses openai's aiohttp client when aiohttp is installed (several times
    less CPU per call than httpx's pool at 64 connections), else its httpx client.
    The client and semaphore belong to the event loop that first uses them and are made anew for
    another loop (e.g. successive ``asyncio.run`` calls); ``await endpoint.aclose()`` when done.
    """

    def __init__(self, *, name: str, api_model: str, base_url: str, price: Price,
                 api_key_env: str | None = None, timeout_s: float = 60.0, max_attempts: int = 4,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 8.0, max_in_flight: int = 64,
                 tokenizer: Callable[[str], int] | None = None,
                 extra_body: Mapping[str, Any] | None = None, http_backend: str = "auto",
                 send_prompt_id: bool = False) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.name = name
        self.api_model = api_model
        self.base_url = base_url.rstrip("/")
        self.price = price
        self.api_key_env = api_key_env or None
        self.timeout_s = float(timeout_s)
        self.max_attempts = int(max_attempts)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_in_flight = int(max_in_flight)
        self.tokenizer = tokenizer or estimate_tokens
        self.extra_body = dict(extra_body) if extra_body else None
        if http_backend not in ("auto", "aiohttp", "httpx"):
            raise ValueError(f"http_backend must be 'auto', 'aiohttp' or 'httpx', got {http_backend!r}")
        self.http_backend = http_backend
        self.send_prompt_id = bool(send_prompt_id)
        self._rng = random.Random()
        self._client: openai.AsyncOpenAI | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._secret: str | None = None
        self._key_prefix = f"{self._rng.getrandbits(48):012x}"
        self._calls = 0
        # client.post("/chat/completions") minus its per-call FinalRequestOptions.construct (a
        # pydantic model_construct that deep-copies defaults): a shallow copy of this with updates
        self._options = FinalRequestOptions.construct(method="post", url="/chat/completions")

    def __repr__(self) -> str:  # never shows the key
        return (f"OpenAICompatEndpoint(name={self.name!r}, api_model={self.api_model!r}, "
                f"base_url={self.base_url!r}, api_key_env={self.api_key_env!r})")

    # -- client -----------------------------------------------------------------------------------
    def _api_key(self) -> str:
        if self.api_key_env is None:
            return LOCAL_API_KEY
        key = os.environ.get(self.api_key_env)
        if not key:
            raise EndpointError(self.name, f"the environment variable {self.api_key_env} is not set (or empty); "
                                f"export {self.api_key_env}=<your API key for {self.base_url}>, or set "
                                "api_key_env: null for a local server that needs no key",
                                attempts=0, retryable=False)  # no request was sent
        return key

    def _client_for_loop(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            key = self._api_key()
            self._secret = key if key != LOCAL_API_KEY else None
            self._client = _TemplatedAsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0,
                                              timeout=self.timeout_s, http_client=self._http_client())
            self._semaphore = asyncio.Semaphore(self.max_in_flight)
            self._loop = loop
        assert self._semaphore is not None
        return self._client, self._semaphore

    def _http_client(self) -> Any:
        """openai's aiohttp- or httpx-backed client with a pool of ``max_in_flight`` connections."""
        httpx = _httpx_module()
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight)
        factory = openai.DefaultAsyncHttpxClient
        if self.http_backend in ("auto", "aiohttp"):
            aio_factory = getattr(openai, "DefaultAioHttpClient", None)  # openai >= 1.86
            if aio_factory is not None and importlib.util.find_spec("aiohttp") is not None:
                factory = aio_factory
            elif self.http_backend == "aiohttp":
                raise ImportError("http_backend='aiohttp' needs openai>=1.86 and aiohttp: "
                                  "pip install 'openai[aiohttp]'")
        return factory(limits=limits, timeout=httpx.Timeout(self.timeout_s))

    async def aclose(self) -> None:
        """Close the connection pool; call it when done (an unclosed aiohttp session warns at exit)."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = self._semaphore = self._loop = None

    def _scrub(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    # -- calls ------------------------------------------------------------------------------------
    def backoff_s(self, attempt: int, retry_after: float | None = None) -> float:
        """Sleep before try ``attempt + 1``: Retry-After if given, else full jitter, both capped."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s)
        return self._rng.uniform(0.0, min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)))

    async def complete(self, messages: Sequence[Message], temperature: float = 0.0,
                       max_tokens: int | None = None, *, prompt_id: str | None = None) -> Completion:
        started = time.perf_counter()
        try:
            client, semaphore = self._client_for_loop()
        except EndpointError as error:
            error.latency_s = time.perf_counter() - started
            raise
        body: dict[str, Any] = {"model": self.api_model, "messages": list(messages), "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if self.extra_body:
            body.update(self.extra_body)
        options = self._request_options(body, prompt_id)
        raw_response = _httpx_module().Response
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                async with semaphore:
                    # what client.post("/chat/completions", ...) does (same auth, error mapping and
                    # timeouts), with the body serialized once and without the typed-dict transform
                    # and pydantic parsing of chat.completions.create
                    response = await client.request(raw_response, options)
                return self._completion(json.loads(response.content), messages, started, attempt)
            except openai.APIStatusError as error:
                status = error.status_code
                detail = self._scrub(_error_detail(error))
                if status != 429 and status < 500:
                    raise EndpointError(self.name, f"{self._status_advice(status)}; server said: {detail}",
                                        attempts=attempt, latency_s=time.perf_counter() - started,
                                        retryable=False) from None
                retry_after = parse_retry_after(error.response.headers)
                problem = f"HTTP {status} from {self.base_url} ({detail})"
            except openai.APITimeoutError:
                problem = f"no answer from {self.base_url} within timeout_s={self.timeout_s:g}s"
            except openai.APIConnectionError as error:
                cause = error.__cause__ or error.__context__
                problem = (f"connection to {self.base_url} failed or was dropped"
                           f" ({type(cause).__name__ if cause else 'connection error'})")
            except openai.APIError as error:  # any other transport-level failure of the client
                problem = f"request to {self.base_url} failed ({self._scrub(_short(error))})"
            except ValueError as error:  # invalid JSON, a body that is no chat completion
                problem = f"malformed response body from {self.base_url} ({self._scrub(_short(error))})"
            log.debug("%s: attempt %d/%d failed: %s", self.name, attempt, self.max_attempts, problem)
            if attempt < self.max_attempts:
                await asyncio.sleep(self.backoff_s(attempt, retry_after))
        raise EndpointError(self.name, f"failed after {self.max_attempts} attempt(s): {problem}",
                            attempts=self.max_attempts, latency_s=time.perf_counter() - started,
                            retryable=True)

    def _request_options(self, body: dict[str, Any], prompt_id: str | None) -> FinalRequestOptions:
        """The options client.post would build for ``body``: one idempotency key for all tries of
        this call (the client would make one per try), the body as JSON bytes (as openai encodes it;
        what plain ``json`` cannot encode goes to openai's encoder) and X-Prompt-Id if enabled."""
        self._calls += 1
        update: dict[str, Any] = {"idempotency_key": f"xrouter-{self._key_prefix}-{self._calls}"}
        try:
            update["content"] = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError):
            update["json_data"] = body
        if self.send_prompt_id and prompt_id is not None:
            update["headers"] = {"X-Prompt-Id": str(prompt_id)}
        return self._options.model_copy(update=update)

    def _completion(self, data: Any, messages: Sequence[Message], started: float, attempts: int) -> Completion:
        """A Completion from a decoded chat.completion body; MalformedResponseError if it is none."""
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (TypeError, KeyError, IndexError):
            raise MalformedResponseError(f"not a chat completion with choices[0].message: {str(data)[:120]}") from None
        if not isinstance(text, str):
            raise MalformedResponseError(f"choices[0].message.content is a {type(text).__name__}, not text")
        usage = data.get("usage") or {}
        input_tokens, output_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        estimated = not isinstance(input_tokens, int) or not isinstance(output_tokens, int)
        if estimated:
            input_tokens = input_tokens if isinstance(input_tokens, int) else self.tokenizer(messages_text(messages))
            output_tokens = output_tokens if isinstance(output_tokens, int) else self.tokenizer(text)
        return Completion(text=text, input_tokens=input_tokens, output_tokens=output_tokens,
                          cost_usd=self.price.cost(input_tokens, output_tokens),
                          latency_s=time.perf_counter() - started, model=self.name,
                          usage_estimated=estimated, attempts=attempts,
                          extra={"finish_reason": choice.get("finish_reason")})

    def _status_advice(self, status: int) -> str:
        if status == 401:
            where = (f"check the env var {self.api_key_env}" if self.api_key_env else
                     "this endpoint sends no key: set api_key_env to the variable holding one")
            return f"HTTP 401 (unauthorized) from {self.base_url}: the API key was rejected; {where}"
        if status == 403:
            return (f"HTTP 403 (forbidden) from {self.base_url}: the key in {self.api_key_env} may not use "
                    f"model '{self.api_model}'; check the account's access")
        if status == 404:
            return (f"HTTP 404 (not found) from {self.base_url}: check api_model '{self.api_model}' "
                    "(the provider's model id) and base_url (usually ends in /v1)")
        if status in (400, 422):
            return (f"HTTP {status} (bad request) from {self.base_url} for model '{self.api_model}': "
                    "check the request parameters (temperature, max_tokens, extra_body)")
        return f"HTTP {status} from {self.base_url} (not retried)"


def _short(error: BaseException, limit: int = 200) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= limit else text[:limit] + "..."


def _error_detail(error: Any, limit: int = 300) -> str:
    """The server's error message (OpenAI error bodies), else the status error's text; truncated."""
    body = getattr(error, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
    text = str(message if message is not None else getattr(error, "message", error))
    return text if len(text) <= limit else text[:limit] + "..."

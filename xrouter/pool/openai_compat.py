"""``OpenAICompatEndpoint``: any OpenAI-compatible chat server (OpenAI, Together, OpenRouter, vLLM,
``xrouter.serve_pool``) through the official ``openai`` AsyncOpenAI client.

We retry ourselves (the client runs with ``max_retries=0``) so that every HTTP try is counted:
429, 5xx, timeouts, dropped connections and malformed bodies are retried with exponential backoff
and full jitter (``xrouter/pool/retry.py``); any other 4xx fails at once.  Every reply is validated
by ``xrouter/pool/replies.py``; ``timeout_s`` is a deadline for each whole try (connect to last body
byte).  The API key is read from the environment variable named by ``api_key_env`` when the client
is first needed; it is never logged and is scrubbed from every error message.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import openai
from openai._models import FinalRequestOptions  # what client.post builds per call; we copy a template

from xrouter.pool.base import Completion, EndpointError, Message
from xrouter.pool.http_client import TemplatedAsyncOpenAI, httpx_module
from xrouter.pool.pricing import Price
from xrouter.pool.replies import (  # noqa: F401 (re-exported)
    MalformedResponseError,
    estimate_tokens,
    messages_text,
    parse_reply,
)
from xrouter.pool.retry import (
    backoff_s,
    error_detail,
    is_retryable_status,
    parse_retry_after,
    short_error,
    status_advice,
)

log = logging.getLogger(__name__)

LOCAL_API_KEY = "EMPTY"  # what local servers (vLLM, xrouter.serve_pool) get when no key is configured
__all__ = [
    "LOCAL_API_KEY",
    "MalformedResponseError",
    "OpenAICompatEndpoint",
    "estimate_tokens",
    "messages_text",
    "parse_retry_after",
]


class OpenAICompatEndpoint:
    """A pool model served by an OpenAI-compatible ``/v1/chat/completions``.

    ``timeout_s`` is the deadline of each attempt, from sending to the last byte of the body (a
    server that drips its answer is cut there, not after ``timeout_s`` per read);
    ``latency_s`` of the result is the wall time of all attempts and backoff sleeps.
    ``max_in_flight`` bounds this endpoint's concurrent requests (an asyncio.Semaphore, held only
    while a request is on the wire, not during backoff) and sizes its connection pool.
    ``tokenizer`` (text -> token count) estimates usage when the server reports none; the default is
    :func:`estimate_tokens`.  ``max_tokens`` is sent as ``max_tokens`` (vLLM, Together, OpenRouter;
    OpenAI's reasoning models want ``max_completion_tokens`` in ``extra_body`` instead).
    ``prompt_id`` is ignored unless ``send_prompt_id``: then it goes as header ``X-Prompt-Id`` (for a
    replay pool behind ``xrouter.serve_pool``; never send benchmark ids to a provider).
    ``http_backend``: ``auto`` uses openai's aiohttp client when aiohttp is installed (several times
    less CPU per call than httpx's pool at 64 connections), else its httpx client.
    The client and semaphore belong to the event loop that first uses them and are made anew for
    another loop (e.g. successive ``asyncio.run`` calls); ``await endpoint.aclose()`` when done.
    """

    def __init__(
        self,
        *,
        name: str,
        api_model: str,
        base_url: str,
        price: Price,
        api_key_env: str | None = None,
        timeout_s: float = 60.0,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_in_flight: int = 64,
        tokenizer: Callable[[str], int] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        http_backend: str = "auto",
        send_prompt_id: bool = False,
    ) -> None:
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
        return (
            f"OpenAICompatEndpoint(name={self.name!r}, api_model={self.api_model!r}, "
            f"base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"
        )

    # -- client -----------------------------------------------------------------------------------
    def _api_key(self) -> str:
        if self.api_key_env is None:
            return LOCAL_API_KEY
        key = os.environ.get(self.api_key_env)
        if not key:
            raise EndpointError(
                self.name,
                f"the environment variable {self.api_key_env} is not set (or empty); "
                f"export {self.api_key_env}=<your API key for {self.base_url}>, or set "
                "api_key_env: null for a local server that needs no key",
                attempts=0,
                retryable=False,
            )  # no request was sent
        return key

    def _client_for_loop(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            key = self._api_key()
            self._secret = key if key != LOCAL_API_KEY else None
            self._client = TemplatedAsyncOpenAI(
                api_key=key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout_s,
                http_client=self._http_client(),
            )
            self._semaphore = asyncio.Semaphore(self.max_in_flight)
            self._loop = loop
        assert self._semaphore is not None
        return self._client, self._semaphore

    def _http_client(self) -> Any:
        """openai's aiohttp- or httpx-backed client with a pool of ``max_in_flight`` connections."""
        httpx = httpx_module()
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight)
        factory = openai.DefaultAsyncHttpxClient
        if self.http_backend in ("auto", "aiohttp"):
            aio_factory = getattr(openai, "DefaultAioHttpClient", None)  # openai >= 1.86
            if aio_factory is not None and importlib.util.find_spec("aiohttp") is not None:
                factory = aio_factory
            elif self.http_backend == "aiohttp":
                raise ImportError(
                    "http_backend='aiohttp' needs openai>=1.86 and aiohttp: pip install 'openai[aiohttp]'"
                )
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
        return backoff_s(attempt, self.backoff_base_s, self.backoff_max_s, self._rng, retry_after)

    async def complete(
        self,
        messages: Sequence[Message],
        temperature: float = 0.0,
        max_tokens: int | None = None,
        *,
        prompt_id: str | None = None,
    ) -> Completion:
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
        raw_response = httpx_module().Response
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                async with semaphore:
                    # what client.post("/chat/completions", ...) does (same auth, error mapping and
                    # timeouts), with the body serialized once and without the typed-dict transform
                    # and pydantic parsing of chat.completions.create; the deadline covers the whole try
                    async with asyncio.timeout(self.timeout_s):
                        response = await client.request(raw_response, options)
                        content = response.content
                return self._completion(parse_reply(content), messages, started, attempt)
            except openai.APIStatusError as error:
                status = error.status_code
                detail = self._scrub(error_detail(error))
                if not is_retryable_status(status):
                    raise EndpointError(
                        self.name,
                        f"{self._status_advice(status)}; server said: {detail}",
                        attempts=attempt,
                        latency_s=time.perf_counter() - started,
                        retryable=False,
                    ) from None
                retry_after = parse_retry_after(error.response.headers)
                problem = f"HTTP {status} from {self.base_url} ({detail})"
            except (openai.APITimeoutError, TimeoutError):
                problem = f"no complete answer from {self.base_url} within timeout_s={self.timeout_s:g}s"
            except openai.APIConnectionError as error:
                cause = error.__cause__ or error.__context__
                problem = (
                    f"connection to {self.base_url} failed or was dropped"
                    f" ({type(cause).__name__ if cause else 'connection error'})"
                )
            except openai.APIError as error:  # any other transport-level failure of the client
                problem = f"request to {self.base_url} failed ({self._scrub(short_error(error))})"
            except MalformedResponseError as error:  # replies.py said why
                problem = f"malformed response body from {self.base_url} ({self._scrub(str(error))})"
            except Exception as error:  # noqa: BLE001 - whatever else a try raises is a failed try
                problem = f"request to {self.base_url} failed unexpectedly ({self._scrub(short_error(error))})"
            log.debug("%s: attempt %d/%d failed: %s", self.name, attempt, self.max_attempts, problem)
            if attempt < self.max_attempts:
                await asyncio.sleep(self.backoff_s(attempt, retry_after))
        raise EndpointError(
            self.name,
            f"failed after {self.max_attempts} attempt(s): {problem}",
            attempts=self.max_attempts,
            latency_s=time.perf_counter() - started,
            retryable=True,
        )

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

    def _completion(self, reply: Any, messages: Sequence[Message], started: float, attempts: int) -> Completion:
        """A Completion from a validated reply; counts the server did not report are estimated."""
        input_tokens, output_tokens = reply.input_tokens, reply.output_tokens
        estimated = input_tokens is None or output_tokens is None
        if input_tokens is None:
            input_tokens = self.tokenizer(messages_text(messages))
        if output_tokens is None:
            output_tokens = self.tokenizer(reply.text)
        return Completion(
            text=reply.text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self.price.cost(input_tokens, output_tokens),
            latency_s=time.perf_counter() - started,
            model=self.name,
            usage_estimated=estimated,
            attempts=attempts,
            extra={"finish_reason": reply.finish_reason},
        )

    def _status_advice(self, status: int) -> str:
        return status_advice(status, self.base_url, self.api_model, self.api_key_env)

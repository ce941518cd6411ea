"""The FastAPI app of the router server: routes, API-key auth, error bodies, streaming, metrics.

Routes: ``POST /v1/chat/completions`` (OpenAI schema; ``stream=true`` answers with SSE chunks),
``GET /v1/models``, ``GET /v1/budget`` (the calling key's spend and limits; all three need
``Authorization: Bearer <key>``), ``GET /health`` and ``GET /metrics``
(Prometheus text; open, for probes and scrapers).  Every error is an OpenAI-style JSON body with the
right 4xx/5xx status; an unexpected exception is logged with its id and answered 500 without a
stack trace.  API keys are compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from xrouter.serve.auth import ApiKeyAuth
from xrouter.serve.metrics import ServerMetrics
from xrouter.serve.orchestrator import TIMEOUT, RouterService, ServedAnswer
from xrouter.serve.protocol import (
    JSON,
    ChatRequest,
    Limits,
    RequestError,
    chunk_body,
    completion_body,
    parse_chat_request,
    sse,
)

log = logging.getLogger(__name__)
STREAM_PIECE_CHARS = 256  # the final answer is sent in pieces of this many characters


def error_response(error: RequestError, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return Response(
        json.dumps(error.body(**extra)).encode(), status_code=error.status, media_type=JSON, headers=headers
    )


def no_answer_error(served: ServedAnswer) -> RequestError:
    """Nothing could be returned: 504 after a timeout, else 502 (pool endpoints or the router failed)."""
    fallback = served.fallback or {}
    reason = fallback.get("reason", "no_final_answer")
    message = (
        f"no answer: the router stopped ({reason}) before any model answered, and "
        f"{fallback.get('detail', 'no fallback was possible')}"
    )
    status = 504 if reason == TIMEOUT else 502
    return RequestError(status, message, "timeout_error" if status == 504 else "upstream_error", code=reason)


async def until_disconnected(request: Request, answer: Any) -> Any:
    """``await answer`` unless the client leaves first: then the answer is cancelled (its pending pool calls
    with it; what they spent is booked, each as one ledger record) and ``ClientDisconnect`` is raised (a 499).
    The body has been read, so the next ASGI message is the disconnect."""
    task = asyncio.ensure_future(answer)

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(gone())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientDisconnect()


class _StreamError(RequestError):
    """An error after the stream started: sent as an SSE ``{"error": ...}`` event (the status is for metrics)."""

    def __init__(self, *args: Any, extra: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra = extra or {}


def build_app(
    service: RouterService,
    *,
    model_name: str,
    api_keys: Iterable[str],
    limits: Limits,
    metrics: ServerMetrics | None = None,
    max_body_bytes: int = 1_000_000,
    auth_required: bool = True,
    pool_names: list[str] | None = None,
) -> FastAPI:
    """The app serving ``service`` as model ``model_name``; ``limits`` are the per-request maxima."""
    auth = ApiKeyAuth(api_keys, auth_required)
    metrics = metrics or ServerMetrics()
    models = {model_name}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # HTTP pool clients belong to this event loop: close them with it
        for endpoint in service.env.pool.endpoints.values():
            if hasattr(endpoint, "aclose"):
                await endpoint.aclose()
        service.generator.close()

    app = FastAPI(title="xrouter router server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service, app.state.metrics = service, metrics

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body_bytes:
            raise RequestError(
                413,
                f"the request body is {declared} bytes; this server accepts at most "
                f"{max_body_bytes} (limits.max_body_bytes)",
                code="request_too_large",
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise RequestError(
                    413,
                    f"the request body exceeds {max_body_bytes} bytes (limits.max_body_bytes)",
                    code="request_too_large",
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def chat_completions(request: Request) -> Response:
        started = time.perf_counter()
        metrics.started()
        status, error_type, streaming = 500, "internal_error", False
        try:
            key, problem = auth.check(request)
            if problem is not None:
                status, error_type = 401, "invalid_api_key"
                return error_response(problem, headers={"WWW-Authenticate": "Bearer"})
            raw = await read_body(request)
            body_s = time.perf_counter() - started
            chat = parse_chat_request(raw, models, limits, max_body_bytes)
            request_id = f"chatcmpl-{uuid.uuid4().hex}"
            if chat.stream:  # what is known before the stream starts is a 4xx; the stream records its metrics
                prepared = service.prepare(request_id, chat.query, chat.limits, chat.pool_prompt_id, body_s, key=key)
                streaming = True
                return StreamingResponse(
                    stream_answer(chat, request_id, started, body_s, prepared),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            served = await until_disconnected(
                request, service.answer(request_id, chat.query, chat.limits, chat.pool_prompt_id, body_s, key=key)
            )
            note_fallback(served)
            server_s = time.perf_counter() - started
            if served.text is None:
                error = no_answer_error(served)
                status, error_type = error.status, error.type
                return error_response(error, xrouter=served.metadata(server_s))
            body = completion_body(request_id, chat.model, served.text, served.usage(), served.metadata(server_s))
            status, error_type = 200, None
            return Response(json.dumps(body, ensure_ascii=False).encode(), media_type=JSON)
        except RequestError as error:
            status, error_type = error.status, error.code or error.type
            return error_response(error, headers=error.headers)
        except ClientDisconnect:
            status, error_type = 499, "client_disconnected"
            return Response(status_code=499)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("internal error %s while answering a chat completion", incident)
            return error_response(
                RequestError(
                    500,
                    f"internal server error (incident {incident}); the server log has the details",
                    "server_error",
                    code="internal_error",
                )
            )
        finally:
            if not streaming:
                metrics.finished(status, time.perf_counter() - started, error_type)

    def note_fallback(served: ServedAnswer) -> None:
        if served.fallback is not None:
            metrics.fallback(served.fallback["reason"])

    async def stream_answer(
        chat: ChatRequest, request_id: str, started: float, body_s: float, prepared: Any
    ) -> AsyncIterator[bytes]:
        status, error_type = 499, "client_disconnected"  # unless the stream gets to its end
        try:
            async for event in stream_events(chat, request_id, started, body_s, prepared):
                yield event
            status, error_type = 200, None
        except _StreamError as error:
            status, error_type = error.status, error.type
            yield sse(error.body(**error.extra))
        finally:
            service.release(prepared[0])  # a stream the client left before it began still frees its budget
            metrics.finished(status, time.perf_counter() - started, error_type)

    async def stream_events(
        chat: ChatRequest, request_id: str, started: float, body_s: float, prepared: Any
    ) -> AsyncIterator[bytes]:
        created = int(time.time())
        yield sse(chunk_body(request_id, chat.model, created, {"role": "assistant", "content": ""}))
        try:
            served = await service.answer(
                request_id, chat.query, chat.limits, chat.pool_prompt_id, body_s, prepared=prepared, key=prepared[0].key
            )
        except RequestError as error:
            raise _StreamError(error.status, error.message, error.type, error.param, error.code) from None
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("internal error %s while streaming a chat completion", incident)
            raise _StreamError(
                500, f"internal server error (incident {incident})", "server_error", code="internal_error"
            ) from None
        note_fallback(served)
        metadata = served.metadata(time.perf_counter() - started)
        if served.text is None:
            error = no_answer_error(served)
            raise _StreamError(error.status, error.message, error.type, code=error.code, extra={"xrouter": metadata})
        for start in range(0, len(served.text), STREAM_PIECE_CHARS):
            yield sse(
                chunk_body(
                    request_id, chat.model, created, {"content": served.text[start : start + STREAM_PIECE_CHARS]}
                )
            )
        yield sse(chunk_body(request_id, chat.model, created, {}, "stop", xrouter=metadata))
        if chat.include_usage:
            yield sse(chunk_body(request_id, chat.model, created, None, usage=served.usage()))
        yield sse("[DONE]")

    async def list_models(request: Request) -> Response:
        _, problem = auth.check(request)
        if problem is not None:
            return error_response(problem, headers={"WWW-Authenticate": "Bearer"})
        data = [
            {
                "id": model_name,
                "object": "model",
                "created": 0,
                "owned_by": "xrouter",
                "xrouter": {"pool": pool_names or service.env.pool.names, "limits": limits.as_dict()},
            }
        ]
        return Response(json.dumps({"object": "list", "data": data}).encode(), media_type=JSON)

    async def budget(request: Request) -> Response:
        """The calling key's spend (persisted across restarts) and its limits."""
        key, problem = auth.check(request)
        if problem is not None:
            return error_response(problem, headers={"WWW-Authenticate": "Bearer"})
        from xrouter.serve.budgets import ANONYMOUS

        name = key or ANONYMOUS
        limit = service.budgets.limit_of(name)
        body = {
            "key": name,
            **service.budgets.spent(name),
            "reserved_usd": service.budgets.reserved[name],
            "total_limit_usd": limit.total_usd,
            "daily_limit_usd": limit.daily_usd,
        }
        return Response(json.dumps(body).encode(), media_type=JSON)

    async def health(request: Request) -> Response:
        return Response(json.dumps({"status": "ok", "model": model_name}).encode(), media_type=JSON)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render().encode(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        type_ = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return error_response(
            RequestError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", type_),
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s %s: %r", incident, request.method, request.url.path, exc)
        return error_response(
            RequestError(500, f"internal server error (incident {incident})", "server_error", code="internal_error")
        )

    # Starlette routes (no pydantic body models) keep the hot path short; validation is protocol.py's.
    app.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_route("/v1/models", list_models, methods=["GET"])
    app.add_route("/v1/budget", budget, methods=["GET"])
    app.add_route("/health", health, methods=["GET"])
    app.add_route("/metrics", prometheus, methods=["GET"])
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    return app

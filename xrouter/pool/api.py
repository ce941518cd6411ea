"""The pool server's FastAPI app: any ``ModelPool`` over an OpenAI-compatible HTTP API, with faults.

Run it with ``python -m xrouter.serve_pool pool=routerbench port=8001 faults.error_rate=0.1``.
Routes: ``POST /v1/chat/completions`` (validated by ``xrouter/pool/chat_schema.py``; the benchmark
example's id may come as header ``X-Prompt-Id`` or body ``metadata.prompt_id``, and is passed to the
pool, which replay needs), ``GET /v1/models``, ``GET /health``.  Every refused request is a 4xx with
an OpenAI error body (size and nesting bounded before parsing); a pool failure answers 502 when
retryable, else 400 (a replay pool asked for a prompt it has not recorded); anything unexpected is a
JSON 500.  For tests, ``POST /admin/faults`` (replace the fault config, resetting the fault RNG,
burst counters and stats) and ``GET /admin/stats`` (counts per outcome).  Faults: ``faults.py``.

This is a test / development server: it binds 127.0.0.1 by default, has no authentication (any key
is accepted) and its admin routes let any client change the faults.  Do not expose it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from xrouter.pool.base import EndpointError
from xrouter.pool.chat_schema import ChatRequestProblem, parse_chat_body
from xrouter.pool.faults import (  # noqa: F401
    BAD_REPLIES,
    JSON,
    MALFORMED_BODY,
    SLOW_DRIP,
    DroppedResponse,
    FaultConfig,
    FaultState,
    bad_reply_response,
)
from xrouter.pool.http_serving import error_response, read_body, serve_in_thread  # noqa: F401 (re-exported)
from xrouter.pool.pool import ModelPool
from xrouter.pool.replies import estimate_tokens, messages_text

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 4 << 20


class _State(FaultState):
    def __init__(self, pool: ModelPool, faults: FaultConfig) -> None:
        self.pool = pool
        super().__init__(faults)


def build_app(
    pool: ModelPool, faults: FaultConfig | None = None, *, admin: bool = True, max_body_bytes: int = MAX_BODY_BYTES
) -> FastAPI:
    """The FastAPI app serving ``pool``; ``admin=False`` leaves out the /admin routes."""
    state = _State(pool, faults or FaultConfig())
    app = FastAPI(title="xrouter pool server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.pool_server = state

    async def chat_completions(request: Request) -> Response:
        stats = state.stats
        stats["requests"] += 1
        try:
            return await answer(request)
        except ChatRequestProblem as problem:
            stats["bad_request"] += 1
            return error_response(problem.status, problem.message, problem.type, problem.param, problem.code)
        except ClientDisconnect:
            stats["client_disconnected"] += 1
            return Response(status_code=499)
        except Exception:  # noqa: BLE001 - a bug must still answer an OpenAI error body
            incident = uuid.uuid4().hex[:12]
            log.exception("pool server: internal error %s", incident)
            stats["internal_error"] += 1
            return error_response(
                500, f"internal server error (incident {incident})", "server_error", code="internal_error"
            )

    async def answer(request: Request) -> Response:
        stats = state.stats
        chat = parse_chat_body(await read_body(request, max_body_bytes), max_body_bytes)
        model = chat.model
        if model not in state.pool:
            stats["not_found"] += 1
            return error_response(
                404,
                f"the model '{model}' does not exist in this pool; available: {', '.join(state.pool.names)}",
                "invalid_request_error",
                "model",
                "model_not_found",
            )
        faults = state.faults
        fault = state.fault_for(model)
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if fault is not None:
            stats[fault] += 1
            if fault == "failed_model":
                return error_response(
                    faults.fail_status,
                    f"injected failure for model '{model}'",
                    "server_error" if faults.fail_status >= 500 else "invalid_request_error",
                    code="injected_fault",
                )
            if fault == "server_error":
                return error_response(500, "injected server error", "server_error", code="injected_fault")
            if fault == "rate_limited":
                return error_response(
                    429,
                    "injected rate limit",
                    "rate_limit_error",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": "0"},
                )
            if fault == "malformed":
                return Response(MALFORMED_BODY, media_type=JSON)
            if fault == "bad_reply":
                return bad_reply_response(faults.bad_reply, faults.drip_s)
            return DroppedResponse()
        prompt_id = request.headers.get("x-prompt-id") or (chat.metadata or {}).get("prompt_id")
        messages = chat.plain_messages()
        try:
            completion = await state.pool.call(
                model, messages, chat.temperature or 0.0, chat.max_tokens, prompt_id=prompt_id
            )
        except EndpointError as error:  # retryable -> 502 (clients retry); else 400 (e.g. unknown prompt)
            stats["upstream_error"] += 1
            status = 502 if error.retryable else 400
            return error_response(
                status,
                f"the pool model failed: {error.reason}",
                "upstream_error" if error.retryable else "invalid_request_error",
                code="upstream_error",
            )
        except (ValueError, LookupError) as error:  # e.g. no user message, prompt id unknown to replay
            stats["bad_request"] += 1
            return error_response(400, str(error), "invalid_request_error")
        stats["ok"] += 1
        state.served += 1
        body: dict[str, Any] = {
            "id": f"chatcmpl-xr{state.served}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": completion.text}, "finish_reason": "stop"}
            ],
        }
        if not faults.omit_usage:
            prompt_tokens = completion.input_tokens
            if prompt_tokens is None:
                prompt_tokens = estimate_tokens(messages_text(messages))
            completion_tokens = completion.output_tokens
            if completion_tokens is None:
                completion_tokens = estimate_tokens(completion.text)
            body["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return Response(json.dumps(body).encode(), media_type=JSON)

    async def models(request: Request) -> Response:
        data = [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "xrouter",
                "pricing": {"input_per_mtok": card.price.input_per_mtok, "output_per_mtok": card.price.output_per_mtok},
            }
            for name, card in state.pool.cards.items()
        ]
        return Response(json.dumps({"object": "list", "data": data}).encode(), media_type=JSON)

    async def health(request: Request) -> Response:
        return Response(b'{"status": "ok"}', media_type=JSON)

    async def set_faults(request: Request) -> Response:
        try:
            state.set_faults(FaultConfig.from_mapping(json.loads(await request.body() or b"{}")))
        except (ValueError, TypeError) as error:
            return error_response(400, f"bad fault config: {error}", "invalid_request_error")
        log.info("faults replaced: %s", state.faults)
        return Response(json.dumps(dataclasses.asdict(state.faults)).encode(), media_type=JSON)

    async def stats(request: Request) -> Response:
        return Response(
            json.dumps(
                {
                    "outcomes": dict(state.stats),
                    "faults": dataclasses.asdict(state.faults),
                    "ledger_calls": len(state.pool.ledger),
                }
            ).encode(),
            media_type=JSON,
        )

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(
            exc.status_code,
            f"{request.method} {request.url.path}: {exc.detail}",
            "not_found_error" if exc.status_code == 404 else "invalid_request_error",
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        log.error("pool server: internal error %s on %s %s: %r", incident, request.method, request.url.path, exc)
        return error_response(
            500, f"internal server error (incident {incident})", "server_error", code="internal_error"
        )

    # Starlette routes (no FastAPI dependency injection) keep the hot path short; chat_schema validates.
    app.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_route("/v1/models", models, methods=["GET"])
    app.add_route("/health", health, methods=["GET"])
    if admin:
        app.add_route("/admin/faults", set_faults, methods=["POST"])
        app.add_route("/admin/stats", stats, methods=["GET"])
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)  # any other route's bug: a JSON 500, not plain text
    return app

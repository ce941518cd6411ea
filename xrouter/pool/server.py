"""Serve any ``ModelPool`` over an OpenAI-compatible HTTP API, with injectable faults.

    python -m xrouter.pool.server pool=routerbench port=8001 faults.error_rate=0.1

Routes: ``POST /v1/chat/completions`` (OpenAI schema; the benchmark example's id may come as header
``X-Prompt-Id`` or body ``metadata.prompt_id``, and is passed to the pool, which replay needs),
``GET /v1/models``, ``GET /health``.  A pool failure answers 502 when retryable, else 400 (a replay
pool asked for a prompt it has not recorded); for tests, ``POST /admin/faults`` (replace the fault config,
resetting the fault RNG, burst counters and stats) and ``GET /admin/stats`` (counts per outcome).

This is a test / development server: it binds 127.0.0.1 by default, has no authentication (any key
is accepted) and its admin routes let any client change the faults.  Do not expose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import hydra
import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

import xrouter
import xrouter.config  # noqa: F401  (registers the config resolvers)
from xrouter.pool.base import EndpointError
from xrouter.pool.openai_compat import estimate_tokens, messages_text
from xrouter.pool.pool import ModelPool

log = logging.getLogger(__name__)

JSON = "application/json"
MALFORMED_BODY = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"mess'


@dataclass
class FaultConfig:
    """Faults to inject, decided per request by one seeded draw (deterministic in arrival order).

    ``error_rate`` -> 500; ``rate_limit_rate`` -> 429 with ``Retry-After: 0``; ``malformed_rate`` ->
    200 with a truncated JSON body; ``drop_rate`` -> the connection is closed after the headers (the
    client sees ``openai.APIConnectionError``).  The four rates partition one uniform draw, so their
    sum must be at most 1.  ``rate_limit_burst``: the first N requests to each model get 429.
    ``fail_models`` always get ``fail_status`` (500 by default; e.g. 401 to test non-retryable
    errors).  ``latency_s`` is slept before every answer to a valid request.  ``omit_usage`` drops
    ``usage`` from answers.
    """

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    rate_limit_burst: int = 0
    malformed_rate: float = 0.0
    drop_rate: float = 0.0
    latency_s: float = 0.0
    fail_models: list[str] = field(default_factory=list)
    fail_status: int = 500
    omit_usage: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        rates = {"error_rate": self.error_rate, "rate_limit_rate": self.rate_limit_rate,
                 "malformed_rate": self.malformed_rate, "drop_rate": self.drop_rate}
        for key, value in rates.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"faults.{key} must be within [0, 1], got {value}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"faults rates {rates} sum to more than 1")
        if self.latency_s < 0 or self.rate_limit_burst < 0:
            raise ValueError("faults.latency_s and faults.rate_limit_burst must be non-negative")
        if not 400 <= int(self.fail_status) <= 599:
            raise ValueError(f"faults.fail_status must be an HTTP error status, got {self.fail_status}")
        self.fail_models = list(self.fail_models or [])

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "FaultConfig":
        values = dict(values or {})
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown fault field(s) {unknown}; known: {[f.name for f in dataclasses.fields(cls)]}")
        return cls(**values)


class DroppedResponse(Response):
    """Sends the status line and headers (announcing a body), then returns: uvicorn closes the socket."""

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type=JSON)
        self.raw_headers = [(b"content-type", JSON.encode()), (b"content-length", b"1024")]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})


def error_response(status: int, message: str, type_: str, param: str | None = None, code: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(json.dumps(body).encode(), status_code=status, media_type=JSON, headers=headers)


class _State:
    def __init__(self, pool: ModelPool, faults: FaultConfig) -> None:
        self.pool = pool
        self.set_faults(faults)

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.burst: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.served = 0

    def fault_for(self, model: str) -> str | None:
        f = self.faults
        if model in f.fail_models:
            return "failed_model"
        if self.burst[model] < f.rate_limit_burst:
            self.burst[model] += 1
            return "rate_limited"
        draw = self.rng.random()
        for kind, rate in (("server_error", f.error_rate), ("rate_limited", f.rate_limit_rate),
                           ("malformed", f.malformed_rate), ("dropped", f.drop_rate)):
            if draw < rate:
                return kind
            draw -= rate
        return None


def build_app(pool: ModelPool, faults: FaultConfig | None = None, *, admin: bool = True) -> FastAPI:
    """The FastAPI app serving ``pool``; ``admin=False`` leaves out the /admin routes."""
    state = _State(pool, faults or FaultConfig())
    app = FastAPI(title="xrouter pool server", docs_url=None, redoc_url=None)
    app.state.pool_server = state

    async def chat_completions(request: Request) -> Response:
        stats = state.stats
        stats["requests"] += 1
        try:
            body = json.loads(await request.body())
        except ValueError as error:
            stats["bad_request"] += 1
            return error_response(400, f"the request body is not valid JSON ({error})", "invalid_request_error",
                                  code="invalid_json")
        problem = _validate(body)
        if problem:
            stats["bad_request"] += 1
            return error_response(400, problem[1], "invalid_request_error", param=problem[0])
        model = body["model"]
        if model not in state.pool:
            stats["not_found"] += 1
            return error_response(404, f"the model '{model}' does not exist in this pool; available: "
                                  f"{', '.join(state.pool.names)}", "invalid_request_error", "model",
                                  "model_not_found")
        faults = state.faults
        fault = state.fault_for(model)
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if fault is not None:
            stats[fault] += 1
            if fault == "failed_model":
                return error_response(faults.fail_status, f"injected failure for model '{model}'",
                                      "server_error" if faults.fail_status >= 500 else "invalid_request_error",
                                      code="injected_fault")
            if fault == "server_error":
                return error_response(500, "injected server error", "server_error", code="injected_fault")
            if fault == "rate_limited":
                return error_response(429, "injected rate limit", "rate_limit_error", code="rate_limit_exceeded",
                                      headers={"Retry-After": "0"})
            if fault == "malformed":
                return Response(MALFORMED_BODY, media_type=JSON)
            return DroppedResponse()
        metadata = body.get("metadata")
        prompt_id = request.headers.get("x-prompt-id") or (
            metadata.get("prompt_id") if isinstance(metadata, dict) else None)
        messages = body["messages"]
        try:
            completion = await state.pool.call(model, messages, body.get("temperature") or 0.0,
                                               body.get("max_tokens"), prompt_id=prompt_id)
        except EndpointError as error:  # retryable -> 502 (clients retry); else 400 (e.g. unknown prompt)
            stats["upstream_error"] += 1
            status = 502 if error.retryable else 400
            return error_response(status, f"the pool model failed: {error.reason}",
                                  "upstream_error" if error.retryable else "invalid_request_error",
                                  code="upstream_error")
        except (ValueError, LookupError) as error:  # e.g. no user message, prompt id unknown to replay
            stats["bad_request"] += 1
            return error_response(400, str(error), "invalid_request_error")
        stats["ok"] += 1
        state.served += 1
        answer: dict[str, Any] = {
            "id": f"chatcmpl-xr{state.served}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                         "finish_reason": "stop"}],
        }
        if not faults.omit_usage:
            prompt_tokens = completion.input_tokens
            if prompt_tokens is None:
                prompt_tokens = estimate_tokens(messages_text(messages))
            completion_tokens = completion.output_tokens
            if completion_tokens is None:
                completion_tokens = estimate_tokens(completion.text)
            answer["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                               "total_tokens": prompt_tokens + completion_tokens}
        return Response(json.dumps(answer).encode(), media_type=JSON)

    async def models(request: Request) -> Response:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "xrouter",
                 "pricing": {"input_per_mtok": card.price.input_per_mtok,
                             "output_per_mtok": card.price.output_per_mtok}}
                for name, card in state.pool.cards.items()]
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
        return Response(json.dumps({"outcomes": dict(state.stats), "faults": dataclasses.asdict(state.faults),
                                    "ledger_calls": len(state.pool.ledger)}).encode(), media_type=JSON)

    # Starlette routes (no FastAPI dependency injection or pydantic) keep the hot path short.
    app.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_route("/v1/models", models, methods=["GET"])
    app.add_route("/health", health, methods=["GET"])
    if admin:
        app.add_route("/admin/faults", set_faults, methods=["POST"])
        app.add_route("/admin/stats", stats, methods=["GET"])
    return app


def _validate(body: Any) -> tuple[str | None, str] | None:
    """(param, message) for the first problem of a chat request body, or None."""
    if not isinstance(body, dict):
        return None, "the request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model", "missing 'model': name one of GET /v1/models"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and "role" in m
                                                                 for m in messages):
        return "messages", "'messages' must be a non-empty list of {'role': ..., 'content': ...} objects"
    temperature = body.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))):
        return "temperature", "'temperature' must be a number"
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        return "max_tokens", "'max_tokens' must be a positive integer"
    return None


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                    **uvicorn_options: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread; yield the OpenAI base URL ``http://host:port/v1``.

    ``port=0`` picks a free port.  The admin routes and /health live at the root (strip ``/v1``).
    On exit the server is asked to stop and the thread joined.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    uvicorn_options.setdefault("access_log", False)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, **uvicorn_options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the pool server on {host}:{port} did not start (see the uvicorn log above)")
        time.sleep(0.01)
    try:
        yield f"http://{host if ':' not in host else f'[{host}]'}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def run_pool_server(cfg: Any) -> None:
    """Build the configured pool and serve it (blocking) on ``cfg.host:cfg.port``."""
    from pathlib import Path

    from xrouter.build import build_pool
    from xrouter.config import data_dir_of, to_plain

    cache_dir = cfg.paths.get("cache_dir")
    pool = build_pool(cfg.pool, data_dir_of(cfg), cache_dir=Path(cache_dir) if cache_dir else None)
    faults = FaultConfig.from_mapping(to_plain(cfg.get("faults")) or {})
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: this test server has no authentication and its /admin routes let any "
                    "client change the faults", cfg.host)
    log.info("serving pool %s on http://%s:%s/v1 with faults %s", pool.names, cfg.host, cfg.port, faults)
    uvicorn.run(build_app(pool, faults, admin=bool(cfg.get("admin", True))), host=cfg.host, port=int(cfg.port),
                log_level=str(cfg.get("log_level", "info")), access_log=False)


@hydra.main(config_path=str(xrouter.CONF_DIR), config_name="pool_server", version_base="1.3")
def main(cfg: Any) -> None:
    run_pool_server(cfg)


if __name__ == "__main__":
    main()

"""Serving helpers shared by the pool server and the router server: OpenAI error bodies, a request
body read with a size bound, uvicorn protocols whose own 400s carry an OpenAI error body, and
``serve_in_thread`` (an app on 127.0.0.1 for tests and benchmarks)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from xrouter.pool.chat_schema import ChatRequestProblem

JSON = "application/json"


def error_response(
    status: int,
    message: str,
    type_: str,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(json.dumps(body).encode(), status_code=status, media_type=JSON, headers=headers)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (``ChatRequestProblem`` 413) as soon as it is declared or read past
    ``max_bytes``: a huge body is never held in memory whole."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ChatRequestProblem(
            413,
            f"the request body is {declared} bytes; this server accepts at most {max_bytes}",
            code="request_too_large",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ChatRequestProblem(413, f"the request body exceeds {max_bytes} bytes", code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_bytes(message: str) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_http_request"}}
    ).encode()


def json_error_protocol(kind: str = "auto") -> type:
    """uvicorn's HTTP protocol class (httptools when installed, else h11) whose own 400 answers to
    requests it cannot parse carry an OpenAI error body (uvicorn's is plain text)."""
    try:
        if kind in ("auto", "httptools"):
            from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

            class JSONErrorHttpToolsProtocol(HttpToolsProtocol):
                def send_400_response(self, msg: str) -> None:
                    body = _error_bytes(msg)
                    head = [STATUS_LINE[400]]
                    for name, value in self.server_state.default_headers:
                        head.extend([name, b": ", value, b"\r\n"])
                    head.extend(
                        [
                            b"content-type: application/json\r\n",
                            b"content-length: ",
                            str(len(body)).encode(),
                            b"\r\n",
                            b"connection: close\r\n",
                            b"\r\n",
                            body,
                        ]
                    )
                    self.transport.write(b"".join(head))
                    self.transport.close()

            return JSONErrorHttpToolsProtocol
    except ImportError:
        if kind == "httptools":
            raise
    import h11
    from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

    class JSONErrorH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = _error_bytes(msg)
            headers = [
                (b"content-type", JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (
                h11.Response(status_code=400, headers=headers, reason=STATUS_PHRASES[400]),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    return JSONErrorH11Protocol


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning", **uvicorn_options: Any
) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread; yield the OpenAI base URL ``http://host:port/v1``.

    ``port=0`` picks a free port.  The admin routes and /health live at the root (strip ``/v1``).
    On exit the server is asked to stop and the thread joined.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    uvicorn_options.setdefault("access_log", False)
    uvicorn_options.setdefault("http", json_error_protocol())
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, **uvicorn_options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the server on {host}:{port} did not start (see the uvicorn log above)")
        time.sleep(0.01)
    try:
        yield f"http://{host if ':' not in host else f'[{host}]'}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

"""ASGI middleware of the gateway: a request body size limit and HTTP metrics.

:class:`BodyLimit` reads a request's body (up to ``SETTLE_MAX_BODY_BYTES``) before the app
sees it; a larger body, or a larger ``Content-Length``, is answered 413 at once.
:class:`HttpMetrics` counts requests by method, route template and status, and times them;
it is also where an unexpected exception ends: logged with its type and frames only (never its
message, which may quote request data) and answered with a JSON 500.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from settle.api import metrics
from settle.api.http_errors import error_body, log_system_error

__all__ = ["BodyLimit", "HttpMetrics"]


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_body("too_large", f"the request body exceeds {self.max_bytes} bytes", "(body)")
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _send_json(send, 413, too_large)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_json(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        started_response = False

        async def send_status(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:
            # Answer the 500 here instead of letting the exception reach the server, whose log
            # line would print the exception's message (which may quote request data).
            log_system_error(f"{scope.get('method', '')} {scope.get('path', '')} failed", exc)
            status = 500
            if not started_response:
                await _send_json(send, 500, error_body("internal", "internal error; see the server logs"))
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            method = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)

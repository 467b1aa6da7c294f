"""JSON errors of the gateway: every 4xx body is ``{"error": {"code", "message", "field"}}``.

:class:`ApiError` is raised by routes; :func:`install_error_handlers` maps it, FastAPI's request
validation errors, Starlette's HTTP errors and Settle's :class:`~settle.engine.errors.UserError`
to that body.  Anything else is a 500 with a generic message: the traceback goes to the log
(frames only, without the exception's text, which could quote member data), never to the client.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from settle.engine.errors import UserError

__all__ = ["ApiError", "error_body", "install_error_handlers", "log_system_error"]

log = logging.getLogger("settle.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An error answered to the client as JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.field = field
        self.headers = headers


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def log_system_error(what: str, exc: BaseException) -> None:
    """Log a system failure: its type and stack frames, not its message (it may quote data)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s: %s\n%s", what, type(exc).__qualname__, frames)


def _field_of_validation(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    return ".".join(loc) or "(body)"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.field), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        parts = [f"{_field_of_validation(e)}: {e.get('msg', 'invalid')}" for e in errors]
        field = _field_of_validation(errors[0]) if errors else None
        return JSONResponse(error_body("invalid", "; ".join(parts) + ".", field), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        return JSONResponse(
            error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(UserError)
    async def _user(_request: Request, exc: UserError) -> JSONResponse:
        field = getattr(exc, "field", None) or getattr(exc, "path", None)
        return JSONResponse(error_body("invalid", str(exc), field), 422)

    @app.exception_handler(Exception)
    async def _system(request: Request, exc: Exception) -> JSONResponse:
        log_system_error(f"{request.method} {request.url.path} failed", exc)
        return JSONResponse(error_body("internal", "internal error; see the server logs"), 500)

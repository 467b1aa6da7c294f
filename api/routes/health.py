"""``/healthz`` (the process answers), ``/readyz`` (the store answers and, when embedded, the
runner is alive) and ``/metrics`` (Prometheus text format; no key needed)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from settle.api.context import context_of

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the job store answers and the embedded runner is alive")
def readyz(request: Request) -> JSONResponse:
    ctx = context_of(request)
    checks: dict[str, str] = {}
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
    if ctx.runner is not None:
        stale = time.monotonic() - ctx.runner.alive_at
        # A runner busy with a job does not loop; its heartbeat thread keeps the lease instead.
        checks["runner"] = "ok" if ctx.runner.is_running() else f"stopped ({stale:.0f} s)"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

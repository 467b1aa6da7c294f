"""The FastAPI application of the gateway (:func:`create_app`).

On start-up the app connects to the job store, upgrades its schema when
``SETTLE_AUTO_MIGRATE`` is true (the default), and, when ``runner`` is true, starts a runner
thread (`settle serve`'s embedded default; `settle worker` runs runners alone), which settles
each job in a child process so that the event loop never shares a GIL with a job.  The OpenAPI
schema lives at ``/openapi.json`` and the interactive docs at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from settle.api import metrics
from settle.api.context import AppContext
from settle.api.http_errors import install_error_handlers
from settle.api.middleware import BodyLimit, HttpMetrics
from settle.api.routes import health, jobs, results, whatif
from settle.api.runner import Runner
from settle.api.settings import Settings
from settle.api.store import JobStore, KeyStore, make_engine, migrate
from settle.engine import __version__
from settle.engine.job import JobDocument

__all__ = ["create_app"]

log = logging.getLogger("settle.api")


def create_app(settings: Settings, *, runner: bool | None = None) -> FastAPI:
    """The gateway app; ``runner`` (default ``SETTLE_RUNNER``) embeds a runner thread."""
    embed = settings.runner if runner is None else runner

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        if settings.auto_migrate:
            migrate(engine)
        keys = KeyStore(engine, cache_seconds=settings.key_cache_seconds)
        ctx = AppContext(settings=settings, engine=engine, jobs=JobStore(engine), keys=keys)
        metrics.register_state_gauge(ctx.jobs.count_by_state)
        if embed:
            ctx.runner = Runner(
                ctx.jobs,
                lease_seconds=settings.lease_seconds,
                poll_seconds=settings.poll_seconds,
                job_nice=settings.job_nice,
            )
            ctx.runner.start()
        app.state.ctx = ctx
        try:
            yield
        finally:
            if ctx.runner is not None:
                ctx.runner.stop(timeout=settings.lease_seconds)
            engine.dispose()

    app = FastAPI(
        title="Settle",
        version=__version__,
        summary="Settlement jobs for value-based health-care contracts over HTTP.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(jobs.router)
    app.include_router(results.router)
    app.include_router(whatif.router)
    app.include_router(health.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics)
    _document_job_schema(app)
    return app


def _document_job_schema(app: FastAPI) -> None:
    """Put the job document's JSON schema (the engine's model) into the OpenAPI components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes, description=None
        )
        job = JobDocument.model_json_schema(ref_template="#/components/schemas/{model}")
        defs = job.pop("$defs", {})
        job.get("properties", {}).pop("base_dir", None)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(defs)
        components["JobDocument"] = job
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

"""``/v1/jobs``: submit, list, show and cancel settlement jobs."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from settle.api import metrics
from settle.api.auth import Reader, Submitter
from settle.api.context import context_of
from settle.api.http_errors import ApiError
from settle.api.models import JOB_EXAMPLE, ErrorBody, JobPage, JobView
from settle.api.routes.params import Cursor
from settle.api.store.jobs import IdempotencyConflict, JobStateConflict
from settle.api.submission import body_sha256, normalise_job

__all__ = ["router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no API key, or an unknown or revoked one"},
    403: {"model": ErrorBody, "description": "the key lacks the scope"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such job for this tenant"}
}


@router.post(
    "",
    status_code=202,
    response_model=JobView,
    summary="Submit a settlement job",
    responses={
        **_ERRORS,
        200: {"model": JobView, "description": "the same Idempotency-Key and body were submitted before"},
        409: {"model": ErrorBody, "description": "the Idempotency-Key was used with another body"},
        413: {"model": ErrorBody, "description": "the body exceeds SETTLE_MAX_BODY_BYTES"},
        422: {"model": ErrorBody, "description": "an invalid job document, or a path outside the data roots"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/JobDocument"},
                    "examples": {"synthetic": {"summary": "a synthetic book", "value": JOB_EXAMPLE}},
                }
            },
        }
    },
)
async def submit_job(
    request: Request,
    response: Response,
    key: Submitter,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="retry-safe submission")
    ] = None,
) -> JobView:
    """Queue a job document (the JSON form of a `job.yaml`); answers 202 with the job and a
    `Location`.  Input paths must lie under the server's data roots."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", field="(body)") from None
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON: nested too deeply", field="(body)") from None
    ctx = context_of(request)
    document = await run_in_threadpool(normalise_job, body, ctx.settings.resolved_data_roots)
    try:
        job, created = await run_in_threadpool(
            lambda: ctx.jobs.submit(
                tenant=key.tenant,
                name=document["name"],
                document=document,
                body_sha256=body_sha256(body),
                idempotency_key=idempotency_key,
                output_for=ctx.settings.job_output,
            )
        )
    except IdempotencyConflict as exc:
        raise ApiError(
            409,
            f"the Idempotency-Key was already used for job {exc.job_id} with a different body",
            field="Idempotency-Key",
        ) from None
    if created:
        metrics.JOBS.labels("queued").inc()
    else:
        response.status_code = 200
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobView.of(job)


@router.get("", response_model=JobPage, summary="List the caller's jobs, newest first", responses=_ERRORS)
def list_jobs(
    request: Request,
    key: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Cursor = None,
) -> JobPage:
    before = None if cursor is None else int(cursor)
    found = context_of(request).jobs.list_jobs(key.tenant, limit=limit + 1, before_seq=before)
    page = found[:limit]
    nxt = str(page[-1].seq) if len(found) > limit else None
    return JobPage(items=[JobView.of(j) for j in page], next=nxt)


@router.get("/{job_id}", response_model=JobView, summary="Show one job", responses={**_ERRORS, **_NOT_FOUND})
def get_job(request: Request, job_id: str, key: Reader) -> JobView:
    """State, progress from the cluster, row counts, timings, the error and every transition."""
    ctx = context_of(request)
    job = ctx.jobs.get(job_id, tenant=key.tenant)
    if job is None:
        raise ApiError(404, f"no job {job_id}", field="job_id")
    return JobView.of(job, ctx.jobs.events(job.id))


@router.delete(
    "/{job_id}",
    response_model=JobView,
    summary="Cancel a job",
    responses={**_ERRORS, **_NOT_FOUND, 409: {"model": ErrorBody, "description": "the job already finished"}},
)
def cancel_job(request: Request, job_id: str, key: Submitter) -> JobView:
    """A queued job is cancelled at once; a running one is marked cancelled and its result is
    dropped when its runner finishes.  Cancelling a cancelled job answers it again."""
    ctx = context_of(request)
    try:
        job = ctx.jobs.cancel(job_id, tenant=key.tenant)
    except JobStateConflict as exc:
        raise ApiError(
            409, f"job {job_id} already {exc.state}; it cannot be cancelled", field="job_id"
        ) from None
    if job is None:
        raise ApiError(404, f"no job {job_id}", field="job_id")
    metrics.JOBS.labels("cancelled").inc()
    return JobView.of(job, ctx.jobs.events(job.id))

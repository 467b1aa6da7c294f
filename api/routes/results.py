"""``/v1/jobs/{id}/statements`` and ``/v1/jobs/{id}/outputs/{name}``: a succeeded job's results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from settle.api.auth import Reader
from settle.api.context import context_of
from settle.api.http_errors import ApiError
from settle.api.models import ErrorBody, StatementPage
from settle.api.results import GROUPED_TABLES, TABLES, filter_statements, load_statements, stream_output
from settle.api.routes.params import Cursor
from settle.api.store.jobs import JobRecord
from settle.api.store.keys import ApiKey

__all__ = ["router"]

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["results"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no API key, or an unknown or revoked one"},
    403: {"model": ErrorBody, "description": "the key lacks the scope, or may not read this output"},
    404: {"model": ErrorBody, "description": "no such job for this tenant, or no such output"},
    409: {"model": ErrorBody, "description": "the job has not succeeded"},
}
_MEDIA = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "json": "application/json"}
OUTPUT_NAMES = (
    *(f"{t}.parquet" for t in TABLES),
    *(f"{t}.csv" for t in TABLES),
    "statements.json",
    "manifest.json",
)


def _succeeded(request: Request, job_id: str, key: ApiKey) -> JobRecord:
    job = context_of(request).jobs.get(job_id, tenant=key.tenant)
    if job is None:
        raise ApiError(404, f"no job {job_id}", field="job_id")
    if job.state != "succeeded" or job.output is None:
        raise ApiError(
            409, f"job {job_id} is {job.state}; results exist once it has succeeded", code="not_ready"
        )
    return job


@router.get("/statements", response_model=StatementPage, summary="A job's statements", responses=_ERRORS)
def statements(
    request: Request,
    job_id: str,
    key: Reader,
    contract: Annotated[str | None, Query(description="contract id")] = None,
    entity: Annotated[str | None, Query(description="entity id")] = None,
    employer: Annotated[str | None, Query(description="employer group id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Cursor = None,
) -> StatementPage:
    """Statements with their steps, in output order; an employer-scoped key sees only its groups."""
    job = _succeeded(request, job_id, key)
    start = 0 if cursor is None else int(cursor)
    assert job.output is not None
    kept = filter_statements(
        load_statements(job.output),
        groups=key.employer_groups,
        contract=contract,
        entity=entity,
        employer=employer,
    )
    page = kept[start : start + limit]
    nxt = str(start + limit) if start + limit < len(kept) else None
    return StatementPage(items=page, next=nxt)


@router.get(
    "/outputs/{name}",
    summary="Download one output (Parquet, CSV or JSON)",
    responses={
        **_ERRORS,
        200: {
            "description": "the file, streamed",
            "content": {m: {} for m in _MEDIA.values()},
        },
    },
)
def output(request: Request, job_id: str, name: str, key: Reader) -> StreamingResponse:
    """`TABLE.parquet` as written, `TABLE.csv` converted on the fly, `statements.json` and
    `manifest.json`, for TABLE in statements, ledger, attribution, member_costs, rejects.  An
    employer-scoped key gets only its groups' rows of statements, ledger and member_costs."""
    if name not in OUTPUT_NAMES:
        raise ApiError(404, f"no output {name!r}; outputs: {', '.join(OUTPUT_NAMES)}", field="name")
    job = _succeeded(request, job_id, key)
    stem, _, suffix = name.rpartition(".")
    if key.employer_groups is not None and stem not in GROUPED_TABLES:
        raise ApiError(
            403,
            f"an employer-scoped key can read only {', '.join(GROUPED_TABLES)} and statements.json",
            field="name",
        )
    assert job.output is not None
    return StreamingResponse(
        stream_output(job.output, name, key.employer_groups),
        media_type=_MEDIA[suffix],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

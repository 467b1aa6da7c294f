"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from settle.api.store.jobs import JobRecord

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "JobEvent",
    "JobPage",
    "JobView",
    "StatementPage",
    "WhatIfRequest",
    "WhatIfResponse",
]

JOB_EXAMPLE: dict[str, Any] = {
    "name": "synthetic-2025",
    "period": {"start": "2025-01-01", "end": "2025-12-31", "runout_months": 3},
    "inputs": {
        "eligibility": "book/eligibility/",
        "medical_claim": "book/medical_claim/",
        "roster": "book/roster.parquet",
        "quality": "book/quality.parquet",
    },
    "contracts": "book/contracts.yaml",
}


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid"])
    message: str = Field(examples=["job document: invalid job document: period.end: Field required."])
    field: str | None = Field(default=None, examples=["period.end"])


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: ErrorDetail


class JobEvent(BaseModel):
    state: str
    at: dt.datetime
    holder: str | None = None
    detail: str | None = None


class JobView(BaseModel):
    """A job as the API shows it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2a9c1e6d5b4a7f8e9d0c1b2a3f4e5d",
                    "name": "synthetic-2025",
                    "state": "running",
                    "progress": {
                        "stage": "map",
                        "shards_done": 3,
                        "shards_total": 8,
                        "rows_processed": 120000,
                    },
                    "counts": None,
                    "error": None,
                    "attempts": 1,
                    "created_at": "2026-01-05T10:00:00Z",
                    "started_at": "2026-01-05T10:00:01Z",
                    "finished_at": None,
                    "duration_seconds": None,
                }
            ]
        }
    )

    id: str
    name: str
    state: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress: dict[str, Any] | None = Field(
        default=None, description="the cluster's latest progress snapshot (stage, shards, rows, retries)"
    )
    counts: dict[str, Any] | None = Field(
        default=None, description="rows read, accepted and rejected per table, claim lines, statements"
    )
    error: str | None = Field(default=None, description="why the job failed (one paragraph)")
    attempts: int = Field(description="how many times a runner claimed the job")
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    duration_seconds: float | None = Field(default=None, description="from the last start to the finish")
    events: list[JobEvent] | None = Field(default=None, description="state transitions (single-job view)")

    @classmethod
    def of(cls, job: JobRecord, events: list[dict[str, Any]] | None = None) -> JobView:
        duration = None
        if job.started_at is not None and job.finished_at is not None:
            duration = round((job.finished_at - job.started_at).total_seconds(), 3)
        return cls(
            id=job.id,
            name=job.name,
            state=job.state,
            progress=job.progress,
            counts=job.counts,
            error=job.error,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            duration_seconds=duration,
            events=None if events is None else [JobEvent(**e) for e in events],
        )


class JobPage(BaseModel):
    items: list[JobView]
    next: str | None = Field(default=None, description="pass as `cursor` for the next (older) page")


class StatementPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="statements (as in statements.json), each with its steps")
    next: str | None = Field(default=None, description="pass as `cursor` for the next page")


class WhatIfRequest(BaseModel):
    """A shared-savings contract and one row of aggregates per entity (see `settle whatif`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "contract": {
                        "id": "ssp-demo",
                        "kind": "shared_savings",
                        "terms": {"sharing_rate": 0.5, "min_savings_rate": 0.02},
                    },
                    "aggregates": [
                        {
                            "entity_id": "E001",
                            "attributed_members": 5000,
                            "member_months": 60000,
                            "benchmark_expenditure": "60000000.00",
                            "actual_expenditure": "57000000.00",
                            "quality_score": "0.9",
                            "met_quality_standard": True,
                        }
                    ],
                }
            ]
        },
    )

    contract: dict[str, Any] = Field(description="one contract document of kind shared_savings")
    aggregates: list[dict[str, str | int | float | bool | None]] = Field(
        min_length=1,
        max_length=10_000,
        description="one row per entity; money in dollars (strings keep cents exact)",
    )


class WhatIfResponse(BaseModel):
    items: list[dict[str, Any]] = Field(description="one row per entity; money and rates as decimal strings")

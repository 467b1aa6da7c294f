"""The job store's tables (SQLAlchemy 2 Core); the schema itself is made by the alembic migrations.

``jobs``        one row per submitted job: its tenant, state, document, idempotency key and body
                hash, progress, row counts, error message and timings.  ``seq`` orders jobs
                (newest first) and is the pagination cursor; ``id`` is the public identifier.
``job_events``  every state transition with its time (and the runner that made it).
``leases``      the runner holding a running job and until when (renewed by heartbeats).
``api_keys``    API keys, stored only as SHA-256 hashes, with tenant, scopes, employer groups.

Timestamps are written in UTC by the Python process (see :func:`utcnow`); lease expiry
compares them, so the clocks of gateway and worker hosts must agree to well within a lease.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["STATES", "api_keys", "job_events", "jobs", "leases", "metadata", "utcnow"]

STATES = ("queued", "running", "succeeded", "failed", "cancelled")

metadata = MetaData()

# SQLite needs INTEGER (not BIGINT) for an auto-incrementing primary key.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("tenant", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("document", JSON, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("output", Text, nullable=True),
    Column("progress", JSON, nullable=True),
    Column("counts", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
)
Index("ix_jobs_tenant_seq", jobs.c.tenant, jobs.c.seq)
Index("ix_jobs_state_seq", jobs.c.state, jobs.c.seq)

job_events = Table(
    "job_events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("holder", String(200), nullable=True),
    Column("detail", Text, nullable=True),
)
Index("ix_job_events_job_id", job_events.c.job_id)

leases = Table(
    "leases",
    metadata,
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("key_sha256", String(64), nullable=False, unique=True),
    Column("tenant", String(200), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("employer_groups", JSON, nullable=True),
    Column("name", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


def utcnow() -> dt.datetime:
    """The current time in UTC (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp as an aware UTC datetime (SQLite gives them back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

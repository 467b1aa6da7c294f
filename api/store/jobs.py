"""The job store: submitting, reading, cancelling, claiming and finishing jobs.

Every state change is one transaction that also appends a ``job_events`` row.  States:
``queued → running → succeeded | failed``, and ``queued | running → cancelled``.  A runner
claims the oldest job that is queued, or running under a lease that has expired (its runner
died); the claim is ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and a ``BEGIN IMMEDIATE``
transaction on SQLite, so two runners never claim the same job.  Only the lease holder may
store progress or finish a job; a cancelled job has no lease, so its runner's result is
dropped.

Job ids are ``uuid4().hex``: 32 lower-case hexadecimal digits.  :meth:`JobStore.get` and
:meth:`JobStore.cancel` answer ``None`` for any other string without asking the database
(PostgreSQL refuses text holding a NUL character, which an HTTP path can carry as ``%00``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from settle.api.store.database import is_postgresql, read_tx, write_tx
from settle.api.store.tables import as_utc, job_events, jobs, leases, utcnow

__all__ = [
    "FINAL_STATES",
    "Claim",
    "IdempotencyConflict",
    "JobRecord",
    "JobStateConflict",
    "JobStore",
    "is_job_id",
]

FINAL_STATES = ("succeeded", "failed", "cancelled")

_JOB_ID = re.compile(r"[0-9a-f]{32}")


def is_job_id(text: str) -> bool:
    """Whether ``text`` has the form of a job id (``uuid4().hex``)."""
    return _JOB_ID.fullmatch(text) is not None


class IdempotencyConflict(Exception):
    """The idempotency key was used before with another body."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class JobStateConflict(Exception):
    """The job is in a state that does not allow the change (e.g. cancelling a finished job)."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


@dataclass(frozen=True)
class JobRecord:
    """One job as stored."""

    seq: int
    id: str
    tenant: str
    state: str
    name: str
    document: dict[str, Any]
    body_sha256: str
    idempotency_key: str | None
    output: str | None
    progress: dict[str, Any] | None
    counts: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> JobRecord:
        m = row._mapping
        created = as_utc(m["created_at"])
        assert created is not None
        return cls(
            seq=m["seq"],
            id=m["id"],
            tenant=m["tenant"],
            state=m["state"],
            name=m["name"],
            document=m["document"],
            body_sha256=m["body_sha256"],
            idempotency_key=m["idempotency_key"],
            output=m["output"],
            progress=m["progress"],
            counts=m["counts"],
            error=m["error"],
            attempts=m["attempts"],
            created_at=created,
            started_at=as_utc(m["started_at"]),
            finished_at=as_utc(m["finished_at"]),
        )


@dataclass(frozen=True)
class Claim:
    """A job claimed by a runner; ``reclaimed`` when a previous runner's lease had expired."""

    job: JobRecord
    reclaimed: bool


_CLAIM_TRIES = 8  # claims lost to concurrent runners before giving up for this poll


class JobStore:
    """Jobs, their events and leases in one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- the API's side -------------------------------------------------------------------

    def submit(
        self,
        *,
        tenant: str,
        name: str,
        document: dict[str, Any],
        body_sha256: str,
        idempotency_key: str | None,
        output_for: Any,
    ) -> tuple[JobRecord, bool]:
        """Queue a job; returns ``(job, created)``.  With an idempotency key already used by
        this tenant, returns the earlier job if the body is the same, else raises
        :class:`IdempotencyConflict`."""
        for _ in range(2):
            try:
                return self._submit(tenant, name, document, body_sha256, idempotency_key, output_for)
            except IntegrityError:  # a concurrent submission with the same key won the race
                continue
        return self._submit(tenant, name, document, body_sha256, idempotency_key, output_for)

    def _submit(
        self,
        tenant: str,
        name: str,
        document: dict[str, Any],
        body_sha256: str,
        idempotency_key: str | None,
        output_for: Any,
    ) -> tuple[JobRecord, bool]:
        now = utcnow()
        with write_tx(self.engine) as conn:
            if idempotency_key is not None:
                row = conn.execute(
                    select(jobs).where(jobs.c.tenant == tenant, jobs.c.idempotency_key == idempotency_key)
                ).first()
                if row is not None:
                    earlier = JobRecord.from_row(row)
                    if earlier.body_sha256 != body_sha256:
                        raise IdempotencyConflict(earlier.id)
                    return earlier, False
            job_id = uuid.uuid4().hex
            conn.execute(
                insert(jobs).values(
                    id=job_id,
                    tenant=tenant,
                    state="queued",
                    name=name,
                    document=document,
                    body_sha256=body_sha256,
                    idempotency_key=idempotency_key,
                    output=output_for(job_id),
                    attempts=0,
                    created_at=now,
                )
            )
            conn.execute(insert(job_events).values(job_id=job_id, state="queued", at=now))
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
            return JobRecord.from_row(row), True

    def get(self, job_id: str, *, tenant: str | None = None) -> JobRecord | None:
        """A job by id (``None`` if absent or, with ``tenant``, another tenant's)."""
        if not is_job_id(job_id):
            return None
        query = select(jobs).where(jobs.c.id == job_id)
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        with read_tx(self.engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else JobRecord.from_row(row)

    def list_jobs(self, tenant: str, *, limit: int, before_seq: int | None = None) -> list[JobRecord]:
        """The tenant's jobs, newest first, older than ``before_seq`` when given."""
        query = select(jobs).where(jobs.c.tenant == tenant)
        if before_seq is not None:
            query = query.where(jobs.c.seq < before_seq)
        query = query.order_by(jobs.c.seq.desc()).limit(limit)
        with read_tx(self.engine) as conn:
            return [JobRecord.from_row(r) for r in conn.execute(query)]

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """The job's state transitions, oldest first."""
        query = select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.seq)
        with read_tx(self.engine) as conn:
            return [
                {"state": r.state, "at": as_utc(r.at), "holder": r.holder, "detail": r.detail}
                for r in conn.execute(query)
            ]

    def cancel(self, job_id: str, *, tenant: str) -> JobRecord | None:
        """Cancel a queued or running job (a cancelled job stays cancelled); ``None`` if not
        found.  Raises :class:`JobStateConflict` for a job that already succeeded or failed."""
        if not is_job_id(job_id):
            return None
        now = utcnow()
        with write_tx(self.engine) as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.tenant == tenant)).first()
            if row is None:
                return None
            job = JobRecord.from_row(row)
            if job.state == "cancelled":
                return job
            if job.state in FINAL_STATES:
                raise JobStateConflict(job.state)
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(state="cancelled", finished_at=now))
            conn.execute(delete(leases).where(leases.c.job_id == job_id))
            conn.execute(insert(job_events).values(job_id=job_id, state="cancelled", at=now))
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
            return JobRecord.from_row(row)

    def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (every tenant)."""
        with read_tx(self.engine) as conn:
            rows = conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).all()
        return {state: int(n) for state, n in rows}

    # -- the runner's side ----------------------------------------------------------------

    def claim(self, holder: str, lease_seconds: float) -> Claim | None:
        """Claim the oldest queued job, or a running one whose lease expired.

        On PostgreSQL the candidate row is locked with ``FOR UPDATE SKIP LOCKED``; when another
        runner claimed it and committed between this query's snapshot and its lock, PostgreSQL
        re-checks the job row's own columns but not the joined lease row (still the snapshot's:
        none), so the job can look claimable again.  The claim is therefore re-checked in a new
        statement (a new snapshot under READ COMMITTED, which sees the other runner's lease)
        and, if lost, tried again with the next candidate."""
        for _ in range(_CLAIM_TRIES):
            lost, claim = self._try_claim(holder, lease_seconds)
            if not lost:
                return claim
        return None

    def _try_claim(self, holder: str, lease_seconds: float) -> tuple[bool, Claim | None]:
        """(lost to another runner, the claim or None when nothing is claimable)."""
        now = utcnow()
        with_lease = jobs.outerjoin(leases, leases.c.job_id == jobs.c.id)
        claimable = or_(
            jobs.c.state == "queued",
            and_(jobs.c.state == "running", or_(leases.c.job_id.is_(None), leases.c.expires_at < now)),
        )
        candidate = select(jobs.c.id).select_from(with_lease).where(claimable).order_by(jobs.c.seq).limit(1)
        if is_postgresql(self.engine):
            candidate = candidate.with_for_update(skip_locked=True, of=jobs)
        with write_tx(self.engine) as conn:
            found = conn.execute(candidate).first()
            if found is None:
                return False, None
            job_id = found[0]
            current = conn.execute(
                select(jobs.c.state).select_from(with_lease).where(jobs.c.id == job_id, claimable)
            ).first()
            if current is None:  # claimed by another runner since this query's snapshot
                return True, None
            reclaimed = current[0] == "running"
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(state="running", started_at=now, attempts=jobs.c.attempts + 1)
            )
            conn.execute(delete(leases).where(leases.c.job_id == job_id))
            conn.execute(
                insert(leases).values(
                    job_id=job_id,
                    holder=holder,
                    expires_at=now + dt.timedelta(seconds=lease_seconds),
                    heartbeat_at=now,
                )
            )
            conn.execute(
                insert(job_events).values(
                    job_id=job_id,
                    state="running",
                    at=now,
                    holder=holder,
                    detail="re-claimed after the previous lease expired" if reclaimed else None,
                )
            )
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
            return False, Claim(JobRecord.from_row(row), reclaimed)

    def heartbeat(self, job_id: str, holder: str, lease_seconds: float) -> bool:
        """Extend the lease; ``False`` when the holder no longer holds it (expired and
        re-claimed, or the job was cancelled)."""
        now = utcnow()
        with write_tx(self.engine) as conn:
            result = conn.execute(
                update(leases)
                .where(leases.c.job_id == job_id, leases.c.holder == holder)
                .values(expires_at=now + dt.timedelta(seconds=lease_seconds), heartbeat_at=now)
            )
            return result.rowcount == 1

    def set_progress(self, job_id: str, holder: str, progress: dict[str, Any]) -> bool:
        """Store the latest progress snapshot (only the lease holder may)."""
        held = select(leases.c.job_id).where(leases.c.job_id == job_id, leases.c.holder == holder)
        with write_tx(self.engine) as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state == "running", jobs.c.id.in_(held))
                .values(progress=progress)
            )
            return result.rowcount == 1

    def finish(
        self,
        job_id: str,
        holder: str,
        *,
        state: str,
        counts: dict[str, Any] | None = None,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
    ) -> bool:
        """Record a job's end (``succeeded`` or ``failed``); ``False`` when the holder lost the
        lease or the job was cancelled meanwhile (nothing is changed then)."""
        if state not in ("succeeded", "failed"):
            raise ValueError(f"a runner finishes a job as succeeded or failed, not {state}")
        now = utcnow()
        with write_tx(self.engine) as conn:
            lease = conn.execute(
                select(leases.c.holder).where(leases.c.job_id == job_id, leases.c.holder == holder)
            ).first()
            if lease is None:
                return False
            values: dict[str, Any] = {"state": state, "counts": counts, "error": error, "finished_at": now}
            if progress is not None:
                values["progress"] = progress
            result = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running").values(**values)
            )
            if result.rowcount != 1:
                return False
            conn.execute(delete(leases).where(leases.c.job_id == job_id))
            conn.execute(insert(job_events).values(job_id=job_id, state=state, at=now, holder=holder))
            return True

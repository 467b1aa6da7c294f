"""The job store on SQLite and PostgreSQL: claims are exclusive, leases expire and are
re-claimed, only the lease holder finishes a job, cancellation wins, migrations match the
tables, API keys are stored as hashes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

from settle.api.store import JobStore, KeyStore, make_engine
from settle.api.store.keys import hash_key
from settle.api.store.tables import api_keys, metadata


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    eng = make_engine(fresh_database_url)
    yield eng
    eng.dispose()


def _submit(store: JobStore, name: str, tenant: str = "acme", key: str | None = None) -> Any:
    job, _ = store.submit(
        tenant=tenant,
        name=name,
        document={"name": name},
        body_sha256=name,
        idempotency_key=key,
        output_for=lambda job_id: f"/results/{job_id}",
    )
    return job


def test_the_migrated_schema_matches_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_concurrent_claims_never_share_a_job(engine: Engine) -> None:
    """Eight runners drain the queue at once, three times over.  On PostgreSQL a runner whose
    snapshot predates another's claim used to see the job's new state with the old (absent)
    lease and claim it again: 73 double claims in 10 such rounds before the re-check."""
    store = JobStore(engine)
    for round_ in range(3):
        submitted = {_submit(store, f"job-{round_}-{i}").id for i in range(60)}
        claimed = _drain(store, runners=8)
        assert sorted(claimed) == sorted(submitted)  # every job once, none twice


def _drain(store: JobStore, runners: int) -> list[str]:
    """Job ids claimed by ``runners`` threads claiming until nothing is left."""
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(holder: str) -> None:
        while (claim := store.claim(holder, lease_seconds=60)) is not None:
            with lock:
                claimed.append(claim.job.id)

    threads = [threading.Thread(target=claimer, args=(f"runner-{i}",)) for i in range(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return claimed


def test_claims_take_the_oldest_job_first(engine: Engine) -> None:
    store = JobStore(engine)
    first, second = _submit(store, "first"), _submit(store, "second")
    a, b = store.claim("r", 60), store.claim("r", 60)
    assert a is not None and b is not None
    assert (a.job.id, b.job.id) == (first.id, second.id)
    assert store.claim("r", 60) is None


def test_an_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish(engine: Engine) -> None:
    store = JobStore(engine)
    job = _submit(store, "crashy")
    claim = store.claim("dead-runner", lease_seconds=0.2)
    assert claim is not None and not claim.reclaimed
    assert store.claim("other", lease_seconds=60) is None  # the lease still holds
    time.sleep(0.3)
    again = store.claim("other", lease_seconds=60)
    assert again is not None and again.reclaimed and again.job.id == job.id
    assert again.job.attempts == 2
    assert not store.heartbeat(job.id, "dead-runner", 60)
    assert not store.set_progress(job.id, "dead-runner", {"stage": "map"})
    assert not store.finish(job.id, "dead-runner", state="succeeded", counts={})
    assert store.heartbeat(job.id, "other", 60)
    assert store.finish(job.id, "other", state="succeeded", counts={"claim_lines": 3})
    done = store.get(job.id)
    assert done is not None and done.state == "succeeded" and done.counts == {"claim_lines": 3}
    assert [e["state"] for e in store.events(job.id)] == ["queued", "running", "running", "succeeded"]


def test_cancelling_a_running_job_drops_its_result(engine: Engine) -> None:
    store = JobStore(engine)
    job = _submit(store, "cancel-me")
    assert store.claim("runner", 60) is not None
    cancelled = store.cancel(job.id, tenant="acme")
    assert cancelled is not None and cancelled.state == "cancelled"
    assert not store.heartbeat(job.id, "runner", 60)
    assert not store.finish(job.id, "runner", state="succeeded", counts={})
    final = store.get(job.id)
    assert final is not None and final.state == "cancelled"
    assert store.cancel(job.id, tenant="other") is None


def test_idempotency_keys_are_per_tenant(engine: Engine) -> None:
    store = JobStore(engine)
    a = _submit(store, "same", key="k1")
    again, created = store.submit(
        tenant="acme", name="same", document={}, body_sha256="same", idempotency_key="k1", output_for=str
    )
    assert (again.id, created) == (a.id, False)
    b = _submit(store, "same", tenant="globex", key="k1")
    assert b.id != a.id


def test_keys_are_stored_only_as_hashes(engine: Engine) -> None:
    keys = KeyStore(engine)
    record, key = keys.create(tenant="acme", scopes=["jobs:read"], employer_groups=["G2", "G1", "G2"])
    assert record.employer_groups == frozenset({"G1", "G2"})
    with engine.connect() as conn:
        stored = conn.execute(select(api_keys)).one()._mapping
    assert key not in {str(v) for v in stored.values()}
    assert stored["key_sha256"] == hash_key(key)
    found = keys.lookup(key)
    assert found is not None and found.id == record.id and found.allows("jobs:read")
    assert not found.allows("jobs:submit")
    assert keys.revoke(record.id)
    assert keys.lookup(key) is None
    assert not keys.revoke(record.id)

"""A `settle worker` killed in the middle of a job: another worker re-claims the job once the
lease expires and finishes it with outputs byte-identical to an undisturbed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from settle.api.store import JobStore, make_engine
from settle.api.submission import body_sha256, normalise_job
from settle.cluster.job import run_job
from settle.engine.job import parse_job


def _worker(url: str, home: Path, data_root: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "SETTLE_DATABASE_URL": url,
        "SETTLE_HOME": str(home),
        "SETTLE_DATA_ROOTS": str(data_root),
        "SETTLE_LEASE_SECONDS": "2",
        "SETTLE_POLL_SECONDS": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "settle.api.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_killed_worker_loses_its_job_to_another_that_finishes_it(
    fresh_database_url: str, data_root: Path, job_body: dict[str, object], tmp_path: Path
) -> None:
    engine = make_engine(fresh_database_url)
    store = JobStore(engine)
    document = normalise_job(job_body, [str(data_root)])
    job, _ = store.submit(
        tenant="acme",
        name=str(document["name"]),
        document=document,
        body_sha256=body_sha256(job_body),
        idempotency_key=None,
        output_for=lambda job_id: str(tmp_path / "results" / job_id),
    )
    first = _worker(fresh_database_url, tmp_path, data_root)
    second = None
    try:
        # Kill the first worker while it settles: the job is running and has reported the map stage.
        deadline = time.monotonic() + 120
        while True:
            seen = store.get(job.id)
            assert seen is not None
            if seen.state == "running" and seen.progress is not None and seen.progress["stage"] == "map":
                break
            assert seen.state in ("queued", "running"), seen.state
            assert time.monotonic() < deadline, "the first worker never started the job"
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        killed = store.get(job.id)
        assert killed is not None
        assert killed.state == "running"
        assert not (Path(str(killed.output)) / "manifest.json").exists()

        second = _worker(fresh_database_url, tmp_path, data_root)
        deadline = time.monotonic() + 180
        while (done := store.get(job.id)) is not None and done.state == "running":
            assert time.monotonic() < deadline, "the second worker never finished the job"
            time.sleep(0.05)
        assert done is not None
        assert done.state == "succeeded", done.error
        assert done.attempts == 2
        events = store.events(job.id)
        assert [e["state"] for e in events] == ["queued", "running", "running", "succeeded"]
        assert events[2]["detail"] == "re-claimed after the previous lease expired"
        assert events[1]["holder"] != events[2]["holder"]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
        engine.dispose()

    reference = tmp_path / "reference"
    run_job(parse_job(document), reference)
    output = Path(str(done.output))
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in output.iterdir()) == names
    for name in names:
        assert (output / name).read_bytes() == (reference / name).read_bytes(), name

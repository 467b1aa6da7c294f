"""A job settled in a child process of its runner (``api/job_process.py``): it answers progress
and its end; stopping it ends the work and publishes nothing; it dies with its runner; a
runner whose job is cancelled stops the job's process instead of settling on.

A job whose contracts file is a named pipe (a FIFO) holds its process in the middle of its work
without any timing: the test opens the pipe's writing end, which succeeds once the child is
reading it, and never writes, so the child waits in ``read`` until it is stopped."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from settle.api.job_process import JobProcess
from settle.api.runner import Runner
from settle.api.store import JobRecord, JobStore, make_engine
from settle.api.submission import body_sha256, normalise_job
from settle.cluster.partitioning import PARTITION_LINES


@pytest.fixture
def document(data_root: Path, job_body: dict[str, Any]) -> dict[str, Any]:
    return normalise_job(job_body, [str(data_root)])


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "contracts.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture
def stuck_document(document: dict[str, Any], fifo: Path) -> dict[str, Any]:
    """The job document with its contracts read from ``fifo``."""
    return {**document, "contracts": str(fifo)}


@contextmanager
def reading(fifo: Path) -> Iterator[None]:
    """Wait until a process reads ``fifo`` (a job process in the middle of its work) and keep
    it waiting there: the writing end stays open and silent until the block ends."""
    deadline = time.monotonic() + 60
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody reads it yet
                raise
        assert time.monotonic() < deadline, "no job process started reading its contracts"
        time.sleep(0.02)
    try:
        yield
    finally:
        os.close(fd)


def _spec(document: dict[str, Any], output: Path) -> dict[str, Any]:
    return {
        "id": "0" * 32,
        "document": document,
        "output": str(output),
        "shards": None,
        "partition_lines": PARTITION_LINES,
        "nice": 0,
    }


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_job_process_reports_progress_and_counts(document: dict[str, Any], tmp_path: Path) -> None:
    child = JobProcess(_spec(document, tmp_path / "out"))
    messages = list(child.messages())
    assert child.wait() == 0
    stages = [m["progress"]["stage"] for m in messages if "progress" in m]
    assert stages[0] == "plan" and stages[-1] == "done"
    assert list(messages[-1]) == ["succeeded"]
    assert messages[-1]["succeeded"]["claim_lines"] > 0
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_a_user_mistake_is_answered_with_its_message(document: dict[str, Any], tmp_path: Path) -> None:
    missing = {**document, "inputs": {**document["inputs"], "roster": [str(tmp_path / "no-roster.parquet")]}}
    child = JobProcess(_spec(missing, tmp_path / "out"))
    last = list(child.messages())[-1]
    child.wait()
    assert "no-roster.parquet" in last["user_error"]
    assert not (tmp_path / "out").exists()


def test_stopping_a_job_process_ends_its_work_and_publishes_nothing(
    stuck_document: dict[str, Any], fifo: Path, tmp_path: Path
) -> None:
    child = JobProcess(_spec(stuck_document, tmp_path / "out"))
    with reading(fifo):
        child.stop(grace=5)
        assert [m for m in child.messages() if "progress" not in m] == []  # no end was answered
    assert child.wait() != 0
    assert not (tmp_path / "out").exists()


def test_a_job_process_dies_with_its_runner(
    stuck_document: dict[str, Any], fifo: Path, tmp_path: Path
) -> None:
    script = (
        "import json, sys\n"
        "from settle.api.job_process import JobProcess\n"
        "child = JobProcess(json.loads(sys.stdin.read()))\n"
        "print(child.proc.pid, flush=True)\n"
        "child.proc.wait()\n"
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert runner.stdin is not None and runner.stdout is not None
    runner.stdin.write(json.dumps(_spec(stuck_document, tmp_path / "out")))
    runner.stdin.close()
    pid = int(runner.stdout.readline())
    with reading(fifo):
        assert _alive(pid)
        runner.send_signal(signal.SIGKILL)
        runner.wait(30)
        runner.stdout.close()
        deadline = time.monotonic() + 30
        while _alive(pid):
            assert time.monotonic() < deadline, "the job process outlived its runner"
            time.sleep(0.05)


@pytest.fixture
def store(fresh_database_url: str) -> Iterator[JobStore]:
    engine = make_engine(fresh_database_url)
    yield JobStore(engine)
    engine.dispose()


def _submit_stuck(store: JobStore, document: dict[str, Any], tmp_path: Path) -> JobRecord:
    """Queue the job held by the FIFO for tenant acme, its outputs under ``tmp_path/results``."""
    job, _ = store.submit(
        tenant="acme",
        name="stuck",
        document=document,
        body_sha256=body_sha256(document),
        idempotency_key=None,
        output_for=lambda job_id: str(tmp_path / "results" / job_id),
    )
    return job


def test_cancelling_a_running_job_stops_its_process(
    store: JobStore, stuck_document: dict[str, Any], fifo: Path, tmp_path: Path
) -> None:
    job = _submit_stuck(store, stuck_document, tmp_path)
    runner = Runner(store, lease_seconds=1.5, job_nice=0)
    worked: list[bool] = []
    thread = threading.Thread(target=lambda: worked.append(runner.run_once()), daemon=True)
    thread.start()
    with reading(fifo):
        child = runner._child
        assert child is not None
        assert store.cancel(job.id, tenant="acme") is not None
        thread.join(60)
        assert not thread.is_alive(), "the runner kept settling a cancelled job"
    assert worked == [True]
    assert child.proc.returncode is not None and child.proc.returncode != 0
    done = store.get(job.id)
    assert done is not None and done.state == "cancelled"
    assert [e["state"] for e in store.events(job.id)] == ["queued", "running", "cancelled"]
    assert not (tmp_path / "results" / job.id).exists()


def test_a_stopped_runner_leaves_its_job_running_for_another_runner(
    store: JobStore, stuck_document: dict[str, Any], fifo: Path, tmp_path: Path
) -> None:
    job = _submit_stuck(store, stuck_document, tmp_path)
    runner = Runner(store, lease_seconds=60, poll_seconds=0.05, job_nice=0)
    runner.start()
    with reading(fifo):
        child = runner._child
        assert child is not None
        runner.stop(timeout=0.5)  # the job does not end by itself: its process is stopped
        assert not runner.is_running()
    assert child.proc.returncode is not None and child.proc.returncode != 0
    left = store.get(job.id)
    assert left is not None and left.state == "running"  # not failed: re-claimed once the lease expires
    assert [e["state"] for e in store.events(job.id)] == ["queued", "running"]

"""The runner: claims queued jobs from the store and settles them with the cluster.

A :class:`Runner` loops: claim a job (a lease of ``SETTLE_LEASE_SECONDS``), renew the lease
from a heartbeat thread every third of it, and settle the job in a child process
(:mod:`settle.api.job_process`, which calls :func:`settle.cluster.job.run_job`), storing each
progress snapshot the child reports, then record the end.  A user mistake
(:class:`~settle.engine.errors.UserError`) fails the job with its one-paragraph message; any
other failure (the child's exception, or a child that died) fails it with a generic message,
and only the log gets the stack frames (not the exception's text, which could quote member
data).  A runner that dies stops renewing its lease (and its child dies with it); once the lease
expires another runner re-claims the job and settles it again into the same output location
(outputs are deterministic and published atomically, so the result is identical to an
undisturbed run).  If a job is cancelled or re-claimed while this runner is settling it, the
heartbeat notices within a third of the lease, stops the child and drops its result.

`settle serve` runs one runner in a thread (:meth:`Runner.start`); `settle worker` runs it in
the foreground (:meth:`Runner.run_forever`).

How a job is cut into shards is the runner's, not the job document's (the same book may be
settled on a laptop or a cluster): ``SETTLE_SHARDS`` and ``SETTLE_PARTITION_LINES`` are the
runner's ``settle run --shards`` and ``--partition-lines`` (unset: run_job's defaults, one shard
per 4 million claim lines and 2 million lines per partition).  They change how the work is
spread, never the outputs (``docs/cluster.md``, "Determinism").
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from settle.api import metrics
from settle.api.http_errors import log_system_error
from settle.api.job_process import JobProcess
from settle.api.settings import SettingsError
from settle.api.store.jobs import JobRecord, JobStore
from settle.cluster.partitioning import PARTITION_LINES

__all__ = ["SYSTEM_FAILURE", "Runner"]

log = logging.getLogger("settle.api.runner")

SYSTEM_FAILURE = (
    "the job failed on the server side (not because of its inputs); the operators can find "
    "job {id} in the logs"
)


def _positive_env(name: str) -> int | None:
    """A positive integer from the environment variable ``name``, or ``None`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SettingsError(f"{name} must be a positive whole number, not {raw!r}.", variable=name)
    return value


class Runner:
    """Claims and settles jobs, one at a time.

    ``shards`` and ``partition_lines`` default to ``SETTLE_SHARDS`` and ``SETTLE_PARTITION_LINES``
    (a bad value is a :class:`~settle.api.settings.SettingsError` here, at start-up)."""

    def __init__(
        self,
        store: JobStore,
        *,
        lease_seconds: float,
        poll_seconds: float = 1.0,
        shards: int | None = None,
        partition_lines: int | None = None,
        job_nice: int = 10,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.shards = shards if shards is not None else _positive_env("SETTLE_SHARDS")
        self.partition_lines = partition_lines or _positive_env("SETTLE_PARTITION_LINES") or PARTITION_LINES
        self.job_nice = job_nice
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: JobProcess | None = None
        self._abandoned: JobProcess | None = None
        self.alive_at = time.monotonic()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in a daemon thread."""
        self._thread = threading.Thread(target=self.run_forever, name="settle-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to stop after the current job and wait for it; after ``timeout``
        seconds the job's process is stopped (the job is re-claimed once its lease expires)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            child = self._child
            if self._thread.is_alive() and child is not None:
                self._abandoned = child
                child.stop()
                self._thread.join(timeout)

    def is_running(self) -> bool:
        """Whether the runner's thread is alive (always true in the foreground)."""
        return self._thread is None or self._thread.is_alive()

    def run_forever(self) -> None:
        log.info("runner %s started", self.holder)
        while not self._stop.is_set():
            self.alive_at = time.monotonic()
            try:
                worked = self.run_once()
            except Exception as exc:  # the store is unreachable: wait and try again
                log_system_error("runner loop", exc)
                worked = False
            if not worked:
                self._stop.wait(self.poll_seconds)
        log.info("runner %s stopped", self.holder)

    # -- one job --------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Claim and settle one job; ``False`` when none was waiting."""
        claim = self.store.claim(self.holder, self.lease_seconds)
        if claim is None:
            return False
        metrics.JOBS.labels("running").inc()
        if claim.reclaimed:
            metrics.LEASE_LOSSES.inc()
            log.warning("job %s re-claimed after its previous runner's lease expired", claim.job.id)
        self._settle(claim.job)
        return True

    def _settle(self, job: JobRecord) -> None:
        started = time.monotonic()
        assert job.output is not None
        child = JobProcess(
            {
                "id": job.id,
                "document": job.document,
                "output": job.output,
                "shards": self.shards,
                "partition_lines": self.partition_lines,
                "nice": self.job_nice,
            }
        )
        self._child = child
        lost = threading.Event()
        done = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(job.id, lost, done, child), daemon=True)
        heart.start()
        last: dict[str, Any] = {}
        state, counts = "failed", None
        error: str | None = SYSTEM_FAILURE.format(id=job.id)
        answered = False
        try:
            for message in child.messages():
                if "progress" in message:
                    last.clear()
                    last.update(message["progress"])
                    if not lost.is_set():
                        self.store.set_progress(job.id, self.holder, last)
                elif "succeeded" in message:
                    state, counts, error, answered = "succeeded", message["succeeded"], None, True
                elif "user_error" in message:
                    error, answered = str(message["user_error"]), True
                elif "system_error" in message:
                    answered = True
            status = child.wait()
        finally:
            done.set()
            heart.join()
            child.stop()
            self._child = None
        if not answered and self._abandoned is child and not lost.is_set():
            # stopped by Runner.stop: the job is left running; another runner re-claims it
            # once the lease expires (a shut-down runner has not failed the job)
            log.warning("job %s: interrupted by the runner's stop; left for another runner", job.id)
            return
        if not answered and not lost.is_set():
            log.error("job %s: its process ended with status %s and no answer", job.id, status)
        recorded = self.store.finish(
            job.id, self.holder, state=state, counts=counts, error=error, progress=last or None
        )
        if not recorded:
            log.warning("job %s: lease lost or job cancelled while settling; this result is dropped", job.id)
            return
        metrics.JOBS.labels(state).inc()
        metrics.JOB_DURATION.observe(time.monotonic() - started)
        metrics.SHARD_RETRIES.inc(int(last.get("retries", 0)))
        if counts is not None:
            metrics.CLAIM_LINES.inc(int(counts.get("claim_lines", 0)))
            rejected = sum(int(t.get("rejected", 0)) for t in counts.get("tables", {}).values())
            metrics.REJECTED_ROWS.inc(rejected + int(counts.get("rejects_after_validation", 0)))
        log.info("job %s %s in %.1f s", job.id, state, time.monotonic() - started)

    def _heartbeat(
        self, job_id: str, lost: threading.Event, done: threading.Event, child: JobProcess
    ) -> None:
        interval = self.lease_seconds / 3
        while not done.wait(interval):
            try:
                held = self.store.heartbeat(job_id, self.holder, self.lease_seconds)
            except Exception as exc:  # keep trying: the lease is still ours until it expires
                log_system_error(f"heartbeat of job {job_id}", exc)
                continue
            if not held:
                lost.set()
                log.warning("job %s: lease no longer held (cancelled or re-claimed); stopping it", job_id)
                child.stop()
                return

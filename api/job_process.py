"""One claimed job settled in a child process of its runner.

The runner (:mod:`settle.api.runner`) keeps the job's lease, its progress rows and its end in
its own process and hands the settling itself (:func:`settle.cluster.job.run_job`: planning,
the reduce, the settlement, writing outputs, all of it Python that holds a GIL) to a child
``python -m settle.api.job_process``.  So the gateway's event loop never waits for a job's GIL
(`settle serve`'s embedded runner), and stopping a job is stopping a process: a cancelled job
or a lost lease ends the child (SIGTERM, then SIGKILL after :data:`STOP_GRACE_SECONDS`), and
with it the job's Ray driver, whose tasks Ray then cancels.

The protocol: the runner writes the job (a JSON line: document, output, shard settings,
niceness) on the child's stdin and keeps stdin open; the child answers JSON lines on the file
descriptor named by its first argument: ``{"progress": {...}}`` for every progress snapshot,
then one of ``{"succeeded": counts}``, ``{"user_error": message}`` or ``{"system_error": true}``
(the stack frames, never the message, go to the child's log, which is the runner's stderr).
A child that ends without its last line failed on the server side.

The child runs at niceness ``nice`` (``SETTLE_JOB_NICE``, default 10; Ray processes it starts
inherit it) so that on a shared machine the gateway's requests come before batch work.  It dies
with its runner: on Linux the kernel sends it SIGKILL when the runner's thread ends
(``PR_SET_PDEATHSIG``), and everywhere it exits when its stdin reaches end of file.

Ray: the child connects to ``RAY_ADDRESS`` when set (a cluster); otherwise a job of more than
one shard starts a local Ray in the child (:func:`settle.cluster.runtime.ensure_ray`), which
ends with it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["STOP_GRACE_SECONDS", "JobProcess"]

STOP_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1

log = logging.getLogger("settle.api.job_process")


class JobProcess:
    """A running child settling one job (the runner's side)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        read, write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "settle.api.job_process", str(write), str(os.getpid())],
                stdin=subprocess.PIPE,
                pass_fds=(write,),
                close_fds=True,
            )
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        self._answers: IO[bytes] = os.fdopen(read, "rb")
        self._lock = threading.Lock()
        self._stopping = False
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(spec).encode() + b"\n")
        self.proc.stdin.flush()

    def messages(self) -> Iterator[dict[str, Any]]:
        """The child's answers until it closes its end (it ended)."""
        with self._answers:
            for line in self._answers:
                with contextlib.suppress(ValueError):
                    message = json.loads(line)
                    if isinstance(message, dict):
                        yield message

    def wait(self) -> int:
        """Wait for the child to end (it does after its last answer); its exit status."""
        status = self.proc.wait()
        self._close_stdin()
        return status

    def _close_stdin(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM (the child cleans up its scratch folder and unpublished outputs), then
        SIGKILL when it is still there after ``grace`` seconds.  Safe from any thread."""
        with self._lock:
            if self._stopping or self.proc.poll() is not None:
                self._close_stdin()
                return
            self._stopping = True
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close_stdin()


# -- the child's side -----------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the runner's thread ends (Linux), and exit at end of file on stdin."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the runner died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.read(0, 1 << 16):  # the raw descriptor: no buffer lock at interpreter exit
            pass
        os._exit(1)

    threading.Thread(target=watch, name="settle-job-stdin", daemon=True).start()


def _terminated(_signum: int, _frame: object) -> None:
    raise SystemExit(128 + signal.SIGTERM)  # unwinds run_job: scratch removed, writer aborted


def _settle(spec: dict[str, Any], send: Any) -> None:
    from settle.api.http_errors import log_system_error
    from settle.cluster.job import run_job
    from settle.engine.errors import UserError
    from settle.engine.job import parse_job

    try:
        document = parse_job(spec["document"], source="job document")
        outcome = run_job(
            document,
            spec["output"],
            progress=lambda p: send({"progress": p.as_dict()}),
            shards=spec["shards"],
            partition_lines=spec["partition_lines"],
        )
    except UserError as exc:
        send({"user_error": str(exc)})
    except Exception as exc:
        log_system_error(f"job {spec['id']} failed", exc)
        send({"system_error": True})
    else:
        send({"succeeded": outcome.result.counts})


def main(argv: list[str]) -> None:
    """``python -m settle.api.job_process ANSWER_FD RUNNER_PID`` with the job on stdin."""
    answer_fd, parent = int(argv[0]), int(argv[1])
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 1 << 16)
        if not chunk:
            raise SystemExit("settle.api.job_process: the runner closed stdin before sending the job")
        line += chunk
    spec = json.loads(line)
    _die_with_parent(parent)
    signal.signal(signal.SIGTERM, _terminated)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if spec.get("nice"):
        os.nice(int(spec["nice"]))
    with os.fdopen(answer_fd, "wb", buffering=0) as out:
        lock = threading.Lock()

        def send(message: dict[str, Any]) -> None:
            data = json.dumps(message, default=str).encode() + b"\n"
            with lock:
                out.write(data)

        _settle(spec, send)


if __name__ == "__main__":
    main(sys.argv[1:])

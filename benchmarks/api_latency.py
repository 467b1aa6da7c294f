"""Latency of ``GET /v1/jobs/{id}`` under a bounded loopback load while a job runs.

Usage (a book from ``python -m benchmarks`` or ``settle synth``; everything under /tmp)::

    python -m benchmarks.api_latency --job BOOK/job.yaml --rate 200 --seconds 30

It starts ``settle serve`` (SQLite under a temporary SETTLE_HOME, the book's folder as the data
root, an embedded runner), creates a key, submits the job, waits until it is running (or has
reached ``--start-stage``), then loads the gateway and prints the figures as one JSON line.
``--worker-process`` runs the job in a separate ``settle worker`` instead (``settle serve
--no-runner``); ``--idle`` runs no runner at all (the job stays queued: the gateway's own cost).

**The load** (:func:`open_loop`) is open loop at a constant rate: request ``i`` is due at
``start + i / rate`` whatever the answers' speed, ``rate * seconds`` requests in all.  Due
requests go into a queue that ``--connections`` keep-alive HTTP/1.1 connections (plain asyncio
streams, uvloop when installed; no HTTP client library) take from, one request at a time per
connection.  A request's latency is measured **from the time it was due**, not from when a
connection got round to sending it, so a stalled server is charged for the requests it held
back (no coordinated omission).  A non-200 answer, a broken connection or a request still
unanswered ``--grace`` seconds after the last one was due is an error.  The generator's own CPU
time is printed (``loadgen_cpu_s``) to show it is not what loads the machine.

Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settle(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "settle.api.cli", *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _job_body(job_path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(job_path.read_text())
    base = job_path.resolve().parent
    inputs = {}
    for table, where in doc["inputs"].items():
        items = [where] if isinstance(where, str) else where
        inputs[table] = [str(base / i) for i in items]
    doc["inputs"] = inputs
    if isinstance(doc["contracts"], str):
        contracts = yaml.safe_load((base / doc["contracts"]).read_text())
        doc["contracts"] = contracts["contracts"] if isinstance(contracts, dict) else contracts
    return json.loads(json.dumps(doc, default=str))


@dataclass
class LoadResult:
    """What :func:`open_loop` saw: latencies (seconds, from each request's due time) of the
    200 answers, and the errors by kind."""

    due: int
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    send_window_s: float = 0.0
    elapsed_s: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One HTTP/1.1 answer (status, whether the server keeps the connection); the body is
    read by its Content-Length and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def open_loop(
    host: str, port: int, request: bytes, *, rate: float, seconds: float, connections: int, grace: float
) -> LoadResult:
    """Send ``request`` (raw HTTP/1.1 bytes) ``rate`` times a second for ``seconds`` seconds,
    on a schedule (module docstring)."""
    total = int(rate * seconds)
    result = LoadResult(due=total)
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    clock = time.perf_counter

    async def connection() -> None:
        reader = writer = None
        while (due := await queue.get()) is not None:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(request)
                result.sent += 1
                status, keep = await _read_answer(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                result.error("connection")
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if status == 200:
                result.latencies.append(clock() - due)
            else:
                result.error(f"http_{status}")
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = clock()
    for i in range(total):
        due = start + i / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(due)
    result.send_window_s = clock() - start
    for _ in workers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    result.elapsed_s = clock() - start
    unanswered = total - len(result.latencies) - sum(result.errors.values())
    if unanswered:
        result.errors["unanswered"] = unanswered
    return result


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def summary(result: LoadResult, rate: float) -> dict[str, Any]:
    """The figures of one load (milliseconds, rounded)."""
    lat = result.latencies
    ms = {
        f"{name}_ms": round(_quantile(lat, q) * 1000, 2) if lat else None
        for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))
    }
    return {
        "rate_per_s": rate,
        "due": result.due,
        "ok": len(lat),
        "errors": result.errors,
        **ms,
        "max_ms": round(max(lat) * 1000, 2) if lat else None,
        "achieved_send_rate_per_s": round(result.sent / result.send_window_s, 1)
        if result.send_window_s
        else None,
        "answered_per_s": round(len(lat) / result.elapsed_s, 1) if result.elapsed_s else None,
    }


def _run_load(port: int, key: str, job_id: str, args: argparse.Namespace) -> tuple[LoadResult, float]:
    try:
        import uvloop

        policy: Any = uvloop.EventLoopPolicy()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        policy = asyncio.DefaultEventLoopPolicy()
    asyncio.set_event_loop_policy(policy)
    request = (
        f"GET /v1/jobs/{job_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(
        open_loop(
            "127.0.0.1",
            port,
            request,
            rate=args.rate,
            seconds=args.seconds,
            connections=args.connections,
            grace=args.grace,
        )
    )
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu


def _stage(job: dict[str, Any]) -> str | None:
    return (job.get("progress") or {}).get("stage")


STAGES = ("plan", "partition", "validate", "map", "reduce", "settle", "write", "done")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument(
        "--grace",
        type=float,
        default=60.0,
        help="seconds after the last due time before the unanswered count as errors",
    )
    parser.add_argument(
        "--start-stage",
        choices=STAGES,
        default=None,
        help="start the load once the job's progress reached this stage (default: once it is running)",
    )
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="run the job in a separate `settle worker` (the deployed topology) instead of the "
        "runner embedded in `settle serve`",
    )
    parser.add_argument(
        "--idle", action="store_true", help="no runner at all: the job stays queued (the gateway's own cost)"
    )
    parser.add_argument("--log", type=Path, default=None, help="write the server's and worker's output here")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="settle-latency-"))
    port = _free_port()
    env = dict(os.environ, SETTLE_HOME=str(home), SETTLE_DATA_ROOTS=str(args.job.resolve().parent))
    key = (
        _settle(
            "keys", "create", "--tenant", "bench", "--scope", "jobs:submit", "--scope", "jobs:read", env=env
        )
        .strip()
        .splitlines()[-1]
    )
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.worker_process or args.idle:
        serve.append("--no-runner")
    log = open(args.log, "ab") if args.log else subprocess.DEVNULL  # noqa: SIM115
    quiet: dict[str, Any] = {"env": env, "stdout": log, "stderr": log}
    server = subprocess.Popen([sys.executable, "-m", "settle.api.cli", *serve], **quiet)
    worker = (
        subprocess.Popen([sys.executable, "-m", "settle.api.cli", "worker"], **quiet)
        if args.worker_process
        else None
    )
    base = f"http://127.0.0.1:{port}"
    try:
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        job = httpx.post(f"{base}/v1/jobs", json=_job_body(args.job), headers=headers, timeout=60).json()
        job_id = job["id"]
        wanted = STAGES.index(args.start_stage) if args.start_stage else None
        for _ in range(3000):
            seen = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            if args.idle or seen["state"] not in ("queued", "running"):
                break
            stage = _stage(seen)
            if seen["state"] == "running" and (
                wanted is None or (stage in STAGES and STAGES.index(stage) >= wanted)
            ):
                break
            time.sleep(0.2)
        at_start = seen
        load, cpu = _run_load(port, key, job_id, args)
        final = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=60).json()
        print(
            json.dumps(
                {
                    **summary(load, args.rate),
                    "seconds": args.seconds,
                    "connections": args.connections,
                    "loadgen_cpu_s": round(cpu, 2),
                    "job_state_at_start": at_start["state"],
                    "job_stage_at_start": _stage(at_start),
                    "job_state_after_load": final["state"],
                    "job_stage_after_load": _stage(final),
                    "runner": "none (idle)"
                    if args.idle
                    else "separate settle worker"
                    if args.worker_process
                    else "embedded in settle serve",
                    "load_average": os.getloadavg(),
                }
            ),
            flush=True,
        )
        # the job is not needed any more: cancelled, its runner stops its process at the next
        # heartbeat, and a `settle worker` asked to stop does not wait for the job to finish
        httpx.delete(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=60)
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=300)


if __name__ == "__main__":
    main()

"""Latency of ``GET /v1/jobs/{id}`` under a bounded loopback load while a job runs.

Usage (a book from ``python -m benchmarks`` or ``settle synth``; everything under /tmp)::

    python -m benchmarks.api_latency --job BOOK/job.yaml --rate 200 --seconds 30

It starts ``settle serve`` (SQLite under a temporary SETTLE_HOME, the book's folder as the data
root, an embedded runner), creates a key, submits the job, waits until it is running, then
sends ``--rate`` requests per second for ``--seconds`` seconds (open loop: requests are issued on
schedule whatever the answers' speed, at most ``--rate * --seconds`` in all) and prints p50, p90,
p99 and max latency as JSON, with the job's state when the load ended.  Benchmarks are not tests:
nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
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


async def _load(base: str, key: str, job_id: str, rate: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def one() -> None:
            started = time.perf_counter()
            response = await client.get(f"/v1/jobs/{job_id}")
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="run the job in a separate `settle worker` (the deployed topology) instead of the "
        "runner embedded in `settle serve`",
    )
    parser.add_argument(
        "--idle", action="store_true", help="no runner at all: the job stays queued (the gateway's own cost)"
    )
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
    quiet: dict[str, Any] = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
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
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        job = httpx.post(f"{base}/v1/jobs", json=_job_body(args.job), headers=headers, timeout=60).json()
        job_id = job["id"]
        for _ in range(600):
            state = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()["state"]
            if state != "queued" or args.idle:
                break
            time.sleep(0.5)
        latencies = asyncio.run(_load(base, key, job_id, args.rate, args.seconds))
        final = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        print(
            json.dumps(
                {
                    "requests": len(latencies),
                    "rate_per_s": args.rate,
                    "seconds": args.seconds,
                    "p50_ms": round(_quantile(latencies, 0.50) * 1000, 2),
                    "p90_ms": round(_quantile(latencies, 0.90) * 1000, 2),
                    "p99_ms": round(_quantile(latencies, 0.99) * 1000, 2),
                    "max_ms": round(max(latencies) * 1000, 2),
                    "job_state_after_load": final["state"],
                    "job_stage_after_load": (final.get("progress") or {}).get("stage"),
                    "runner": "none (idle)"
                    if args.idle
                    else "separate settle worker"
                    if args.worker_process
                    else "embedded in settle serve",
                    "load_average": os.getloadavg(),
                }
            )
        )
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=120)


if __name__ == "__main__":
    main()

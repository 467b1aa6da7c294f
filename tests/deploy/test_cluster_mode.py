"""Cluster mode end to end: a real multi-process Ray cluster on this machine (a head without
CPUs and two one-CPU worker nodes, ``ray start``, token auth), ``settle worker`` with
``RAY_ADDRESS`` pointing at it, ``settle serve --no-runner`` on a throwaway PostgreSQL database;
a job submitted over HTTP succeeds, Ray's state API shows its tasks ran on both worker nodes,
and its outputs equal the embedded run's (``settle run`` of the same job without
``RAY_ADDRESS``, same shard settings): every file byte for byte, ``manifest.json`` aside.

The shard settings reach the runner through ``SETTLE_SHARDS`` and ``SETTLE_PARTITION_LINES``
(``api/runner.py``): a 2,500-member book (about 70,000 claim lines) cut into 16 partitions of
about 5,000 lines and four shards, so the validate and map stages have four tasks each for two
one-CPU nodes.  Every process is the test's own and is stopped by pid, even on failure.

PostgreSQL (127.0.0.1:5432, user postgres) is skipped when unreachable, except with ``CI=true``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from settle.engine.synth import generate
from tests.deploy.helpers import skip_or_fail
from tests.deploy.local_ray import LocalRayCluster, free_port, stop_processes_under

pytestmark = pytest.mark.postgres

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
SHARDS = 4
PARTITION_LINES = 5_000
SETTLE = str(Path(sys.executable).parent / "settle")
SHARD_TASKS = ("validate_stage", "map_stage")  # the task names are the functions' (cluster/remote.py)


@pytest.fixture
def database_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL on 127.0.0.1:5432 is unreachable: {exc}")
        raise  # not reached: skip_or_fail raises
    name = f"settle_cluster_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def ray_cluster() -> Iterator[LocalRayCluster]:
    cluster = LocalRayCluster(workers=2, worker_cpus=1)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _base_env(home: Path) -> dict[str, str]:
    """The environment of the test's processes, without any Ray or Settle setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SETTLE_"))}
    env.update({"SETTLE_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _log(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _job_body(root: Path) -> dict[str, Any]:
    doc = yaml.safe_load((root / "book" / "job.yaml").read_text())
    doc["period"] = {k: str(v) if k != "runout_months" else v for k, v in doc["period"].items()}
    doc["inputs"] = {table: f"book/{path}" for table, path in doc["inputs"].items()}
    doc["contracts"] = "book/contracts.yaml"
    return dict(doc)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the gateway did not become ready:\n{_log(log)}")
        time.sleep(0.2)


def _wait_job(
    client: httpx.Client, job_id: str, worker: subprocess.Popen[bytes], log: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        if worker.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']}; worker log:\n{_log(log)}")
        time.sleep(0.2)


_STATE_QUERY = """
import json, sys, time
from ray.util.state import list_nodes, list_tasks
dashboard, wanted = sys.argv[1], int(sys.argv[2])
nodes = {n.node_id: n.is_head_node for n in list_nodes(address=dashboard)}
deadline = time.monotonic() + 30
while True:  # task events reach the state API a little after the tasks end
    tasks = [t for t in list_tasks(address=dashboard, limit=10000, raise_on_missing_output=False)
             if t.name in ("partition_stage", "validate_stage", "map_stage")]
    if sum(t.name != "partition_stage" and t.state == "FINISHED" for t in tasks) >= wanted \\
            or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps({"nodes": nodes, "tasks": [[t.name, t.node_id, t.state] for t in tasks]}))
"""


def _tasks_by_node(cluster: LocalRayCluster, home: Path) -> dict[str, Any]:
    """Ray's state API, asked from a process of its own (with the cluster's token)."""
    env = _base_env(home) | cluster.client_env()
    done = subprocess.run(
        [sys.executable, "-c", _STATE_QUERY, cluster.dashboard, str(2 * SHARDS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _embedded_run(job_yaml: Path, out: Path, home: Path) -> None:
    """``settle run`` with the same shard settings on an embedded Ray (no ``RAY_ADDRESS``)."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="sre-", dir="/tmp"))
    env = _base_env(home) | {"RAY_TMPDIR": str(ray_tmp)}
    try:
        done = subprocess.run(
            [
                SETTLE,
                "run",
                str(job_yaml),
                "--out",
                str(out),
                "--shards",
                str(SHARDS),
                "--partition-lines",
                str(PARTITION_LINES),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    finally:  # the embedded Ray stops with its driver; anything left under its folder is stopped
        stop_processes_under(ray_tmp)


def test_a_job_over_http_runs_on_the_multi_process_cluster_like_the_embedded_run(
    ray_cluster: LocalRayCluster, database_url: str, tmp_path: Path
) -> None:
    data, home, results = tmp_path / "data", tmp_path / "home", tmp_path / "results"
    home.mkdir()
    generate(data / "book", members=2_500, seed=31)
    env = _base_env(home) | {
        "SETTLE_DATABASE_URL": database_url,
        "SETTLE_DATA_ROOTS": str(data),
        "SETTLE_RESULTS": str(results),
        "SETTLE_AUTO_MIGRATE": "false",
        "SETTLE_LEASE_SECONDS": "20",
        "SETTLE_POLL_SECONDS": "0.2",
    }
    subprocess.run([SETTLE, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    made = subprocess.run(
        [SETTLE, "keys", "create", "--tenant", "acme", "--scope", "jobs:submit", "--scope", "jobs:read"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    key = made.stdout.strip().splitlines()[-1]

    port = free_port()
    gateway_log, worker_log = tmp_path / "gateway.log", tmp_path / "worker.log"
    worker_env = env | ray_cluster.client_env()
    worker_env |= {"SETTLE_SHARDS": str(SHARDS), "SETTLE_PARTITION_LINES": str(PARTITION_LINES)}
    with gateway_log.open("wb") as glog, worker_log.open("wb") as wlog:
        gateway = subprocess.Popen(
            [SETTLE, "serve", "--no-runner", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=glog,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        worker = subprocess.Popen(
            [SETTLE, "worker"], env=worker_env, stdout=wlog, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, gateway, gateway_log)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            answer = client.post("/v1/jobs", json=_job_body(data))
            assert answer.status_code == 202, answer.text
            job = _wait_job(client, answer.json()["id"], worker, worker_log)
    finally:
        _stop(worker)
        _stop(gateway)
    assert job["state"] == "succeeded", f"{job['error']}\n{_log(worker_log)}"
    assert job["attempts"] == 1

    # Ray's state API: the shard tasks ran on both worker nodes (the head has no CPUs).
    seen = _tasks_by_node(ray_cluster, home)
    workers = {node for node, head in seen["nodes"].items() if not head}
    assert len(seen["nodes"]) == 3 and len(workers) == 2
    shard_tasks = [(name, node) for name, node, _ in seen["tasks"] if name in SHARD_TASKS]
    assert sorted(name for name, _ in shard_tasks) == sorted(SHARD_TASKS * SHARDS)
    assert {state for _, _, state in seen["tasks"]} == {"FINISHED"}
    assert {node for _, node, _ in seen["tasks"]} <= workers
    assert {node for _, node in shard_tasks} == workers

    # The embedded run of the same job, same shard settings: the same files, byte for byte.
    cluster_out = results / job["id"]
    embedded_out = tmp_path / "embedded"
    _embedded_run(data / "book" / "job.yaml", embedded_out, home)
    names = sorted(p.name for p in cluster_out.iterdir())
    assert names == sorted(p.name for p in embedded_out.iterdir())
    assert {"statements.json", "statements.parquet", "ledger.parquet", "manifest.json"} <= set(names)
    for name in names:
        if name != "manifest.json":
            assert (cluster_out / name).read_bytes() == (embedded_out / name).read_bytes(), name
    cluster_manifest = json.loads((cluster_out / "manifest.json").read_text())
    embedded_manifest = json.loads((embedded_out / "manifest.json").read_text())
    assert cluster_manifest["plan"] == embedded_manifest["plan"]
    # P = 70,843 claim lines / 5,000 per partition = 14.2, rounded up: 15.
    assert cluster_manifest["plan"]["estimated_claim_lines"] == 70_843
    assert cluster_manifest["plan"]["shards"] == SHARDS and cluster_manifest["plan"]["partitions"] == 15
    assert cluster_manifest["counts"] == embedded_manifest["counts"] == job["counts"]
    partitioned = [node for name, node, _ in seen["tasks"] if name == "partition_stage"]
    assert len(partitioned) == cluster_manifest["plan"]["partition_tasks"] > 0

"""A job survives a worker node killed hard while it runs, and writes the same outputs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from settle.cluster.job import run_job
from settle.engine.job import load_job

LINES = 2_000


@pytest.mark.usefixtures("ray_session")
def test_a_node_killed_mid_job_changes_nothing(books: dict[str, Path], tmp_path: Path) -> None:
    job_path = books["by_group"] / "job.yaml"
    run_job(load_job(job_path), tmp_path / "calm", shards=6, partition_lines=LINES)
    ray_tmp = tempfile.mkdtemp(prefix="rk-", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.cluster.node_kill", str(job_path), str(tmp_path / "hit"), str(LINES)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("killed") and "not killed" not in done.stdout
    for path in sorted((tmp_path / "calm").iterdir()):
        if path.name != "manifest.json":
            assert path.read_bytes() == (tmp_path / "hit" / path.name).read_bytes(), path.name

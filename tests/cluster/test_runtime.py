"""The embedded Ray of a process: its temporary folder does not outlive the process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import ray

_CHILD = """
import ray
from settle.cluster.runtime import ensure_ray
runtime = ensure_ray(num_cpus=1)
assert runtime.embedded and runtime.started_here
assert ray.get(ray.remote(lambda: 41 + 1).remote()) == 42
print(ray.get_runtime_context().get_node_id() and __import__("tempfile").gettempdir())
"""


def test_an_embedded_ray_removes_its_folder_when_the_process_exits() -> None:
    # A short folder of the test's own (Ray's socket paths must stay under 108 bytes).
    folder = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_TMPDIR", "RAY_ADDRESS")}
        env["TMPDIR"] = str(folder)  # tempfile.mkdtemp in the child makes settle-ray-* here
        done = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == str(folder)
        assert not list(folder.glob("settle-ray-*"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.usefixtures("ray_session")
def test_stage_tasks_run_polars_with_one_thread() -> None:
    """A stage task holds one CPU: its Polars must not start a thread per core."""
    from settle.cluster.remote import TASK_ENV

    @ray.remote(runtime_env=TASK_ENV)
    def threads() -> int:
        import polars as pl

        return pl.thread_pool_size()

    assert ray.get(threads.remote()) == 1


@pytest.mark.usefixtures("ray_session")
def test_stage_tasks_start_with_the_allocator_settings() -> None:
    """The allocators read their settings once, when the worker process starts: the settings
    must be in the environment the process was started with (``/proc/self/environ``), not
    only put into ``os.environ`` later.  (glibc rewrites ``GLIBC_TUNABLES`` in that block as
    it parses it; the next test checks its effect instead.)"""
    from settle.cluster.remote import ALLOCATOR_ENV, TASK_ENV

    @ray.remote(runtime_env=TASK_ENV)
    def start_environment() -> dict[str, str]:
        raw = Path("/proc/self/environ").read_bytes().split(b"\0")
        pairs = (item.decode().partition("=") for item in raw if b"=" in item)
        return {k: v for k, _, v in pairs}

    found = ray.get(start_environment.remote())
    expected = {k: v for k, v in ALLOCATOR_ENV.items() if k != "GLIBC_TUNABLES"}
    assert {k: found.get(k) for k in expected} == expected
    assert "GLIBC_TUNABLES" in found


@pytest.mark.usefixtures("ray_session")
def test_stage_tasks_keep_freed_glibc_memory() -> None:
    """glibc's tunables reach the task's process: 200 MB of 20 MB numpy arrays come from the
    heap (below the 32 MB mmap threshold; by default each would be a mapping of its own) and
    stay after they are freed (below the 256 MB trim threshold).  Without the tunables the
    process gives the 200 MB back at once."""
    from settle.cluster.remote import TASK_ENV

    @ray.remote(runtime_env=TASK_ENV)
    def resident_growth() -> tuple[int, int]:
        import numpy as np

        def resident() -> int:
            return int(Path("/proc/self/statm").read_text().split()[1]) * 4096

        before = resident()
        arrays = [np.ones(20_000_000 // 8) for _ in range(10)]
        grown = resident() - before
        del arrays
        return grown, resident() - before

    grown, kept = ray.get(resident_growth.remote())
    assert grown >= 150_000_000
    assert kept >= grown - 50_000_000

"""End to end: Settle as its users run it, on the benchmark job (``bench-job.yaml``).

* **cold**: ``settle run JOB --out DIR`` as a new process each time (interpreter start, imports,
  Ray start if the runner starts one, reading, validating, settling, writing); wall time and
  the memory of the command's process tree (:class:`benchmarks.machine.TreeMemory`).
* **warm**: one process (:mod:`benchmarks.warm`) starts Ray first, as the gateway does, then
  submits the job with ``settle.cluster.job.run_job`` several times; only ``run_job`` is timed.

Outputs go to a temporary folder under the data folder and are deleted afterwards, except that
the last warm run's ``member_costs.parquet`` is aggregated per entity x group and compared with
the references' table (``agrees_with_references``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.core import normalise
from benchmarks.machine import TreeMemory

__all__ = ["cold_runs", "e2e_table", "warm_runs"]


def _settle_command() -> Path:
    return Path(sys.executable).with_name("settle")


def cold_runs(job_path: Path, scratch: Path, repeat: int) -> list[dict[str, Any]]:
    """``repeat`` runs of ``settle run``; seconds and process-tree memory each."""
    runs = []
    for i in range(repeat):
        out = scratch / f"cold-{i}"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(_settle_command()), "run", str(job_path), "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        with TreeMemory(root=proc.pid) as memory:
            _, err = proc.communicate()
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"settle run failed ({proc.returncode}): {err.decode()[-2000:]}")
        runs.append({"seconds": round(seconds, 3), **memory.as_dict()})
        shutil.rmtree(out, ignore_errors=True)
    return runs


def warm_runs(
    job_path: Path, out_root: Path, repeat: int, options: Sequence[str] = (), ray_tmp: Path | None = None
) -> dict[str, Any]:
    """Run :mod:`benchmarks.warm` in a child process (``options``: its ``--cpus``, ``--nodes``,
    ``--shards``, ``--partition-lines``) and return its report.  With ``ray_tmp`` the child
    starts a Ray of its own with its files there (``RAY_TMPDIR``; ``RAY_ADDRESS`` unset)."""
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    if ray_tmp is not None:
        env["RAY_TMPDIR"] = str(ray_tmp)
        env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.warm", str(job_path), str(out_root), str(repeat), *options],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"warm runs failed ({done.returncode}): {done.stderr[-2000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
    report: dict[str, Any] = json.loads(last)
    return report


def e2e_table(output: Path) -> pl.DataFrame:
    """The entity x group table of a job's ``member_costs.parquet`` (one contract)."""
    (path,) = sorted(output.rglob("member_costs.parquet"))
    rows = pl.read_parquet(path)
    table = rows.group_by("entity_id", "group_id").agg(
        pl.len().alias("attributed_members"),
        pl.col("member_month_units").sum(),
        pl.col("raw_cost_cents").sum(),
        pl.col("truncated_cost_cents").sum(),
    )
    return normalise(table)


def scratch_folder(data: Path) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="e2e-", dir=data))

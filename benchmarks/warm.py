"""The warm end-to-end runner, run as its own process by :mod:`benchmarks.e2e`.

``python -m benchmarks.warm JOB.yaml OUT_ROOT REPEAT`` connects to Ray once
(``settle.cluster.runtime.ensure_ray``: the embedded local Ray, or ``RAY_ADDRESS``), as the
gateway's long-lived runner does, then runs the job ``REPEAT`` times with
``settle.cluster.job.run_job`` (outputs under ``OUT_ROOT/run-<i>``), timing each run and the
memory of this process and its descendants (Ray's processes included) during it.  It prints
one JSON object: ``ray_start_seconds``, ``runs`` (seconds, memory, output folder each).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import TreeMemory


def warm_runs(job_path: Path, out_root: Path, repeat: int) -> dict[str, Any]:
    from settle.cluster.job import run_job
    from settle.cluster.runtime import ensure_ray
    from settle.engine.job import load_job

    started = time.perf_counter()
    runtime = ensure_ray()
    ray_seconds = time.perf_counter() - started
    runs = []
    for i in range(repeat):
        job = load_job(job_path)
        with TreeMemory() as memory:
            started = time.perf_counter()
            outcome = run_job(job, out_root / f"run-{i}")
            seconds = time.perf_counter() - started
        runs.append({"seconds": round(seconds, 3), "output": str(outcome.output), **memory.as_dict()})
    return {"ray_start_seconds": round(ray_seconds, 3), "ray_cpus": runtime.cpus, "runs": runs}


def main() -> None:
    job, out_root, repeat = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(warm_runs(job, out_root, repeat)))


if __name__ == "__main__":
    main()

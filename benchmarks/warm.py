"""The warm end-to-end runner, run as its own process by :mod:`benchmarks.e2e` and
:mod:`benchmarks.scaling`.

``python -m benchmarks.warm JOB.yaml OUT_ROOT REPEAT [--cpus K] [--nodes N] [--shards S ...]
[--partition-lines L]`` connects to Ray once, as the gateway's long-lived runner does, then
runs the job ``REPEAT`` times per shard count with ``settle.cluster.job.run_job`` (outputs
under ``OUT_ROOT/run-<i>``), timing each run and the memory of this process and its
descendants (Ray's processes included) during it.

* Ray: by default ``settle.cluster.runtime.ensure_ray`` (the embedded local Ray with every
  core, or ``RAY_ADDRESS``); ``--cpus K`` limits the embedded Ray to ``K`` CPUs (``K`` worker
  processes run tasks at once); ``--nodes N`` starts instead a multi-node Ray cluster on this
  machine (``ray.cluster_utils.Cluster``: a head with no CPUs, so no task runs there, and
  ``N`` worker nodes of ``K`` CPUs each (default 1), each its own raylet and object store).
* ``--shards S``: ``run_job(shards=S)`` (repeat the option for several counts, run in turn in
  this one Ray; ``0`` is the job's default shard count); default: the job's default count.
  ``--partition-lines L`` sets ``run_job``'s ``partition_lines`` (smaller partitions, for tiny
  test books).

Every run's outputs are hashed (:func:`output_digest`, every file but ``manifest.json``, which
is the only file allowed to differ between shard counts) and deleted, except the last run's.
It prints one JSON object: ``ray_start_seconds``, ``ray_cpus``, ``ray_nodes`` and ``runs``
(requested and planned shards, seconds, each stage's seconds, memory, digest, output folder
each).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.machine import TreeMemory
from settle.cluster.progress import Progress

__all__ = ["StageClock", "output_digest", "start_ray", "warm_runs"]


class StageClock:
    """A progress callback that notes when each stage of a job begins; :meth:`seconds` gives
    each stage's wall seconds (to the next stage's start).  With a ``memory`` sampler, its
    label follows the stage (the driver's peak resident set per stage)."""

    def __init__(self, memory: TreeMemory | None = None) -> None:
        self.entered: dict[str, float] = {}
        self.memory = memory

    def __call__(self, progress: Progress) -> None:
        self.entered.setdefault(progress.stage, time.perf_counter())
        if self.memory is not None:
            self.memory.label = progress.stage

    def seconds(self) -> dict[str, float]:
        marks = sorted(self.entered.items(), key=lambda kv: kv[1])
        return {name: round(b - a, 3) for (name, a), (_, b) in itertools.pairwise(marks)}


def start_ray(cpus: int | None = None, nodes: int = 0) -> Callable[[], None]:
    """Connect to Ray as described in the module docstring; a function that disconnects."""
    import ray

    from settle.cluster.runtime import ensure_ray

    if nodes <= 0:
        ensure_ray(num_cpus=cpus)
        return lambda: None
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus or 1, object_store_memory=300 << 20)
    ray.init(address=cluster.address, logging_level=logging.ERROR, log_to_driver=False)

    def stop() -> None:
        ray.shutdown()
        cluster.shutdown()

    return stop


def output_digest(folder: Path) -> str:
    """SHA-256 over every output file's relative path and bytes, ``manifest.json`` excepted."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def warm_runs(
    job_path: Path,
    out_root: Path,
    repeat: int,
    *,
    cpus: int | None = None,
    nodes: int = 0,
    shard_counts: list[int | None] | None = None,
    partition_lines: int | None = None,
) -> dict[str, Any]:
    import ray

    from settle.cluster.job import run_job
    from settle.engine.job import load_job

    started = time.perf_counter()
    stop = start_ray(cpus, nodes)
    ray_seconds = time.perf_counter() - started
    try:
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        alive = sum(1 for n in ray.nodes() if n.get("Alive"))  # type: ignore[no-untyped-call]
        options = {} if partition_lines is None else {"partition_lines": partition_lines}
        runs: list[dict[str, Any]] = []
        for shards in shard_counts or [None]:
            for _ in range(repeat):
                if runs:  # keep only the last run's outputs
                    shutil.rmtree(runs[-1]["output"], ignore_errors=True)
                job = load_job(job_path)
                out = out_root / f"run-{len(runs)}"
                memory = TreeMemory()
                stages = StageClock(memory)
                with memory:
                    started = time.perf_counter()
                    outcome = run_job(job, out, progress=stages, shards=shards, **options)
                    seconds = time.perf_counter() - started
                runs.append(
                    {
                        "shards_requested": shards,
                        "shards": outcome.manifest.get("plan", {}).get("shards"),
                        "seconds": round(seconds, 3),
                        "digest": output_digest(Path(outcome.output)),
                        "output": str(outcome.output),
                        "stage_seconds": stages.seconds(),
                        "driver_peak_rss_bytes_by_stage": memory.root_rss_by_label,
                        **memory.as_dict(),
                    }
                )
    finally:
        stop()
    return {
        "ray_start_seconds": round(ray_seconds, 3),
        "ray_cpus": resources.get("CPU", 0.0),
        "ray_nodes": alive,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warm")
    parser.add_argument("job", type=Path)
    parser.add_argument("out_root", type=Path)
    parser.add_argument("repeat", type=int)
    parser.add_argument("--cpus", type=int)
    parser.add_argument("--nodes", type=int, default=0)
    parser.add_argument("--shards", type=int, action="append")
    parser.add_argument("--partition-lines", type=int)
    args = parser.parse_args(argv)
    report = warm_runs(
        args.job,
        args.out_root,
        args.repeat,
        cpus=args.cpus,
        nodes=args.nodes,
        shard_counts=[s or None for s in args.shards] if args.shards else None,
        partition_lines=args.partition_lines,
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()

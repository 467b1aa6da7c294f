"""Run a job on a 4-node Ray cluster on this machine and kill a worker node hard while the
validate stage runs (``python -m tests.cluster.node_kill BOOK OUT``; used by
``test_node_kill.py`` in a process of its own, since it needs its own Ray)."""

from __future__ import annotations

import logging
import sys

import ray
from ray.cluster_utils import Cluster

from settle.cluster.job import run_job
from settle.cluster.progress import Progress
from settle.engine.job import load_job


def main(book: str, out: str, lines: int) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1) for _ in range(3)]
    ray.init(address=cluster.address, logging_level=logging.ERROR, log_to_driver=False)
    killed: list[str] = []

    def on_progress(p: Progress) -> None:
        if p.stage == "validate" and p.shards_done == 1 and not killed:
            cluster.remove_node(workers[0], allow_graceful=False)
            killed.append("yes")

    try:
        run_job(load_job(book), out, progress=on_progress, shards=6, partition_lines=lines)
    finally:
        ray.shutdown()
        cluster.shutdown()
    print("killed" if killed else "not killed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

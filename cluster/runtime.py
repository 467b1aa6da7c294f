"""Connecting to Ray: an embedded local Ray by default, a cluster when ``RAY_ADDRESS`` is set.

The embedded default starts a local Ray sized to the machine (all cores unless told
otherwise), without the dashboard, with Ray's files under a temporary folder of its own.  With
``RAY_ADDRESS`` set (``auto``, ``ray://host:10001`` or ``host:6379``), the job runs on that
cluster.  An already-initialised Ray (the gateway's long-lived runner, or a test's fixture) is
reused as it is.

An embedded Ray whose temporary folder was made here (``RAY_TMPDIR`` unset) is shut down and
its folder removed when the process exits, so a process per job (the gateway's job processes,
``settle run``) leaves no ``settle-ray-*`` folder behind.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

import ray

__all__ = ["RayRuntime", "ensure_ray"]


@dataclass(frozen=True)
class RayRuntime:
    """What :func:`ensure_ray` connected to."""

    address: str | None
    embedded: bool
    started_here: bool
    cpus: float


def ensure_ray(*, num_cpus: int | None = None, address: str | None = None) -> RayRuntime:
    """Connect to Ray once per process and describe the connection."""
    if ray.is_initialized():
        return RayRuntime(address=address, embedded=False, started_here=False, cpus=_cpus())
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target:
        ray.init(address=target, logging_level=logging.ERROR, log_to_driver=False)
        return RayRuntime(address=target, embedded=False, started_here=True, cpus=_cpus())
    given = os.environ.get("RAY_TMPDIR")
    temp_dir = given or tempfile.mkdtemp(prefix="settle-ray-")
    if not given:
        atexit.register(_shutdown_and_remove, temp_dir)
    ray.init(
        num_cpus=num_cpus or os.cpu_count() or 1,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        _temp_dir=temp_dir,
    )
    return RayRuntime(address=None, embedded=True, started_here=True, cpus=_cpus())


def _shutdown_and_remove(temp_dir: str) -> None:
    """At exit: stop the embedded Ray (Ray's own exit hook would, later) and remove its files."""
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def _cpus() -> float:
    return float(ray.cluster_resources().get("CPU", 0.0))  # type: ignore[no-untyped-call]

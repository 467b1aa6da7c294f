"""Driver threads that should use only the cores the Ray workers leave idle.

The driver of a job runs two threads beside the one that waits on the shards: the inputs'
checksums (:mod:`settle.cluster.checksums`) and the member-level outputs
(:mod:`settle.cluster.member_outputs`).  Their results are needed only when the job publishes,
but on a machine whose every core runs a Ray worker they took CPU from the workers whenever
they ran.  :func:`lower_this_thread` gives the calling thread the lowest scheduling priority
(``nice`` 19; Linux schedules threads one by one), so it runs in the cores' idle moments (the
last shards of a stage, the driver-only steps) and at full speed once nothing else is left to
run.  Elsewhere, or where the system refuses, it does nothing.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["IDLE_NICE", "lower_this_thread"]

IDLE_NICE = 19


def lower_this_thread() -> bool:
    """Lower the calling thread (Linux only) to :data:`IDLE_NICE`; whether it was lowered."""
    if not sys.platform.startswith("linux"):
        return False  # elsewhere the id of a thread is not a target of setpriority
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IDLE_NICE)
    except OSError:
        return False
    return True

"""The stages as Ray tasks, and waiting for them with progress.

Each task retries up to :data:`MAX_RETRIES` times when its worker or node dies
(``max_retries``); an exception raised by the task itself (a user mistake in the data, a bug)
is not retried and fails the job.  Tasks write their files under deterministic names, so a
retry rewrites the same files and the result is unchanged.  A failed task's exception reaches
the caller unwrapped (a :class:`~settle.engine.errors.UserError` stays one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray.exceptions import RayTaskError

from settle.cluster import settling, stages
from settle.engine.errors import SettleError
from settle.engine.pipeline.reduce import SettlementBatch
from settle.engine.pipeline.rendered import RenderedSettlements

__all__ = [
    "MAX_RETRIES",
    "gather",
    "map_task",
    "partition_task",
    "settle_batches",
    "validate_map_task",
    "validate_task",
]

MAX_RETRIES = 3
_CANCEL_WAIT_SECONDS = 30.0
_T = TypeVar("_T")

# A task holds one CPU (Ray's default), so its Polars uses one thread: with Polars' default of
# a thread per core, two tasks on a 2-core machine ran four busy threads (1M-member job: 66.2 s
# -> 61.4 s with one thread each).  Ray already limits Arrow's pool, through OMP_NUM_THREADS.
#
# The allocators keep freed memory instead of handing it back to the kernel at once: a task
# allocates and frees gigabytes in big buffers, and every page handed back is faulted in and
# zeroed again on the next allocation; on this project's virtual machines (whose balloon
# returns freed guest pages to the host) that costs 1-2.5 CPU-s a GB (docs/performance.md).
# Arrow's mimalloc and Polars' jemalloc keep freed pages for 60 s (their decay is gradual: with
# 10 s, a steady share was purged between one task and the next); glibc (numpy, Python
# objects) serves allocations up to 32 MB from its heap rather than from fresh mappings and
# trims the heap only above 256 MB free.  Warm 1M-member job, second runs, alternated: kernel
# time of the partition + validate stages 5.3-5.4 -> 2.5-3.1 CPU-s, wall 17.42 / 19.02 ->
# 16.76 / 17.54 s (before that, 10 s instead of none, 200,000-member book: a shard's
# validate + map 10.5 -> 8.0 s).  The price: mimalloc purges only when the thread that
# allocated calls it again, so an idle worker keeps what it held at its last task's end
# (1M-member job: 730 MB a worker three minutes after the job, against 340 MB with 10 s).
ALLOCATOR_ENV = {
    "MIMALLOC_PURGE_DELAY": "60000",
    "_RJEM_MALLOC_CONF": "background_thread:true,dirty_decay_ms:60000,muzzy_decay_ms:60000",
    "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432",
}
TASK_ENV = {"env_vars": {"POLARS_MAX_THREADS": "1", **ALLOCATOR_ENV}}
_OPTIONS: dict[str, Any] = {"max_retries": MAX_RETRIES, "runtime_env": TASK_ENV}

partition_task = ray.remote(**_OPTIONS)(stages.partition_stage)
validate_task = ray.remote(**_OPTIONS)(stages.validate_stage)
map_task = ray.remote(**_OPTIONS)(stages.map_stage)
validate_map_task = ray.remote(**_OPTIONS)(stages.validate_map_stage)
settle_task = ray.remote(**_OPTIONS)(settling.settle_stage)


def gather(refs: Sequence[Any], on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Results of ``refs`` in order, calling ``on_done(index, result)`` as each finishes."""
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                value = ray.get(ref)
                results[index[ref]] = value
                if on_done is not None:
                    on_done(index[ref], value)
    except RayTaskError as exc:
        for ref in pending:
            ray.cancel(ref)
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SettleError):
            raise cause from None
        raise
    return results


def settle_batches(
    work: str, batches: Iterable[SettlementBatch], ahead: int
) -> Iterator[RenderedSettlements]:
    """Each batch settled and rendered by a task (:func:`~settle.cluster.settling.settle_stage`),
    the results read back in batch order; at most ``ahead`` tasks submitted and not yet read,
    so the work folder and the driver hold a bounded number of results.  However it ends (a
    failed task, a failure of the caller while writing, the caller stopping early), the tasks
    not yet read are cancelled and waited for, so none writes into the work folder after the
    job has removed it."""
    (Path(work) / "settled").mkdir(parents=True, exist_ok=True)
    pending: list[Any] = []
    try:
        for index, batch in enumerate(batches):
            pending.append(settle_task.remote(work, index, batch))
            if len(pending) >= ahead:
                yield settling.read_settled(work, ray.get(pending.pop(0)))
        while pending:
            yield settling.read_settled(work, ray.get(pending.pop(0)))
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SettleError):
            raise cause from None
        raise
    finally:
        for ref in pending:
            ray.cancel(ref)
        if pending:
            ray.wait(pending, num_returns=len(pending), timeout=_CANCEL_WAIT_SECONDS)

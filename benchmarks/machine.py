"""The machine and the moment of a measurement: git commit, cores, memory, load average, and
peak memory of a process tree (read from ``/proc``; psutil is not a dependency).

:class:`TreeMemory` samples, every ``interval`` seconds in a thread, every process whose
ancestry leads to ``root`` (default: this process): ``peak_tree_rss_bytes`` is the largest sum
of their resident sets seen (shared pages, e.g. Ray's object store, count once per process
that maps them) and ``peak_process_hwm_bytes`` the largest ``VmHWM`` (the kernel's own
high-water mark) of any one of them; ``root_process_hwm_bytes`` is ``root``'s own (the job's
driver, in the end-to-end runs: it tells the driver's memory from the Ray workers'), and
``root_rss_by_label`` the largest resident set of ``root`` seen while ``label`` (set by the
caller, e.g. the job's stage) had each value.  ``VmHWM`` is a process's peak over its whole
life: in warm runs repeated in one process (and one set of Ray workers) a later run reports
the earlier runs' peak if it was higher.  A process
that lives less than one interval may be missed, so the figures are lower bounds.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "TreeMemory",
    "fresh_memory_seconds_per_gb",
    "git_commit",
    "load_average",
    "machine_facts",
    "process_tree",
]

_PROC = Path("/proc")


def git_commit(repo: Path) -> dict[str, Any]:
    """The checkout's commit and whether the working tree has changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def fresh_memory_seconds_per_gb(size: int = 256 << 20) -> float:
    """CPU seconds this process spends per GB (10^9 bytes) touching memory it has never
    used: a new anonymous mapping of ``size`` bytes, one byte written per 4 KiB page, so the
    time is the page faults and the zeroing of the pages.

    On a bare machine this is about 0.1-0.3 s/GB.  On a virtual machine that hands freed
    memory back to its host (the benchmark machine: a Firecracker guest with a balloon device
    reporting free pages) a page the host has taken back costs a fault in the host as well,
    and the probe reads 1-2.5 s/GB after a few seconds idle (0.2 s/GB when the pages were
    freed a moment before).  Every job writes gigabytes of new pages (pieces, buffers, the
    outputs), so this figure moves Settle's and the references' times from hour to hour; it is
    recorded with each run (``machine.fresh_memory_seconds_per_gb_before`` / ``_after``) so
    that runs can be told apart by it (docs/performance.md, fifteenth session)."""
    import mmap
    import time

    import numpy as np

    start = time.process_time()
    with mmap.mmap(-1, size) as block:
        pages = np.frombuffer(block, dtype=np.uint8)
        pages[::4096] = 1
        del pages
    return round((time.process_time() - start) * 1e9 / size, 3)


def machine_facts() -> dict[str, Any]:
    """Cores, memory, CPU model, Python and library versions."""
    import duckdb
    import polars as pl
    import pyarrow as pa

    memory = _meminfo().get("MemTotal", 0)
    model = ""
    for line in (_PROC / "cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": memory,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
    }


def _meminfo() -> dict[str, int]:
    out = {}
    for line in (_PROC / "meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        out[name] = int(rest.split()[0]) * 1024
    return out


def _status(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    try:
        text = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(rest.split()[0]) * 1024
    return fields


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant (from each process's parent id in ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


class TreeMemory:
    """Context manager sampling the memory of a process tree (see the module docstring)."""

    def __init__(self, root: int | None = None, interval: float = 0.1) -> None:
        self.root = root if root is not None else os.getpid()
        self.interval = interval
        self.peak_tree_rss_bytes = 0
        self.peak_process_hwm_bytes = 0
        self.root_hwm_bytes = 0
        self.label = ""
        self.root_rss_by_label: dict[str, int] = {}
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        tree = process_tree(self.root)
        total = 0
        for pid in tree:
            status = _status(pid)
            total += status.get("VmRSS", 0)
            self.peak_process_hwm_bytes = max(self.peak_process_hwm_bytes, status.get("VmHWM", 0))
            if pid == self.root:
                self.root_hwm_bytes = max(self.root_hwm_bytes, status.get("VmHWM", 0))
                label, rss = self.label, status.get("VmRSS", 0)  # the label read once
                if label:
                    self.root_rss_by_label[label] = max(self.root_rss_by_label.get(label, 0), rss)
        self.peak_tree_rss_bytes = max(self.peak_tree_rss_bytes, total)
        self.max_processes = max(self.max_processes, len(tree))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def as_dict(self) -> dict[str, int]:
        return {
            "peak_tree_rss_bytes": self.peak_tree_rss_bytes,
            "peak_process_hwm_bytes": self.peak_process_hwm_bytes,
            "root_process_hwm_bytes": self.root_hwm_bytes,
            "max_processes": self.max_processes,
        }

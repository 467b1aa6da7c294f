"""Spill files written around the page cache (``O_DIRECT``), through a small aligned buffer.

On the benchmark machine (a 2-core, 24 GB virtual machine) writing a file through the page cache
costs the writer's CPU for every page it fills with fresh memory: 10 GB written by `dd`
took 25 s, all of it system time, against 5.8 s and 0.9 s of system time with ``O_DIRECT``;
touching 8 GB of fresh anonymous memory took 1.9-9.1 s.  A 1M-member job's spill (1.6 GB) fits
in memory the machine has already used, and costs little; a 10M-member job's (about 16 GB) does
not, and its partition stage spent a third of its CPU in the kernel (54-67 CPU-s against 1.4
at 1M).  So the spill's pieces are written with ``O_DIRECT`` where the work folder's file
system takes it: :class:`DirectFile` gathers pyarrow's writes in one reused, page-aligned
buffer per process and writes it out a whole buffer at a time, the last block padded and the
file truncated to its length.  Where ``O_DIRECT`` is refused (tmpfs, some network volumes)
:func:`open_spill` opens an ordinary buffered file instead; the bytes are the same either way.

Readers are unchanged (they memory-map the files: pages come from the disk, read ahead).

Which way a job's spill goes is chosen once per job on the driver (:func:`spill_direct`, set
by ``SETTLE_SPILL_DIRECT``): ``auto`` (the default) writes through the page cache when the
job's estimated spill is at most a quarter of the memory available when it starts
(``MemAvailable``), so that it stays in memory beside the job's own working set and the
validate stage reads it from there; a bigger spill goes around the cache.  Warm 1M-member
jobs (about 1.4 GB of pieces, 22 GB available), alternated in the same hour: 14.9-17.2 s
through the cache against 16.5-19.9 s around it, the validate stage no longer waiting on the
disk (2026-12-08, docs/performance.md).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from settle.cluster.choices import setting_choice

__all__ = ["BLOCK", "CHUNK", "DIRECT_SETTINGS", "DirectFile", "open_spill", "spill_direct"]

BLOCK = 4096  # alignment of the buffer's address, of every write's length and file offset
CHUNK = 8 << 20  # bytes gathered before each write
DIRECT_SETTINGS = ("auto", "always", "never")  # of SETTLE_SPILL_DIRECT
CACHED_SHARE = 4  # auto: through the cache when the spill is at most 1/4 of available memory
_buffers: dict[int, np.ndarray] = {}  # one aligned buffer per process (reused: warm memory)


def _aligned_buffer() -> np.ndarray:
    pid = os.getpid()
    if pid not in _buffers:
        _buffers.clear()  # a forked child does not reuse its parent's
        raw = np.empty(CHUNK + BLOCK, dtype=np.uint8)
        start = (-raw.ctypes.data) % BLOCK
        _buffers[pid] = raw[start : start + CHUNK]
    return _buffers[pid]


class DirectFile:
    """A write-only file opened with ``O_DIRECT``: what is written is gathered in the process's
    aligned buffer and written out :data:`CHUNK` bytes at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = _aligned_buffer()
        self._held = 0  # bytes in the buffer
        self._written = 0  # bytes written to the file
        self.closed = False

    def write(self, data: Any) -> int:
        view = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        done = 0
        while done < len(view):
            take = min(len(self._buffer) - self._held, len(view) - done)
            self._buffer[self._held : self._held + take] = view[done : done + take]
            self._held += take
            done += take
            if self._held == len(self._buffer):
                self._drain(self._held)
        return done

    def _drain(self, length: int) -> None:
        view = memoryview(self._buffer)[:length]  # type: ignore[arg-type]
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._written += length
        self._held = 0

    def tell(self) -> int:
        return self._written + self._held

    def flush(self) -> None:
        """Nothing to do: the buffer is written out whole, or padded when the file closes."""

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if self.closed:
            return
        try:
            length = self._written + self._held
            if self._held:
                padded = -(-self._held // BLOCK) * BLOCK
                self._buffer[self._held : padded] = 0
                self._drain(padded)
            os.ftruncate(self._fd, length)
        finally:
            os.close(self._fd)
            self.closed = True


def open_spill(path: Path, direct: bool = True) -> DirectFile | IO[bytes]:
    """``path`` opened for writing, with ``O_DIRECT`` where the file system takes it (and
    ``direct`` asks for it)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    o_direct = getattr(os, "O_DIRECT", 0) if direct else 0
    if o_direct:
        try:
            return DirectFile(os.open(path, flags | o_direct, 0o644))
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
    return open(path, "wb")  # closed by the caller


def spill_direct(spill_bytes: int, setting: str | None = None, available: int | None = None) -> bool:
    """Whether a job whose spill is estimated at ``spill_bytes`` writes it around the page cache.

    ``setting`` (default: ``SETTLE_SPILL_DIRECT``, else ``auto``) is one of
    :data:`DIRECT_SETTINGS`: ``always`` and ``never`` say so; ``auto`` goes around the cache
    unless the spill is at most 1/:data:`CACHED_SHARE` of ``available`` bytes (default: the
    machine's ``MemAvailable``; where that cannot be read, around the cache).  On a multi-node
    Ray cluster the driver's machine stands for the workers'."""
    chosen = setting_choice("SETTLE_SPILL_DIRECT", DIRECT_SETTINGS, setting)
    if chosen != "auto":
        return chosen == "always"
    memory = available if available is not None else _available_memory()
    return memory is None or spill_bytes * CACHED_SHARE > memory


def _available_memory() -> int | None:
    """The kernel's estimate of memory available without swapping (``MemAvailable``), in bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None

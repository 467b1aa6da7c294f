"""The job's intermediate files: Arrow IPC files, uncompressed or with LZ4-compressed buffers.

Everything a stage hands to a later stage through the work folder (partition pieces, a shard's
validated rows, per-partition attribution, member costs and rejects) is written here, never as
Parquet: these files are written once and read once by a machine of the same job, so Parquet's
encoding and zstd compression buy nothing and cost most of a stage (measured on a 200,000-member
book: writing the validated rows as zstd Parquet took 36 % of a one-shard job).  IPC writes and
reads at memory speed; the outputs published stay Parquet (:mod:`settle.cluster.outputs`).

Compression (:func:`spill_compression`, chosen once per job by the driver, so every task of the
job writes alike; readers need not know, an IPC file says how it is compressed): LZ4 keeps the
spill folder at about 70 bytes a claim line instead of about 170, but compressing took a
fifth of the partition stage and decompressing a tenth of validation.  Uncompressed files are
read by memory-mapping them (no copy, no decompression): on the 200,000-member book, one
thread, the partition stage took 2.80-2.89 s against 3.55-3.82 s with LZ4 and validate + map
4.78-4.93 s against 5.22-5.32 s (runs alternated).  So a job spills uncompressed when its
estimated spill fits comfortably on this machine (:func:`spill_compression`), and with LZ4
otherwise, where the disk's write speed and the page cache would decide instead.

Every write goes to a temporary name first and is renamed into place, so a retried task
rewrites the same file and a reader never sees half of one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.ipc as ipc

from settle.engine.errors import ConfigurationError

__all__ = [
    "COMPRESSIONS",
    "RAW_BYTES_PER_LINE",
    "SUFFIX",
    "SpillWriter",
    "read_spill",
    "read_spill_schema",
    "spill_compression",
    "write_spill",
]

SUFFIX = ".arrow"
COMPRESSIONS = ("auto", "none", "lz4", "zstd")  # the values of SETTLE_SPILL_COMPRESSION
# Uncompressed spill per claim line, the member tables' other rows included (measured: the
# 200,000-member synthetic book's 5.65 M claim lines spill 0.99 GB of pieces).
RAW_BYTES_PER_LINE = 180


def spill_compression(claim_lines: int, work: Path, setting: str | None = None) -> str | None:
    """The compression of a job's spill files (``None``: uncompressed).

    ``setting`` (default: ``SETTLE_SPILL_COMPRESSION``, else ``auto``) is one of
    :data:`COMPRESSIONS`.  ``auto`` spills uncompressed when the estimated raw spill
    (``claim_lines`` × :data:`RAW_BYTES_PER_LINE`) is at most half the memory available on this
    machine (so the pieces stay in the page cache between the stages) and at most a quarter of
    the work folder's free space; else LZ4.  A 1-million-member book (28 M claim lines, about
    5 GB raw) spills uncompressed on a 24 GB machine; a 5-million-member book uses LZ4.
    """
    chosen = (setting or os.environ.get("SETTLE_SPILL_COMPRESSION") or "auto").strip().lower()
    if chosen not in COMPRESSIONS:
        raise ConfigurationError(
            f"SETTLE_SPILL_COMPRESSION is {chosen!r}; it must be one of {', '.join(COMPRESSIONS)}.",
            variable="SETTLE_SPILL_COMPRESSION",
        )
    if chosen != "auto":
        return None if chosen == "none" else chosen
    raw = claim_lines * RAW_BYTES_PER_LINE
    fits = raw <= _available_memory() // 2 and raw <= shutil.disk_usage(work).free // 4
    return None if fits else "lz4"


def _available_memory() -> int:
    """Bytes of memory available for new work on this machine (``MemAvailable``; 0 where
    the kernel does not say, which makes ``auto`` compress)."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _options(compression: str | None) -> ipc.IpcWriteOptions:
    # One IPC file holds one dictionary per dictionary column (``_source_file``): the chunks
    # of a table written at once are unified; a SpillWriter's tables must share theirs.
    return ipc.IpcWriteOptions(compression=compression, unify_dictionaries=True)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")


def write_spill(table: pa.Table, path: Path, compression: str | None) -> None:
    """Write ``table`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        with ipc.new_file(tmp, table.schema, options=_options(compression)) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_spill(path: Path, columns: list[str] | None = None) -> pa.Table:
    """The table in ``path`` (only ``columns``, when given).  The file is memory-mapped: an
    uncompressed file's columns are views of the mapping (no copy), which stays valid after
    the file is removed."""
    with pa.memory_map(str(path)) as source:
        table = ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table


def read_spill_schema(path: Path) -> pa.Schema:
    with pa.memory_map(str(path)) as source:
        return ipc.open_file(source).schema


class SpillWriter:
    """A spill file written in several tables of one schema; published by :meth:`close`.

    Tables given to :meth:`write` are held until :meth:`flush` (or :meth:`close`), which
    writes them as **one** record batch: every record batch of an IPC file costs a fixed
    amount to write and to read (its metadata, and with LZ4 a frame per buffer), and the
    partition stage hands a writer one small slice per split batch (1,000 rows each at 256
    partitions).  Measured on 2.1 M claim lines, LZ4, one thread: written and read back as
    batches of 1,000 rows 1.0 s + 1.6 s, of 16,000 rows 0.41 s + 0.20 s (uncompressed:
    0.36 s + 0.76 s against 0.16 s + 0.06 s).

    ``prepare`` (optional) turns the joined held rows into what is written, of ``schema``
    (the partition stage attaches its task's dictionaries to the code columns' indices)."""

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        compression: str | None,
        prepare: Callable[[pa.Table], pa.Table] | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self._tmp = _temporary(path)
        self._writer = ipc.new_file(self._tmp, schema, options=_options(compression))
        self._pending: list[pa.Table] = []
        self._prepare = prepare

    @property
    def pending_rows(self) -> int:
        return sum(t.num_rows for t in self._pending)

    def write(self, table: pa.Table) -> None:
        """Add ``table``'s rows (written at the next :meth:`flush`)."""
        if table.num_rows:
            self._pending.append(table)

    def flush(self) -> None:
        """Write the rows held so far as one record batch."""
        if not self._pending:
            return
        held, self._pending = self._pending, []
        joined = (held[0] if len(held) == 1 else pa.concat_tables(held)).combine_chunks()
        self._writer.write_table(self._prepare(joined) if self._prepare is not None else joined)

    def close(self) -> None:
        """Write what is held, finish the file and rename it into place."""
        self.flush()
        self._writer.close()
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Drop an unfinished file (on failure)."""
        self._pending = []
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> SpillWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

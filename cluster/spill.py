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
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from settle.engine.errors import ConfigurationError, SettleSystemError

__all__ = [
    "COMPRESSIONS",
    "PARTITIONS_KEY",
    "RAW_BYTES_PER_LINE",
    "SUFFIX",
    "partitions_in",
    "read_partition",
    "read_spill",
    "read_spill_schema",
    "spill_compression",
    "write_partitioned",
    "write_spill",
]

SUFFIX = ".arrow"
COMPRESSIONS = ("auto", "none", "lz4", "zstd")  # the values of SETTLE_SPILL_COMPRESSION
# Uncompressed spill per claim line, the member tables' other rows and the kernels' part files
# included (measured 2026-12-07: the 1M benchmark book's 28.2 M claim lines spill 2.64 GB of
# pieces, 94 bytes a line, since 64-bit integers travel as 32-bit ones where they fit).
RAW_BYTES_PER_LINE = 100
PARTITIONS_KEY = b"settle.partitions"  # schema metadata of a partitioned spill file


def spill_compression(claim_lines: int, work: Path, setting: str | None = None) -> str | None:
    """The compression of a job's spill files (``None``: uncompressed).

    ``setting`` (default: ``SETTLE_SPILL_COMPRESSION``, else ``auto``) is one of
    :data:`COMPRESSIONS`.  ``auto`` spills uncompressed when the estimated raw spill
    (``claim_lines`` × :data:`RAW_BYTES_PER_LINE`) is at most three quarters of the memory
    available on this machine (so the pieces stay in the page cache between the stages; the
    page cache gives way to them, the book's own pages included) and at most half the work
    folder's free space; else LZ4.  On a 24 GB machine a 1-million-member book (28 M claim
    lines, about 2.8 GB raw) and a 5-million-member one (141 M lines, about 14 GB) spill
    uncompressed, a 10-million-member one LZ4.  At 5M uncompressed was the faster, with no
    wait on the disk (warm runs, 2026-12-07: 88.9 and 89.6 s against 95.5 and 97.4 s with LZ4;
    2026-12-05, with a 25 GB spill: 171.7 against 182.7 s), so the rule is no longer half.
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
    fits = raw <= _available_memory() * 3 // 4 and raw <= shutil.disk_usage(work).free // 2
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
    # of a table written at once are unified; the parts of a partitioned file share theirs.
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


def write_partitioned(
    path: Path,
    schema: pa.Schema,
    parts: Iterable[tuple[int, pa.Table]],
    partitions: Sequence[int],
    compression: str | None,
) -> None:
    """Write one record batch per partition to ``path`` atomically: ``parts`` yields
    ``(partition, rows)`` for each of ``partitions`` in that order, each ``rows`` a table of
    ``schema`` in one chunk (its dictionaries the same arrays for every part: an IPC file
    holds one dictionary per column).  The file's schema lists the partitions in batch order
    (:data:`PARTITIONS_KEY`) so that :func:`read_partition` finds one without scanning.

    One file per partition-stage task and flush, rather than one per task and partition: at
    10M members a task wrote 141 files each flush (256 before the partition count stopped being
    a power of two), and each file's open, schema, dictionaries, footer and rename cost about
    1.3 ms; and the next stage opened 17,000 small files."""
    listed = list(partitions)
    metadata = dict(schema.metadata or {})
    metadata[PARTITIONS_KEY] = ",".join(map(str, listed)).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        with ipc.new_file(tmp, schema.with_metadata(metadata), options=_options(compression)) as writer:
            for expected, (p, rows) in zip(listed, parts, strict=True):
                if p != expected:
                    raise SettleSystemError(
                        f"spill {path.name}: partition {p} written where {expected} was listed"
                    )
                writer.write_table(rows)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def partitions_in(path: Path) -> list[int]:
    """The partitions a :func:`write_partitioned` file holds, in batch order."""
    with pa.memory_map(str(path)) as source:
        return _listed(ipc.open_file(source).schema)


def read_partition(path: Path, partition: int) -> pa.Table | None:
    """Partition ``partition``'s rows in a :func:`write_partitioned` file (``None`` when the
    file has none).  Memory-mapped like :func:`read_spill`."""
    with pa.memory_map(str(path)) as source:
        reader = ipc.open_file(source)
        listed = _listed(reader.schema)
        if partition not in listed:
            return None
        batch = reader.get_batch(listed.index(partition))
    metadata = {k: v for k, v in (batch.schema.metadata or {}).items() if k != PARTITIONS_KEY}
    return pa.Table.from_batches([batch]).replace_schema_metadata(metadata or None)


def _listed(schema: pa.Schema) -> list[int]:
    raw = (schema.metadata or {}).get(PARTITIONS_KEY)
    if raw is None:
        raise SettleSystemError("a spill file without its partition list was read as a partitioned one")
    return [int(p) for p in raw.decode().split(",")] if raw else []

"""The job's intermediate files: Arrow IPC files with LZ4-compressed buffers.

Everything a stage hands to a later stage through the work folder (partition pieces, a shard's
validated rows, per-partition attribution, member costs and rejects) is written here, never as
Parquet: these files are written once and read once by a machine of the same job, so Parquet's
encoding and zstd compression buy nothing and cost most of a stage (measured on a 200,000-member
book: writing the validated rows as zstd Parquet took 36 % of a one-shard job).  IPC writes and
reads at memory speed; LZ4 keeps the spill folder about a third of the raw size.  The published
outputs stay Parquet (:mod:`settle.cluster.outputs`).

Every write goes to a temporary name first and is renamed into place, so a retried task
rewrites the same file and a reader never sees half of one.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.ipc as ipc

__all__ = ["SUFFIX", "SpillWriter", "read_spill", "read_spill_schema", "write_spill"]

SUFFIX = ".arrow"
# One IPC file holds one dictionary per dictionary column (``_source_file``): the chunks of a
# table written at once are unified; a SpillWriter's tables must share theirs.
_OPTIONS = ipc.IpcWriteOptions(compression="lz4", unify_dictionaries=True)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")


def write_spill(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        with ipc.new_file(tmp, table.schema, options=_OPTIONS) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_spill(path: Path, columns: list[str] | None = None) -> pa.Table:
    """The table in ``path`` (only ``columns``, when given)."""
    with pa.OSFile(str(path)) as source:
        table = ipc.open_file(source).read_all()
    return table.select(columns) if columns is not None else table


def read_spill_schema(path: Path) -> pa.Schema:
    with pa.OSFile(str(path)) as source:
        return ipc.open_file(source).schema


class SpillWriter:
    """A spill file written in several tables of one schema; published by :meth:`close`."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self._tmp = _temporary(path)
        self._writer = ipc.new_file(self._tmp, schema, options=_OPTIONS)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        """Finish the file and rename it into place."""
        self._writer.close()
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Drop an unfinished file (on failure)."""
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

"""A book's member-keyed tables split into member shards on disk, for :mod:`benchmarks.stages`.

:func:`ensure_split` writes, once per book and shard count ``K``, the rows of each
member-keyed input of the benchmark job (``eligibility``, ``medical_claim``, ...) into
``<book>/stage-shards-K/<shard>/<table>/part-<j>.parquet``: row ``r`` of source file ``j`` goes
to shard ``h(member_id) mod K`` with the cluster's own member hash
(``settle.cluster.partitioning.partitions_of``), so every member's rows are in one shard, as in
a sharded job.  Each source file is streamed in record batches (``batch_rows``) and keeps its
schema, so memory stays bounded by one batch and ``K`` open writers.  A ``.complete`` marker
guards against half-written splits.  Every shard gets a file for every source file
(possibly empty).  Parquet inputs only (the synthetic books are Parquet).

The split is preparation, not one of the measured stages; its seconds are reported apart
(``split_seconds``, 0 when it was cached).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from settle.cluster.partitioning import partitions_of
from settle.cluster.plan import MEMBER_TABLES
from settle.engine.job import JobDocument
from settle.engine.readers import list_input_files

__all__ = ["ensure_split", "shard_folders"]

_MARKER = ".complete"


def split_root(book: Path, shards: int) -> Path:
    return book / f"stage-shards-{shards}"


def shard_folders(root: Path) -> list[Path]:
    """The shard folders of a split, in shard order."""
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: int(p.name))


def ensure_split(job: JobDocument, book: Path, shards: int, batch_rows: int = 1 << 20) -> tuple[Path, float]:
    """(the split's folder, seconds spent writing it now: 0.0 when cached)."""
    root = split_root(book, shards)
    if (root / _MARKER).exists():
        return root, 0.0
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    for s in range(shards):
        (root / str(s)).mkdir(parents=True)
    for table in (t for t in job.inputs if t in MEMBER_TABLES):
        for j, source in enumerate(list_input_files(job.input_paths(table))):
            if source.format != "parquet":
                raise ValueError(f"{source.display}: the stage split reads Parquet inputs only")
            _split_file(Path(source.path), table, root, j, shards, batch_rows)
    (root / _MARKER).write_text("ok\n")
    return root, time.perf_counter() - started


def _split_file(path: Path, table: str, root: Path, index: int, shards: int, batch_rows: int) -> None:
    source = pq.ParquetFile(path)
    writers: list[pq.ParquetWriter] = []
    try:
        for s in range(shards):  # every shard gets a file, empty or not
            out = root / str(s) / table / f"part-{index:05d}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            writers.append(pq.ParquetWriter(out, source.schema_arrow))
        for batch in source.iter_batches(batch_size=batch_rows):
            raw = pa.Table.from_batches([batch], schema=source.schema_arrow)
            parts = partitions_of(raw, table, shards)
            for s in np.unique(parts).tolist():
                writers[s].write_table(raw.filter(pa.array(parts == s)))
    finally:
        for writer in writers:
            writer.close()

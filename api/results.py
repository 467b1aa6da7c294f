"""Reading a succeeded job's outputs for the API, restricted to a key's employer groups.

Outputs are read through pyarrow's filesystems, so a local folder and an object-store prefix
work alike.  An employer-scoped key sees only rows whose ``group_id`` is one of its groups:
statements, ledger and member_costs (rows settled per entity across groups, ``group_id``
null, are not shown to it); attribution, rejects and the manifest have no group and are
refused to such a key.  Parsed ``statements.json`` files are cached (outputs never change).
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = ["GROUPED_TABLES", "TABLES", "filter_statements", "load_statements", "stream_output"]

TABLES = ("statements", "ledger", "attribution", "member_costs", "rejects")
GROUPED_TABLES = ("statements", "ledger", "member_costs")
_CHUNK = 1 << 20

_cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
_lock = threading.Lock()


def _open(output: str, name: str) -> tuple[pafs.FileSystem, str]:
    location = output.rstrip("/") + "/" + name
    if "://" in location:
        fs, path = pafs.FileSystem.from_uri(location)
        return fs, path
    return pafs.LocalFileSystem(), location


def load_statements(output: str) -> list[dict[str, Any]]:
    """The statements of a result (``statements.json``), cached for the last few results."""
    with _lock:
        if output in _cache:
            _cache.move_to_end(output)
            return _cache[output]
    fs, path = _open(output, "statements.json")
    with fs.open_input_stream(path) as stream:
        statements: list[dict[str, Any]] = json.loads(stream.read())
    with _lock:
        _cache[output] = statements
        while len(_cache) > 8:
            _cache.popitem(last=False)
    return statements


def filter_statements(
    statements: list[dict[str, Any]],
    *,
    groups: frozenset[str] | None,
    contract: str | None = None,
    entity: str | None = None,
    employer: str | None = None,
) -> list[dict[str, Any]]:
    out = []
    for s in statements:
        if groups is not None and s.get("group_id") not in groups:
            continue
        if contract is not None and s.get("contract_id") != contract:
            continue
        if entity is not None and s.get("entity_id") != entity:
            continue
        if employer is not None and s.get("group_id") != employer:
            continue
        out.append(s)
    return out


def stream_output(output: str, name: str, groups: frozenset[str] | None) -> Iterator[bytes]:
    """The bytes of output ``name`` (``TABLE.parquet``, ``TABLE.csv``, ``statements.json`` or
    ``manifest.json``), filtered to ``groups`` when given."""
    stem, _, suffix = name.rpartition(".")
    if groups is not None:
        yield from _filtered(output, stem, suffix, groups)
        return
    if suffix == "csv":
        yield from _csv(output, stem, None)
        return
    fs, path = _open(output, name)
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(_CHUNK):
            yield chunk


def _group_filter(batch: pa.RecordBatch, groups: frozenset[str]) -> pa.RecordBatch:
    mask = pc.fill_null(pc.is_in(batch.column("group_id"), pa.array(sorted(groups), pa.string())), False)
    return batch.filter(mask)


def _csv(output: str, table: str, groups: frozenset[str] | None) -> Iterator[bytes]:
    fs, path = _open(output, f"{table}.parquet")
    with fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        sink = io.BytesIO()
        with pacsv.CSVWriter(sink, parquet.schema_arrow) as writer:
            for batch in parquet.iter_batches(batch_size=65_536):
                writer.write_batch(batch if groups is None else _group_filter(batch, groups))
                if sink.tell() >= _CHUNK:
                    yield sink.getvalue()
                    sink.seek(0)
                    sink.truncate()
        yield sink.getvalue()


def _filtered(output: str, stem: str, suffix: str, groups: frozenset[str]) -> Iterator[bytes]:
    if stem == "statements" and suffix == "json":
        kept = filter_statements(load_statements(output), groups=groups)
        yield json.dumps(kept, ensure_ascii=False).encode("utf-8")
        return
    if suffix == "csv":
        yield from _csv(output, stem, groups)
        return
    fs, path = _open(output, f"{stem}.parquet")
    with fs.open_input_file(path) as handle:
        table = pq.read_table(handle)
    mask = pc.fill_null(pc.is_in(table.column("group_id"), pa.array(sorted(groups), pa.string())), False)
    sink = io.BytesIO()
    pq.write_table(table.filter(mask), sink)
    yield sink.getvalue()

"""Row checks decided early: the columns of a raw batch that no row can fail on.

The cluster's validation leaves some columns out of the rows it hands on
(:data:`settle.engine.pipeline.shard.UNREAD_COLUMNS`), though it checks them.  Where the
partition stage can tell, from a raw batch alone and for a few of them, that **every row
passes every row check of that column**, it need not carry the column to validation at all:
it drops it and names it in the batch's schema metadata (:data:`PRECHECKED_KEY`), and
validation then checks the rows as if the column were absent and optional (no check of an
absent optional column can fail), which rejects exactly the rows it would have rejected.

What counts as passing, column by column (anything else: not decided early):

* a text column read as an Arrow dictionary whose every dictionary value is already canonical
  (:func:`~settle.engine.validate_parse.canonical_dictionary_columns`: no value can be
  malformed), with no empty cell if the column is required;
* a ``date32`` column (a typed date cannot be malformed) each of whose spans
  (:data:`~settle.engine.validate_rows.SPANS`) has a ``date32`` partner, and no row whose end
  is before its start.

Table checks never read such a column (:func:`~settle.engine.validate_cross.table_check_columns`
is asked), and a caller that keeps one must not be handed a batch without it:
:func:`prechecked_in` is read by validation, which refuses that mix.
"""

from __future__ import annotations

from collections.abc import Collection

import pyarrow as pa
import pyarrow.compute as pc

from settle.engine.schemas import TABLES
from settle.engine.validate_cross import table_check_columns
from settle.engine.validate_parse import canonical_dictionary_columns
from settle.engine.validate_rows import PRECHECKED_KEY, SPANS, prechecked_in

__all__ = ["PRECHECKED_KEY", "drop_prechecked", "prechecked", "prechecked_in"]

_COLUMNS = {name: {c.name: c for c in spec.columns} for name, spec in TABLES.items()}  # in order


def prechecked(raw: pa.Table, table: str, candidates: Collection[str]) -> list[str]:
    """The columns of ``candidates`` (canonical names, each a column of ``raw`` under its
    source name, or absent) that every row of ``raw`` passes every row check of, in schema
    order (see the module docstring)."""
    spec = _COLUMNS[table]
    read_by_table_checks = table_check_columns(table)
    found = []
    for name in candidates:
        column = spec[name]
        if name in read_by_table_checks or column.source_name not in raw.column_names:
            continue
        values = raw.column(column.source_name)
        if pa.types.is_dictionary(values.type):
            clean = canonical_dictionary_columns(raw, {column.source_name: column})
            if clean and not (column.required and values.null_count):
                found.append(name)
        elif values.type == pa.date32() and _spans_hold(raw, table, name):
            found.append(name)
    return [name for name in spec if name in found]


def _spans_hold(raw: pa.Table, table: str, name: str) -> bool:
    """No row of ``raw`` has a span of ``name`` ending before it starts (both ``date32``)."""
    spec = _COLUMNS[table]
    for start, end in SPANS.get(table, ()):
        if name not in (start, end):
            continue
        a, b = (spec[start].source_name, spec[end].source_name)
        if a not in raw.column_names or b not in raw.column_names:
            return False
        if raw.column(a).type != pa.date32() or raw.column(b).type != pa.date32():
            return False
        if pc.any(pc.less(raw.column(b), raw.column(a))).as_py():
            return False
    return True


def drop_prechecked(raw: pa.Table, table: str, names: Collection[str]) -> pa.Table:
    """``raw`` without the columns ``names`` (from :func:`prechecked`), named in its schema
    metadata for validation."""
    if not names:
        return raw
    dropped = raw.drop_columns([_COLUMNS[table][n].source_name for n in names])
    metadata = {**(dropped.schema.metadata or {}), PRECHECKED_KEY: ",".join(names).encode()}
    return dropped.replace_schema_metadata(metadata)

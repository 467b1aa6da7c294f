"""Piece files with every column as narrow as the partition task's rows allow.

The partition stage writes the whole book to the work folder once (the pieces), and writing it
is what grows faster than the book: at 10M members the pieces were about 21 GB, 75 bytes a
claim line, more than this 24 GB machine keeps dirty in its page cache, and writing pages past
that limit cost the writer's CPU several times what the first gigabytes did (`dd` of 2 GB:
1.2-3.9 GB/s; of 10 GB: 0.33-1.2 GB/s, nearly all of it system time).  So a piece stores:

* **dictionary indices** (the code columns, ``_source_file``) as ``int8``, ``int16`` or
  ``uint16`` where the task's dictionary is short enough (:func:`index_type`), not ``int32``;
* **integers narrowed to 32 bits** (:mod:`~settle.cluster.spill_integers`: line numbers, row
  numbers, amounts) as ``int8`` or ``int16`` where every value the task has read so far fits;
* **dates** (``date32``: days since 1970) as ``int16`` days where every date the task has read
  falls between 1880 and 2059, their field marked (:data:`DATE_MARK`);
* **text of one byte length** (member and claim ids of one format, the usual case) as
  ``fixed_size_binary(width)``: the same bytes without the 4-byte offset of every row.

:class:`SpillWidths` follows the task's raw batches as they are read (:meth:`~SpillWidths.observe`:
bounds of each integer column, byte lengths of each text column, over the whole task so far,
so they cover every row a piece holds whenever it is written); :meth:`~SpillWidths.schema`
gives a piece's narrowed schema and :func:`narrow` converts a partition's rows to it, the
data buffers of text reused as they are.  :func:`widen` undoes it as a piece's batch is read,
back to the very types the split produced (``int32`` indices and integers, the original string
type), so validation, its rejects and every output see exactly what they saw before; it only
builds offsets and casts small integers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from settle.cluster.spill_integers import INT64_MARK

__all__ = ["DATE_MARK", "TEXT_MARK", "SpillWidths", "fitted", "index_type", "narrow", "widen"]

TEXT_MARK = b"settle.text"  # field metadata of a fixed_size_binary column: the string type it was
DATE_MARK = b"settle.date32"  # field metadata of an int16 column: the date32 days it stands for
_TEXT_TYPES = {b"string": pa.string(), b"large_string": pa.large_string()}
_NARROW_INTEGERS = (pa.int8(), pa.int16())


def index_type(dictionary_length: int) -> pa.DataType:
    """The narrowest index type that can address ``dictionary_length`` values."""
    if dictionary_length <= 1 << 7:
        return pa.int8()
    if dictionary_length <= 1 << 15:
        return pa.int16()
    if dictionary_length <= 1 << 16:
        return pa.uint16()
    return pa.int32()


class SpillWidths:
    """What one partition task's raw rows have held so far: each narrowed integer column's
    least and greatest value, and each text column's byte length where every value has the same
    one (``None`` once two lengths, or a null, have been seen)."""

    def __init__(self) -> None:
        self.bounds: dict[str, tuple[int, int]] = {}
        self.widths: dict[str, int | None] = {}

    def observe(self, batch: pa.Table) -> None:
        for field, column in zip(batch.schema, batch.columns, strict=True):
            if _is_narrowed_integer(field):
                self._observe_integers(field.name, column)
            elif field.type in (pa.string(), pa.large_string()):
                self._observe_text(field.name, column)

    def _observe_integers(self, name: str, column: pa.ChunkedArray) -> None:
        for chunk in column.chunks:
            if len(chunk) == chunk.null_count:
                continue
            days = chunk.view(pa.int32()) if pa.types.is_date32(chunk.type) else chunk
            values = np.asarray(days.fill_null(0) if chunk.null_count else days)
            low, high = int(values.min()), int(values.max())
            seen = self.bounds.get(name)
            self.bounds[name] = (low, high) if seen is None else (min(seen[0], low), max(seen[1], high))

    def _observe_text(self, name: str, column: pa.ChunkedArray) -> None:
        if name in self.widths and self.widths[name] is None:
            return
        for chunk in column.chunks:
            if not len(chunk):
                continue
            width = None if chunk.null_count else _uniform_length(chunk)
            seen = self.widths.get(name, width)
            self.widths[name] = width if width == seen else None
            if self.widths[name] is None:
                return

    def schema(self, schema: pa.Schema, dictionary_lengths: dict[str, int]) -> pa.Schema:
        """The narrowed schema of a piece whose rows have ``schema``; ``dictionary_lengths``:
        each dictionary column's dictionary length in the piece."""
        fields = []
        for field in schema:
            if pa.types.is_dictionary(field.type) and field.name in dictionary_lengths:
                typ = pa.dictionary(index_type(dictionary_lengths[field.name]), field.type.value_type)
                field = field.with_type(typ)
            elif _is_narrowed_integer(field) and field.name in self.bounds:
                low, high = self.bounds[field.name]
                fits = [t for t in _NARROW_INTEGERS if _fits(t, low, high)]
                if pa.types.is_date32(field.type):
                    mark = {**(field.metadata or {}), DATE_MARK: b"1"}
                    field = pa.field(field.name, pa.int16(), field.nullable, metadata=mark) if fits else field
                else:
                    field = field.with_type(fits[0]) if fits else field
            elif self.widths.get(field.name) and field.type in (pa.string(), pa.large_string()):
                mark = {**(field.metadata or {}), TEXT_MARK: str(field.type).encode()}
                width = self.widths[field.name]
                assert width is not None
                field = pa.field(field.name, pa.binary(width), field.nullable, metadata=mark)
            fields.append(field)
        return pa.schema(fields, metadata=schema.metadata)

    def carried_schema(self, schema: pa.Schema, code_lengths: Mapping[str, int]) -> pa.Schema:
        """The schema :meth:`carried` gives rows of ``schema`` whose code columns (``int32``
        indices, named in ``code_lengths`` with their dictionary's length) stay plain integers."""
        fields = []
        for field in self.schema(schema, {}):
            if field.name in code_lengths and field.type == pa.int32():
                field = field.with_type(index_type(code_lengths[field.name]))
            fields.append(field)
        return pa.schema(fields, metadata=schema.metadata)

    def carried(self, batch: pa.Table, code_lengths: Mapping[str, int]) -> pa.Table:
        """``batch`` (observed already) with every column as narrow as the task's rows so far
        allow, the code columns as plain indices of :func:`index_type` (``code_lengths``: their
        dictionaries' lengths now), so that the split moves the narrow values: on a 131,072-line
        batch of claims in 141 partitions the take cost 29-32 ns a line against 52-67 for the
        ``int32`` and string columns (fixed-size ids above all), and a piece's rows need no
        conversion when written.  A piece written later, when the task's rows need wider types,
        converts the rows carried narrower (:func:`fitted`)."""
        return narrow(batch, self.carried_schema(batch.schema, code_lengths))


def fitted(table: pa.Table, schema: pa.Schema, wide: pa.Schema) -> pa.Table:
    """``table``, rows :meth:`SpillWidths.carried` when the task's widths were narrower, with
    each column converted to its type in ``schema`` (a later :meth:`~SpillWidths.carried_schema`
    of the same ``wide`` schema): integers and indices cast wider, dates of ``int16`` days back
    to ``date32``, fixed-size text back to strings.  Every value keeps its meaning."""
    columns = []
    for field, wide_field, column in zip(schema, wide, table.columns, strict=True):
        if column.type != field.type:
            if pa.types.is_integer(column.type) and pa.types.is_integer(field.type):
                column = column.cast(field.type)
            else:
                chunks = [_widened(c, wide_field.type) for c in column.chunks]
                if wide_field.type != field.type:
                    chunks = [_narrowed(c, field.type) for c in chunks]
                column = pa.chunked_array(chunks, field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def narrow(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` converted to the narrowed ``schema``, chunk by chunk."""
    columns = []
    for field, column in zip(schema, table.columns, strict=True):
        if column.type != field.type:
            column = pa.chunked_array([_narrowed(c, field.type) for c in column.chunks], field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _narrowed(chunk: pa.Array, typ: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(typ):
        indices = chunk.indices.cast(typ.index_type, safe=False)
        return pa.DictionaryArray.from_arrays(indices, chunk.dictionary, safe=False)
    if pa.types.is_fixed_size_binary(typ):
        # Every value is ``typ.byte_width`` bytes and none is null (SpillWidths.observe): the
        # values' bytes, end to end, are already the fixed-size array's data.
        offsets = np.frombuffer(chunk.buffers()[1], dtype=_offset_dtype(chunk.type))
        first, last = int(offsets[chunk.offset]), int(offsets[chunk.offset + len(chunk)])
        data = chunk.buffers()[2].slice(first, last - first)
        return pa.Array.from_buffers(typ, len(chunk), [None, data])
    if pa.types.is_date32(chunk.type):
        return chunk.view(pa.int32()).cast(typ, safe=False)
    return chunk.cast(typ, safe=False)


def widen(table: pa.Table) -> pa.Table:
    """The inverse of :func:`narrow`: ``int32`` dictionary indices, narrowed integers back to
    ``int32``, fixed-width text back to its string type.  A table never narrowed is returned
    as it is."""
    out = table
    for i, field in enumerate(table.schema):
        typ = _widened_type(field)
        if typ is None:
            continue
        chunks = [_widened(c, typ) for c in table.column(i).chunks]
        marks = (TEXT_MARK, DATE_MARK)
        metadata = {k: v for k, v in (field.metadata or {}).items() if k not in marks} or None
        out = out.set_column(
            i, pa.field(field.name, typ, field.nullable, metadata=metadata), pa.chunked_array(chunks, typ)
        )
    return out


def _widened_type(field: pa.Field) -> pa.DataType | None:
    typ = field.type
    if pa.types.is_dictionary(typ) and typ.index_type != pa.int32():
        return pa.dictionary(pa.int32(), typ.value_type)
    if _is_marked_integer(field) and typ != pa.int32():
        return pa.int32()
    if DATE_MARK in (field.metadata or {}):
        return pa.date32()
    if pa.types.is_fixed_size_binary(typ) and TEXT_MARK in (field.metadata or {}):
        return _TEXT_TYPES[field.metadata[TEXT_MARK]]
    return None


def _widened(chunk: pa.Array, typ: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(typ):
        return pa.DictionaryArray.from_arrays(chunk.indices.cast(pa.int32()), chunk.dictionary, safe=False)
    if pa.types.is_fixed_size_binary(chunk.type):
        width, n = chunk.type.byte_width, len(chunk)
        dtype = _offset_dtype(typ)
        offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=dtype))
        data = chunk.buffers()[1].slice(chunk.offset * width, n * width)
        return pa.Array.from_buffers(typ, n, [None, offsets, data])  # narrowed only without nulls
    if pa.types.is_date32(typ):
        return chunk.cast(pa.int32()).view(typ)
    return chunk.cast(typ)


def _uniform_length(chunk: pa.Array) -> int | None:
    offsets = np.frombuffer(chunk.buffers()[1], dtype=_offset_dtype(chunk.type))
    lengths = np.diff(offsets[chunk.offset : chunk.offset + len(chunk) + 1])
    first = int(lengths[0])
    return first if first > 0 and bool((lengths == first).all()) else None


def _offset_dtype(typ: pa.DataType) -> type[np.signedinteger]:
    return np.int64 if typ == pa.large_string() else np.int32


def _is_marked_integer(field: pa.Field) -> bool:
    return INT64_MARK in (field.metadata or {})


def _is_narrowed_integer(field: pa.Field) -> bool:
    """An integer column narrowed to 32 bits, or a date column (32-bit days)."""
    return (_is_marked_integer(field) and field.type == pa.int32()) or bool(pa.types.is_date32(field.type))


def _fits(typ: pa.DataType, low: int, high: int) -> bool:
    bits = int(typ.bit_width) - 1
    return -(1 << bits) <= low and high < (1 << bits)

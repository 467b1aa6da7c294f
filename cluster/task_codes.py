"""One dictionary per code column for all the rows of a partition-stage task.

The partition stage reads the code columns of Parquet inputs as dictionaries
(``iter_file(keep_codes=True)``), one dictionary per row group.  An Arrow IPC file holds one
dictionary per column, so a piece assembled from many row groups' rows would have its
dictionaries unified when written: a hash of every dictionary value for every slice held, in
every piece (at 128 partitions a third of the stage's write time).  Instead :class:`TaskCodes`
keeps, per code column, the task's dictionary so far, which only ever grows by appending
values not seen before; each batch's indices are remapped into it once, before the split,
so the split moves plain ``int32`` indices and every piece gets the task's dictionary, the
same array, when written (:meth:`TaskCodes.restore`).  An index stays valid as the dictionary
grows, so a piece written early simply carries a shorter dictionary.

Every record batch of a piece carries the task's whole dictionary, though a partition's rows
use few of its values (at 10M members: about 15,000 claim lines of a partition in a piece
whose NPI dictionary holds 38,700 NPIs).  A validate task reads one batch from every piece,
so it would meet each task's whole dictionary once per piece file: partitions × dictionary
values, which grows with the square of the book.  :func:`compact_dictionaries` cuts each
batch's dictionaries to the values its rows use, in the dictionary's order, before
validation sees them.

A partition's rows come from one batch of every piece file (at 10M members, 141 tasks: 141
batches of about 14,000 lines), each with dictionaries of its own.  Every step after that paid
per chunk (decoding the codes to text a chunk at a time, checking each chunk's dictionary,
Polars frames of 141 chunks), so :func:`join_pieces` makes them one table whose dictionary
columns are one chunk each: a dictionary column's dictionaries are concatenated (a value may
repeat; the indices are shifted, never re-hashed; a seeded column's shared prefix kept once,
:func:`~settle.cluster.code_seeds.join_prefixed`), except ``_source_file``'s, which are
unified (a handful of file names, which Polars turns into a categorical).

The dictionary arrays made here are made without pyarrow's check that every index is within
its dictionary (``DictionaryArray.from_arrays(safe=False)``): each one's indices are in bounds
by construction (remapped into a dictionary that only grows, compacted onto the values they
use, shifted by the lengths of the dictionaries before theirs), and the check read every index
of every code column twice a run, in the partition stage and in validation (2 M indices: 1.3
ms; about half a CPU-second of a 1M-member job).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from settle.cluster.code_seeds import SEEDED_KEY, Seed, declared_seeds, join_prefixed
from settle.engine.schemas import PROVENANCE_FIELDS, TABLES
from settle.engine.validate_parse import CANONICAL_KEY, canonical_dictionary_columns, declared_canonical

__all__ = ["CODE_MARK", "TaskCodes", "compact_dictionaries", "join_pieces"]

_SOURCE_FILE = PROVENANCE_FIELDS[0].name  # has a task-wide dictionary of its own (partition_stage._split)
# Marks an encoded column's field, so that a file whose column of the same name is a plain
# int32 (another file of the task) is never mistaken for indices; compare schemas with
# ``check_metadata=True``.
CODE_MARK = {b"settle.code": b"int32 indices"}


class TaskCodes:
    """The growing dictionary of each code column of one task, and the remapping into it."""

    def __init__(self, seeds: Mapping[str, Seed] | None = None) -> None:
        self.values: dict[str, pa.Array] = {}
        # A column's dictionary starts with its seed's values (settle.cluster.code_seeds).
        self._seeds = dict(seeds or {})
        self._seeded: dict[str, str] = {}
        # The last dictionary seen per column and its remapping (a row group's batches share it).
        self._last: dict[str, tuple[pa.Array, pa.Array]] = {}

    def encode(self, batch: pa.Table) -> pa.Table:
        """``batch`` with every dictionary column (but ``_source_file``) as ``int32`` indices
        into the task's dictionary of that column."""
        out = batch
        for i, field in enumerate(batch.schema):
            if not pa.types.is_dictionary(field.type) or field.name == _SOURCE_FILE:
                continue
            column = batch.column(i)
            chunks = [self._remap(field.name, chunk) for chunk in column.chunks]
            encoded = pa.field(field.name, pa.int32(), metadata=CODE_MARK)
            out = out.set_column(i, encoded, pa.chunked_array(chunks, pa.int32()))
        return out

    def _remap(self, name: str, chunk: pa.DictionaryArray) -> pa.Array:
        dictionary = chunk.dictionary
        last = self._last.get(name)
        if last is not None and (last[0] is dictionary or last[0].equals(dictionary)):
            mapping = last[1]
        else:
            mapping = self._mapping(name, dictionary)
            self._last[name] = (dictionary, mapping)
        return _remapped(mapping, chunk.indices.cast(pa.int32()))

    def _mapping(self, name: str, dictionary: pa.Array) -> pa.Array:
        """Each value of ``dictionary`` as its ``int32`` position in the task's dictionary of
        ``name``, the values not seen before appended to it first (in the order first met),
        after the column's seed where it has one (:mod:`settle.cluster.code_seeds`).

        One ``index_in`` when every value is known already, as it is for most row groups once
        a task has read a few (each call hashes the whole task dictionary: at 10M members a
        row group's NPI dictionary and the task's both hold about 38,000 values, and a test of
        membership before the lookup doubled the hashing, 11 ns a claim line)."""
        known = self.values.get(name)
        if known is None:
            seed = self._seeds.get(name)
            if seed is None or not _is_text(dictionary.type):
                known = self.values[name] = dictionary.unique()
                return pc.index_in(dictionary, value_set=known).cast(pa.int32())
            known = self.values[name] = seed.values.cast(dictionary.type)
            self._seeded[name] = seed.declaration
        mapping = pc.index_in(dictionary, value_set=known)
        if mapping.null_count:  # values not in the task's dictionary yet (a null value is one)
            new = dictionary.filter(mapping.is_null()).unique()
            known = self.values[name] = pa.concat_arrays([known, new])
            mapping = pc.index_in(dictionary, value_set=known)
        return mapping.cast(pa.int32())

    def lengths(self) -> dict[str, int]:
        """The length of each code column's task dictionary now."""
        return {name: len(values) for name, values in self.values.items()}

    def seeded(self) -> dict[str, str]:
        """The columns whose dictionary starts with a seed, with the seed's declaration
        (:data:`~settle.cluster.code_seeds.SEEDED_KEY`)."""
        return dict(self._seeded)

    def schema(self, encoded: pa.Schema) -> pa.Schema:
        """The schema of :meth:`restore`'s tables, for tables of schema ``encoded``."""
        fields = [
            pa.field(f.name, pa.dictionary(pa.int32(), self.values[f.name].type)) if _is_code(f) else f
            for f in encoded
        ]
        return pa.schema(fields, metadata=encoded.metadata)

    def canonical(self, table: str) -> list[str]:
        """The code columns of ``table`` whose task dictionary holds canonical values only
        (:func:`~settle.engine.validate_parse.canonical_dictionary_columns`), which a piece
        declares under :data:`~settle.engine.validate_parse.CANONICAL_KEY`: every dictionary
        its batches carry is a subset of the task's dictionary as it is when it is written."""
        spec = {c.source_name: c for c in TABLES[table].columns}
        names = [name for name in self.values if name in spec]
        if not names:
            return []
        empty = pa.array([], pa.int32())
        probe = pa.table({n: pa.DictionaryArray.from_arrays(empty, self.values[n]) for n in names})
        return sorted(canonical_dictionary_columns(probe, {n: spec[n] for n in names}))

    def restore(self, table: pa.Table) -> pa.Table:
        """``table`` (from :meth:`encode`d batches) with its code columns as dictionary arrays
        over the task's dictionaries as they are now (one chunk each)."""
        out = table
        for i, field in enumerate(table.schema):
            if _is_code(field):
                indices = table.column(i).combine_chunks()
                # encode's indices point into the task's dictionaries, which only grow.
                restored = pa.DictionaryArray.from_arrays(indices, self.values[field.name], safe=False)
                out = out.set_column(i, field.name, restored)
        return out


def _remapped(mapping: pa.Array, indices: pa.Array) -> pa.Array:
    """``mapping[indices]``, a null index staying null.  A dictionary array's indices are within
    its dictionary (pyarrow's Parquet reader checks them as it decodes), and ``mapping`` has one
    entry per dictionary value, so the take skips its bounds check; a chunk with nulls has them
    read as index 0 and its validity bitmap put back, since the take kernel tests each index's
    validity one at a time (a 131,072-row chunk: 127 → 56 µs without nulls, 287 → 103 µs with
    1 % nulls)."""
    if indices.null_count == len(indices):  # no index to take (and maybe an empty dictionary)
        return pa.nulls(len(indices), pa.int32())
    if indices.null_count == 0:
        return pc.take(mapping, indices, boundscheck=False)
    taken = pc.take(mapping, indices.fill_null(0), boundscheck=False)
    validity = indices.buffers()[0]
    if indices.offset:  # the bitmap starts at an offset: a computed one starts at 0, like ``taken``
        validity = pc.is_valid(indices).buffers()[1]
    return pa.Array.from_buffers(pa.int32(), len(indices), [validity, taken.buffers()[1]], indices.null_count)


def compact_dictionaries(table: pa.Table) -> pa.Table:
    """``table`` with the dictionary of every dictionary column cut to the values its rows use,
    kept in the dictionary's order (so the text of every row, and its nulls, are unchanged).
    A chunk whose dictionary is no longer than its rows is left as it is: it cannot cost more
    than the rows themselves; so is a column the table declares seeded, whose dictionary's
    prefix is shared with other pieces' (:func:`join_pieces`)."""
    out = table
    seeded = declared_seeds(table.schema)
    for i, field in enumerate(table.schema):
        if not pa.types.is_dictionary(field.type) or field.name in seeded:
            continue
        column = table.column(i)
        if all(len(c.dictionary) <= len(c) for c in column.chunks):
            continue
        out = out.set_column(i, field, pa.chunked_array([_compact(c) for c in column.chunks], field.type))
    return out


def _compact(chunk: pa.DictionaryArray) -> pa.DictionaryArray:
    if len(chunk.dictionary) <= len(chunk):
        return chunk
    indices = chunk.indices
    valid = indices.is_valid()
    dense = indices.fill_null(0).to_numpy(zero_copy_only=False)
    used = np.unique(dense[valid.to_numpy(zero_copy_only=False)] if indices.null_count else dense)
    remap = np.zeros(len(chunk.dictionary), dtype=indices.type.to_pandas_dtype())
    remap[used] = np.arange(len(used), dtype=remap.dtype)
    mask = None if not indices.null_count else pc.invert(valid).to_numpy(zero_copy_only=False)
    new_indices = pa.array(remap[dense], type=indices.type, mask=mask)
    return pa.DictionaryArray.from_arrays(new_indices, chunk.dictionary.take(pa.array(used)), safe=False)


def join_pieces(tables: list[pa.Table]) -> list[pa.Table]:
    """``tables`` with each run of consecutive tables of one schema joined into one table, in
    the same row order and with the same text in every row, every dictionary column one chunk
    (see the module docstring).  Pieces of files whose raw schemas differ (a column written as
    text in one file and as integers in another) stay apart, as validation reads them; field
    metadata counts (unlike ``validate.coalesce_batches``' comparison), since a narrowed
    decimal's type is only in its field's metadata (``spill_decimals``).  The
    other columns keep their chunks: converting to Polars joins them, a copy made once."""
    runs: list[list[pa.Table]] = []
    for table in tables:
        if runs and _undeclared(runs[-1][0].schema).equals(_undeclared(table.schema), check_metadata=True):
            runs[-1].append(table)
        else:
            runs.append([table])
    return [_declared(_joined(run, _common_seeds(run)), run) for run in runs]


def _undeclared_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """``schema``'s metadata without what it declares canonical or seeded."""
    return {k: v for k, v in (schema.metadata or {}).items() if k not in (CANONICAL_KEY, SEEDED_KEY)}


def _undeclared(schema: pa.Schema) -> pa.Schema:
    return schema.with_metadata(_undeclared_metadata(schema))


def _declared(joined: pa.Table, run: list[pa.Table]) -> pa.Table:
    """``joined`` declaring canonical the code columns that every table of ``run`` declares
    (pieces of different tasks may differ; see :meth:`TaskCodes.canonical`)."""
    sets = [set(declared_canonical(t.schema)) for t in run]
    common = set.intersection(*sets) if sets else set()
    metadata = _undeclared_metadata(joined.schema)
    if common:
        metadata[CANONICAL_KEY] = ",".join(sorted(common)).encode()
    return joined.replace_schema_metadata(metadata or None)


def _common_seeds(run: list[pa.Table]) -> dict[str, int]:
    """The columns every table of ``run`` declares seeded alike, with the seed's length."""
    declared = [declared_seeds(t.schema) for t in run]
    return {
        name: int(value.split(":", 1)[0])
        for name, value in declared[0].items()
        if all(d.get(name) == value for d in declared[1:])
    }


def _joined(tables: list[pa.Table], seeded: dict[str, int]) -> pa.Table:
    joined = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    columns = []
    for field, column in zip(joined.schema, joined.columns, strict=True):
        if column.num_chunks > 1 and pa.types.is_dictionary(field.type):
            if field.name == _SOURCE_FILE:
                one = _unified(column.chunks)
            else:  # an unseeded column's dictionaries share no prefix: laid end to end
                one = join_prefixed(column.chunks, seeded.get(field.name, 0))
            column = pa.chunked_array([one], field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=joined.schema)


def _unified(chunks: list[pa.DictionaryArray]) -> pa.DictionaryArray:
    """One array over the distinct values of the chunks' dictionaries, in the order first met."""
    values = pa.concat_arrays([c.dictionary for c in chunks]).unique()
    # ``_source_file``'s indices are int32 (partition_stage._split), as _remapped's are.
    mappings = [pc.index_in(c.dictionary, value_set=values).cast(pa.int32()) for c in chunks]
    indices = [_remapped(m, c.indices) for m, c in zip(mappings, chunks, strict=True)]
    return pa.DictionaryArray.from_arrays(pa.concat_arrays(indices), values, safe=False)


def _is_text(typ: pa.DataType) -> bool:
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ))


def _is_code(field: pa.Field) -> bool:
    return field.metadata is not None and field.metadata.get(b"settle.code") is not None

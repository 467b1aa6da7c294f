"""64-bit integer columns carried through the partition stage's spill as 32-bit ones.

A claim line's raw ``int64`` columns (``claim_line_number``, the row number ``_row_number``,
and the amounts once :mod:`~settle.cluster.spill_decimals` has made them unscaled ``int64``)
hold values that fit 32 bits in nearly every book: 32 of the 104 bytes a claim line took in
the 1M book's pieces, half of them never used.  :func:`narrow_integers` stores such a column
of a batch as ``int32`` when every value of the batch fits, its field marked;
:func:`restore_integers` casts it back to the very same ``int64`` column (field metadata, other
marks included, kept) before anything reads it, so validation and every output are unchanged.
A batch with a value outside 32 bits keeps the column as it is (its pieces then have another
schema, which the partition stage writes apart; :func:`~settle.cluster.task_codes.join_pieces`
keeps them apart too).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["INT64_MARK", "narrow_integers", "restore_integers"]

INT64_MARK = b"settle.int64"  # field metadata: the int32 column stands for an int64 one
_LOW, _HIGH = -(1 << 31), (1 << 31) - 1


def narrow_integers(table: pa.Table) -> pa.Table:
    """``table`` with each ``int64`` column whose values all fit ``int32`` as ``int32``."""
    out = table
    for i, field in enumerate(table.schema):
        if not pa.types.is_int64(field.type):
            continue
        column = table.column(i)
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is not None and (low < _LOW or high > _HIGH):
            continue
        mark = {**(field.metadata or {}), INT64_MARK: b"1"}
        narrowed = pa.field(field.name, pa.int32(), field.nullable, metadata=mark)
        out = out.set_column(i, narrowed, column.cast(pa.int32(), safe=False))
    return out


def restore_integers(table: pa.Table) -> pa.Table:
    """The inverse of :func:`narrow_integers`: marked ``int32`` columns back to ``int64``."""
    out = table
    for i, field in enumerate(table.schema):
        if INT64_MARK not in (field.metadata or {}):
            continue
        metadata = {k: v for k, v in field.metadata.items() if k != INT64_MARK} or None
        restored = pa.field(field.name, pa.int64(), field.nullable, metadata=metadata)
        out = out.set_column(i, restored, table.column(i).cast(pa.int64()))
    return out

"""Decimal columns carried through the partition stage's spill as 8-byte integers.

A raw ``decimal128(p, s)`` column (the amounts of a Parquet claim file, ``decimal(12, 2)`` in
the usual feed) takes 16 bytes a row, though any value of precision ``p <= 18`` fits in an
``int64``: the split's ``take``, the piece files and the validate stage's reads all moved
twice the bytes the values need (the two amounts were 32 of the 123 bytes a claim line took in
the 1M book's pieces).  :func:`narrow_decimals` replaces each such column by its unscaled
values as ``int64`` (``12.34`` in ``decimal(12, 2)`` is 1234), its field marked with the
original type (:data:`DECIMAL_MARK`, the engine's
:data:`~settle.engine.unscaled_decimals.UNSCALED_MARK`).  Validation takes the marked columns
as the decimals they stand for (:mod:`settle.engine.unscaled_decimals`: amounts of at most two
places straight as cents, any other column rebuilt as the very same ``decimal128(p, s)`` by
:func:`restore_decimals`), so validation, rejects and every output are unchanged: this is an
encoding of the raw cells, not a parse of them (a column whose values do not all fit an
``int64`` is left as it is).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from settle.engine.unscaled_decimals import UNSCALED_MARK, restore_decimals

__all__ = ["DECIMAL_MARK", "narrow_decimals", "restore_decimals"]

DECIMAL_MARK = UNSCALED_MARK  # field metadata: "p,s" of the decimal128 the int64 stands for
_MAX_PRECISION = 18  # every decimal of at most 18 digits fits an int64


def narrow_decimals(table: pa.Table) -> pa.Table:
    """``table`` with each ``decimal128(p <= 18, s)`` column as its unscaled ``int64`` values."""
    out = table
    for i, field in enumerate(table.schema):
        typ = field.type
        if not pa.types.is_decimal128(typ) or typ.precision > _MAX_PRECISION:
            continue
        chunks = [_unscaled(c) for c in table.column(i).chunks]
        if any(c is None for c in chunks):
            continue
        mark = {**(field.metadata or {}), DECIMAL_MARK: f"{typ.precision},{typ.scale}".encode()}
        narrowed = pa.field(field.name, pa.int64(), field.nullable, metadata=mark)
        out = out.set_column(i, narrowed, pa.chunked_array(chunks, pa.int64()))
    return out


def _unscaled(chunk: pa.Array) -> pa.Array | None:
    """The unscaled values of a decimal128 chunk as int64 (``None`` if one does not fit)."""
    n = len(chunk)
    words = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[2 * chunk.offset : 2 * (chunk.offset + n)]
    low, high = words[0::2], words[1::2]
    fits = high == (low >> 63)  # the high word only extends the sign of the low one
    if chunk.null_count:
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        if not fits[valid].all():
            return None
        return pa.array(np.where(valid, low, 0), pa.int64(), mask=~valid)
    if not fits.all():
        return None
    return pa.array(np.ascontiguousarray(low), pa.int64())

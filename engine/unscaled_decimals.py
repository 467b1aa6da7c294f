"""Raw decimal columns carried as their unscaled 64-bit integers.

A raw ``decimal128(p, s)`` column takes 16 bytes a value, though any value of precision
``p <= 18`` fits in an ``int64``.  The cluster's partition stage carries such columns through
its spill as their unscaled values (``12.34`` in ``decimal(12, 2)`` is the integer 1234), each
field marked with :data:`UNSCALED_MARK` (metadata ``b"p,s"``): see
``settle.cluster.spill_decimals``.  Validation accepts a marked column as the decimal it stands
for, with the very same results:

* a **money** column of at most two places whose whole part cannot overflow int64 cents
  (``p - s <= 15``, e.g. ``decimal(12, 2)``) is read directly: its cents are the unscaled
  value times ``10 ** (2 - s)``, exact, and no cell of it can be malformed or out of range
  (:func:`unscaled_money_scales`; the decimal's round trip through ``decimal128`` and Polars'
  decimal arithmetic cost about 0.8 CPU-s of a 1M-member job);
* any other marked column is turned back into its ``decimal128(p, s)`` first
  (:func:`restore_decimals`) and parsed as any decimal is.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from settle.engine.validate_parse import MAX_WHOLE_DOLLAR_DIGITS

__all__ = ["UNSCALED_MARK", "restore_decimals", "unscaled_money_scales", "unscaled_type"]

UNSCALED_MARK = b"settle.decimal"  # field metadata: "p,s" of the decimal128 an int64 stands for


def unscaled_type(field: pa.Field) -> pa.Decimal128Type | None:
    """The decimal type a marked ``int64`` field stands for, else ``None``."""
    mark = (field.metadata or {}).get(UNSCALED_MARK)
    if mark is None or not pa.types.is_int64(field.type):
        return None
    precision, scale = (int(x) for x in mark.decode().split(","))
    return pa.decimal128(precision, scale)


def unscaled_money_scales(raw: pa.Table, money: Collection[str]) -> dict[str, int]:
    """Raw column name -> scale, for the marked columns of ``raw`` named in ``money`` that are
    read as cents directly (at most two places, at most 15 whole digits)."""
    found = {}
    for field in raw.schema:
        typ = unscaled_type(field) if field.name in money else None
        if typ is not None and typ.scale <= 2 and typ.precision - typ.scale <= MAX_WHOLE_DOLLAR_DIGITS:
            found[field.name] = typ.scale
    return found


def restore_decimals(table: pa.Table, keep: Collection[str] = ()) -> pa.Table:
    """``table`` with every marked column but those in ``keep`` back as its decimal column."""
    out = table
    for i, field in enumerate(table.schema):
        typ = unscaled_type(field)
        if typ is None or field.name in keep:
            continue
        metadata = {k: v for k, v in (field.metadata or {}).items() if k != UNSCALED_MARK} or None
        chunks = [_decimal(c, typ) for c in table.column(i).chunks]
        out = out.set_column(
            i, pa.field(field.name, typ, field.nullable, metadata=metadata), pa.chunked_array(chunks, typ)
        )
    return out


def _decimal(chunk: pa.Array, typ: pa.Decimal128Type) -> pa.Array:
    """A decimal128 chunk of type ``typ`` from unscaled int64 values."""
    n = len(chunk)
    low = chunk.fill_null(0).to_numpy(zero_copy_only=False) if chunk.null_count else chunk.to_numpy()
    words = np.empty(2 * n, dtype=np.int64)
    words[0::2] = low
    words[1::2] = low >> 63
    values = pa.Array.from_buffers(typ, n, [None, pa.py_buffer(words)])
    if chunk.null_count:
        return pc.if_else(chunk.is_valid(), values, pa.scalar(None, typ))
    return values

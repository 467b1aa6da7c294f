"""Decimals through the spill as int64: narrowed, written to a piece file, read back and
restored, every column is the column read, whatever its values, nulls and slicing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.cluster.spill import read_partition, write_partitioned
from settle.cluster.spill_decimals import DECIMAL_MARK, narrow_decimals, restore_decimals


def _amounts(precision: int, scale: int) -> st.SearchStrategy[Decimal | None]:
    bound = 10**precision - 1
    return st.one_of(
        st.none(),
        st.integers(min_value=-bound, max_value=bound).map(lambda v: Decimal(v).scaleb(-scale)),
    )


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    precision=st.integers(min_value=1, max_value=18),
    start=st.integers(min_value=0, max_value=5),
)
def test_narrowed_decimals_restore_to_the_column_read(
    data: st.DataObject, precision: int, start: int
) -> None:
    scale = data.draw(st.integers(min_value=0, max_value=precision))
    values = data.draw(st.lists(_amounts(precision, scale), min_size=0, max_size=20))
    typ = pa.decimal128(precision, scale)
    table = pa.table({"amount": pa.array(values, typ), "n": pa.array(range(len(values)), pa.int64())})
    table = table.slice(min(start, len(values)))  # a slice: the buffers start before the rows

    narrowed = narrow_decimals(table)
    assert narrowed.schema.field("amount").type == pa.int64()
    assert narrowed.schema.field("amount").metadata == {DECIMAL_MARK: f"{precision},{scale}".encode()}
    assert narrowed.column("amount").to_pylist() == [
        None if v is None else int(v.scaleb(scale)) for v in table.column("amount").to_pylist()
    ]
    restored = restore_decimals(narrowed)
    assert restored.schema == table.schema
    assert restored.column("amount").to_pylist() == table.column("amount").to_pylist()


def test_a_piece_file_carries_the_mark_and_the_values(tmp_path: Path) -> None:
    typ = pa.decimal128(12, 2)
    table = pa.table({"paid_amount": pa.array([Decimal("12.34"), None, Decimal("-0.05")], typ)})
    narrowed = narrow_decimals(table)
    path = tmp_path / "piece.arrow"
    write_partitioned(path, narrowed.schema, [(3, narrowed)], [3], None)
    read = read_partition(path, 3)
    assert read is not None
    assert restore_decimals(read).equals(table)


def test_wide_and_out_of_range_decimals_are_left_as_they_are() -> None:
    wide = pa.array([Decimal("1.00")], pa.decimal128(38, 2))
    # A decimal(12, 2) cell holding 2**64 (an invalid value no reader should give, but not
    # one an int64 can stand for): the column stays a decimal.
    words = np.array([0, 1], dtype=np.int64)
    odd = pa.Array.from_buffers(pa.decimal128(12, 2), 1, [None, pa.py_buffer(words)])
    table = pa.table({"wide": wide, "odd": odd})
    assert narrow_decimals(table).equals(table)
    assert narrow_decimals(table).schema == table.schema

"""64-bit integers through the spill as 32-bit ones: narrowed where a batch's values fit,
written to a piece file, read back and restored, every column is the column read."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.cluster.spill import read_partition, write_partitioned
from settle.cluster.spill_decimals import DECIMAL_MARK, narrow_decimals, restore_decimals
from settle.cluster.spill_integers import INT64_MARK, narrow_integers, restore_integers

LOW, HIGH = -(1 << 31), (1 << 31) - 1
EDGES = [LOW - 1, LOW, -1, 0, 1, HIGH, HIGH + 1, -(1 << 63), (1 << 63) - 1]
VALUES = st.one_of(
    st.none(), st.sampled_from(EDGES), st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
)
SMALL = st.one_of(st.none(), st.integers(min_value=LOW, max_value=HIGH))


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    small=st.booleans(),
    start=st.integers(min_value=0, max_value=5),
)
def test_int64_columns_come_back_exactly_through_a_piece_file(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, small: bool, start: int
) -> None:
    values = data.draw(
        st.lists(SMALL if small else VALUES, min_size=6, max_size=30)
    )  # rows left after the slice
    metadata = {b"kept": b"yes"}
    table = pa.table(
        {
            "n": pa.array(values, pa.int64()),
            "other": pa.array([str(v) for v in values], pa.string()),
        },
        schema=pa.schema([pa.field("n", pa.int64(), metadata=metadata), pa.field("other", pa.string())]),
    ).slice(min(start, len(values)))
    narrowed = narrow_integers(table)
    fits = all(v is None or LOW <= v <= HIGH for v in table["n"].to_pylist())
    assert narrowed.schema.field("n").type == (pa.int32() if fits else pa.int64())
    assert narrowed["other"].equals(table["other"])
    path = tmp_path_factory.mktemp("spill") / "piece.arrow"
    write_partitioned(path, narrowed.schema, [(3, narrowed.combine_chunks())], [3], None)
    read = read_partition(path, 3)
    assert read is not None
    restored = restore_integers(read)
    assert restored.equals(table)
    assert restored.schema.field("n").metadata == metadata


def test_boundaries_by_hand() -> None:
    """2^31 - 1 and -2^31 fit 32 bits; one more either way keeps the batch's column 64-bit."""
    fits = pa.table({"n": pa.array([LOW, None, HIGH], pa.int64())})
    assert narrow_integers(fits).schema.field("n").type == pa.int32()
    assert narrow_integers(fits).schema.field("n").metadata == {INT64_MARK: b"1"}
    for outside in (LOW - 1, HIGH + 1):
        table = pa.table({"n": pa.array([0, outside], pa.int64())})
        assert narrow_integers(table).equals(table)
    nulls = pa.table({"n": pa.nulls(4, pa.int64())})
    assert restore_integers(narrow_integers(nulls)).equals(nulls)
    plain = pa.table({"n": pa.array([7], pa.int32())})  # an int32 column of the file: not marked
    assert restore_integers(plain).equals(plain)


def test_narrowed_decimals_narrow_again_and_restore_in_order() -> None:
    """Amounts go decimal -> unscaled int64 -> int32 on the way out, and back in reverse: the
    decimal mark rides through the integer narrowing."""
    amounts = pa.array([Decimal("12.34"), None, Decimal("-21474836.48")], pa.decimal128(12, 2))
    table = pa.table({"paid_amount": amounts})
    narrowed = narrow_integers(narrow_decimals(table))
    field = narrowed.schema.field("paid_amount")
    assert field.type == pa.int32()
    assert DECIMAL_MARK in field.metadata and INT64_MARK in field.metadata
    assert narrowed["paid_amount"].to_pylist() == [1234, None, -2147483648]
    assert restore_decimals(restore_integers(narrowed)).equals(table)

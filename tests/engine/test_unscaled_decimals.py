"""Decimal amounts given as their unscaled integers (the cluster's spill) validate exactly as
the decimals: the same accepted rows and cents, the same rejects, whatever the precision and
scale (amounts of at most two places and 15 whole digits are read as cents directly, any
other decimal is rebuilt first)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.engine.schemas import TABLES
from settle.engine.unscaled_decimals import UNSCALED_MARK, restore_decimals, unscaled_money_scales
from settle.engine.validate import validate_batches
from settle.engine.validate_cross import id_set
from settle.engine.validate_parse import parser_for

MEMBERS = id_set(["0001"])
NPIS = id_set(["0123456789"])
AMOUNTS = ("paid_amount", "allowed_amount")


def _claims(rows: int, first_row: int) -> dict[str, pa.Array]:
    return {
        "claim_id": pa.array([f"C{first_row + i}" for i in range(rows)]),
        "claim_line_number": pa.array([1] * rows, pa.int64()),
        "claim_type": pa.array(["professional"] * rows),
        "member_id": pa.array(["0001"] * rows),
        "claim_start_date": pa.array(["2025-01-05"] * rows),
        "paid_date": pa.array(["2025-02-01"] * rows),
        "rendering_npi": pa.array(["0123456789"] * rows),
        "billing_tin": pa.array(["012345678"] * rows),
    }


def _batch(amounts: dict[str, pa.Array], first_row: int) -> pa.Table:
    rows = len(next(iter(amounts.values())))
    cols = {**_claims(rows, first_row), **amounts}
    cols["_source_file"] = pa.array(["f"] * rows)
    cols["_row_number"] = pa.array(range(first_row, first_row + rows), pa.int64())
    return pa.table(cols)


def _marked(table: pa.Table, precision: int, scale: int) -> pa.Table:
    """``table`` with its amount columns (unscaled int64) marked as decimal(precision, scale)."""
    out = table
    for name in AMOUNTS:
        at = out.schema.get_field_index(name)
        field = pa.field(name, pa.int64(), metadata={UNSCALED_MARK: f"{precision},{scale}".encode()})
        out = out.set_column(at, field, out.column(name))
    return out


def _validate(batches: list[pa.Table]) -> tuple[pa.Table, pa.Table]:
    tv = validate_batches("medical_claim", batches, members=MEMBERS, roster_npis=NPIS)
    return tv.accepted, tv.rejects


@settings(max_examples=60, deadline=None)
@given(data=st.data(), precision=st.integers(min_value=1, max_value=18))
def test_unscaled_amounts_validate_as_the_decimals(data: st.DataObject, precision: int) -> None:
    scale = data.draw(st.integers(min_value=0, max_value=min(precision, 4)))
    bound = 10**precision - 1
    cell = st.one_of(st.none(), st.integers(min_value=-bound, max_value=bound))
    paid = data.draw(st.lists(cell, min_size=1, max_size=12))
    allowed = data.draw(st.lists(cell, min_size=len(paid), max_size=len(paid)))
    typ = pa.decimal128(precision, scale)

    def decimals(values: list[int | None]) -> pa.Array:
        return pa.array([None if v is None else Decimal(v).scaleb(-scale) for v in values], typ)

    as_decimals = _batch({"paid_amount": decimals(paid), "allowed_amount": decimals(allowed)}, 1)
    as_unscaled = _marked(
        _batch(
            {"paid_amount": pa.array(paid, pa.int64()), "allowed_amount": pa.array(allowed, pa.int64())}, 1
        ),
        precision,
        scale,
    )
    expected_accepted, expected_rejects = _validate([as_decimals])
    accepted, rejects = _validate([as_unscaled])
    assert accepted.equals(expected_accepted)
    assert rejects.equals(expected_rejects)
    fast = unscaled_money_scales(as_unscaled, AMOUNTS)
    assert fast == ({n: scale for n in AMOUNTS} if scale <= 2 and precision - scale <= 15 else {})


def test_cents_by_hand_and_an_integer_column_of_dollars_is_not_taken_for_unscaled_cents() -> None:
    # decimal(12, 2): 12.34 and 0.05 given as 1234 and 5; then a file whose amounts are whole
    # dollars in an int64 column (unmarked): 12 dollars.  The two must not be read alike.
    unscaled = _marked(_batch({n: pa.array([1234, 5], pa.int64()) for n in AMOUNTS}, 1), 12, 2)
    dollars = _batch({n: pa.array([12], pa.int64()) for n in AMOUNTS}, 3)
    accepted, rejects = _validate([unscaled, dollars])
    assert rejects.num_rows == 0
    assert accepted["paid_cents"].to_pylist() == [1234, 5, 1200]
    assert accepted["allowed_cents"].to_pylist() == [1234, 5, 1200]
    # decimal(5, 0) and decimal(6, 1): 7 dollars is 700 cents, 0.5 dollars 50 cents.
    whole = _marked(_batch({n: pa.array([7], pa.int64()) for n in AMOUNTS}, 1), 5, 0)
    tenths = _marked(_batch({n: pa.array([5], pa.int64()) for n in AMOUNTS}, 2), 6, 1)
    accepted, _ = _validate([whole, tenths])
    assert accepted["paid_cents"].to_pylist() == [700, 50]


def test_other_marked_columns_are_rebuilt_as_their_decimals() -> None:
    field = pa.field("x", pa.int64(), metadata={UNSCALED_MARK: b"18,4"})
    table = pa.table([pa.array([123456, None, -1], pa.int64())], schema=pa.schema([field]))
    restored = restore_decimals(table)
    assert restored.schema.field("x").type == pa.decimal128(18, 4)
    assert restored["x"].to_pylist() == [Decimal("12.3456"), None, Decimal("-0.0001")]
    assert restore_decimals(table, keep={"x"}).equals(table)


def test_the_text_of_an_unscaled_amount_is_the_decimals_text() -> None:
    paid = TABLES["medical_claim"].column("paid_cents")
    values = [-5, 1234, 700, 0, -123456, None]
    for scale in (0, 1, 2):
        frame = pl.DataFrame({"raw": pl.Series(values, dtype=pl.Int64)})
        text = frame.select(parser_for(paid, "raw", pl.Int64(), unscaled=scale).text()).to_series()
        as_decimal = pl.Series(
            [None if v is None else Decimal(v).scaleb(-scale) for v in values], dtype=pl.Decimal(18, scale)
        ).cast(pl.String)
        assert text.to_list() == as_decimal.to_list(), scale

"""The duplicate-line check against a plain-Python reference: of the rows sharing a duplicate
key, all but the first by (file, row) are rejected, whatever the key hash does (the hash only
picks candidates, which are then compared exactly: a hash where every row collides gives the
same result)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.engine import validate_cross
from settle.engine.keys import key_hash
from settle.engine.validate_cross import DUPLICATE_KEYS, check_table_frame

KEYS = DUPLICATE_KEYS["medical_claim"]

rows = st.lists(
    st.tuples(
        st.sampled_from(["C1", "C2", "C10"]),  # claim_id
        st.sampled_from([1, 2, None]),  # claim_line_number
        st.sampled_from([dt.date(2025, 1, 1), dt.date(2025, 1, 2)]),  # paid_date
        st.sampled_from([100, 0, 1]),  # paid_cents (never negative: no reversal rejects)
        st.sampled_from([100, 12_000]),  # allowed_cents
        st.sampled_from(["a.parquet", "b.parquet"]),  # _source_file
    ),
    max_size=40,
)


def _frame(values: list[tuple[object, ...]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        values,
        schema={
            "claim_id": pl.String,
            "claim_line_number": pl.Int64,
            "paid_date": pl.Date,
            "paid_cents": pl.Int64,
            "allowed_cents": pl.Int64,
            "_source_file": pl.String,
        },
        orient="row",
    )
    # Row numbers count within each file, in the list's order; the frame itself is shuffled
    # by reversing, so "first" must come from (file, row) and not from the frame's order.
    return frame.with_columns(
        pl.int_range(1, pl.len() + 1).over("_source_file").alias("_row_number")
    ).reverse()


def _expected_rejects(frame: pl.DataFrame) -> set[tuple[str, int]]:
    seen: set[tuple[object, ...]] = set()
    rejected = set()
    for row in frame.sort("_source_file", "_row_number").iter_rows(named=True):
        key = tuple(row[k] for k in KEYS)
        if key in seen:
            rejected.add((row["_source_file"], row["_row_number"]))
        seen.add(key)
    return rejected


def _rejected(frame: pl.DataFrame) -> set[tuple[str, int]]:
    good, bad = check_table_frame(frame, "medical_claim")
    assert good.height + bad.height == frame.height
    assert set(bad["reason"]) <= {"duplicate_line"}
    return {(str(f), int(r)) for f, r in zip(bad["source_file"], bad["row_number"], strict=True)}


@settings(max_examples=60)
@given(rows)
def test_duplicates_match_the_reference(values: list[tuple[object, ...]]) -> None:
    frame = _frame(values)
    assert _rejected(frame) == _expected_rejects(frame)


@settings(max_examples=30)
@given(rows)
def test_a_hash_where_every_row_collides_changes_nothing(values: list[tuple[object, ...]]) -> None:
    frame = _frame(values)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            validate_cross, "key_hash", lambda keys, first_seed=1: pl.repeat(7, pl.len(), dtype=pl.UInt64)
        )
        colliding = _rejected(frame)
    assert colliding == _expected_rejects(frame)


@settings(max_examples=30)
@given(rows, st.integers(min_value=1, max_value=len(KEYS) - 1))
def test_a_keys_hash_extends_the_hash_of_its_first_columns(
    values: list[tuple[object, ...]], cut: int
) -> None:
    frame = _frame(values)
    whole = frame.select(key_hash(KEYS)).to_series()
    extended = frame.select(key_hash(KEYS[:cut]) ^ key_hash(KEYS[cut:], first_seed=1 + cut)).to_series()
    assert whole.to_list() == extended.to_list()
    if frame.height and cut < len(KEYS) - 1:  # the seed counts: another seed, another hash
        shifted = frame.select(key_hash(KEYS[:cut]) ^ key_hash(KEYS[cut:], first_seed=2 + cut)).to_series()
        assert shifted.to_list() != whole.to_list()

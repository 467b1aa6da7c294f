"""Key hashes and repeated values: the values that occur more than once, whatever the type,
nulls and extremes (the numpy path for integers without nulls, Polars' otherwise)."""

from __future__ import annotations

from collections import Counter

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.engine.keys import key_hash, repeated_values

_U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


def _expected(values: list[int | None]) -> list[int]:
    return sorted(v for v, n in Counter(values).items() if n > 1 and v is not None)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_U64, st.sampled_from([0, 1, (1 << 64) - 1])), max_size=40))
def test_repeated_hashes_are_exactly_the_values_seen_twice(values: list[int | None]) -> None:
    found = repeated_values(pl.Series("h", values, dtype=pl.UInt64))
    assert found.dtype == pl.UInt64 and found.name == "h"
    assert sorted(found.to_list()) == _expected(values)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=30))
def test_a_column_with_nulls_takes_the_other_path_with_the_same_rule(values: list[int | None]) -> None:
    found = repeated_values(pl.Series("v", values, dtype=pl.Int64))
    assert sorted(v for v in found.to_list() if v is not None) == _expected(values)


def test_text_values_and_short_series() -> None:
    assert sorted(repeated_values(pl.Series(["b", "a", "b", "c", "a"])).to_list()) == ["a", "b"]
    assert repeated_values(pl.Series("h", [7], dtype=pl.UInt64)).len() == 0
    assert repeated_values(pl.Series("h", [], dtype=pl.UInt64)).len() == 0
    assert repeated_values(pl.Series("h", [3, 3, 3, 3], dtype=pl.UInt64)).to_list() == [3]


def test_equal_keys_hash_alike_and_the_hash_of_a_prefix_extends() -> None:
    df = pl.DataFrame({"a": ["x", "x", "y"], "b": [1, 1, 1], "c": [None, None, 2]})
    hashes = df.select(key_hash(["a", "b", "c"])).to_series().to_list()
    assert hashes[0] == hashes[1] != hashes[2]
    extended = df.select(key_hash(["a"]) ^ key_hash(["b", "c"], first_seed=2)).to_series().to_list()
    assert extended == hashes

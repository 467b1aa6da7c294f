"""Strict parsing of single columns: money, dates, numbers, flags and codes, from text and typed columns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from settle.engine.money import dollars_to_cents
from settle.engine.schemas import TABLES, Column
from settle.engine.validate_parse import (
    canonical_dictionary_columns,
    canonical_identifier_columns,
    canonical_text_columns,
    parser_for,
)
from settle.engine.validate_rows import frame_with_text_codes

PAID = TABLES["medical_claim"].column("paid_cents")


def parse(column: Column, values: list[Any], dtype: pa.DataType | None = None) -> tuple[list[Any], list[Any]]:
    """(canonical values, overflow flags or []) of a raw column, through prep then value."""
    frame = pl.from_arrow(pa.table({"raw": pa.array(values, dtype)}))
    assert isinstance(frame, pl.DataFrame)
    parser = parser_for(column, "raw", frame.schema["raw"])
    prepared = frame.select(parser.prep().alias("p"))
    value = prepared.select(parser.value(pl.col("p"))).to_series().to_list()
    overflow = parser.overflow(pl.col("p"))
    flags = prepared.select(overflow).to_series().to_list() if overflow is not None else []
    return value, flags


def test_money_text_is_parsed_strictly_to_cents() -> None:
    values, _ = parse(
        PAID,
        [
            "12",
            "12.",
            " 12.5 ",
            "12.50",
            "12.5000",
            ".5",
            "-.05",
            "+3.1",
            "-0.00",
            "1,000",
            "$5",
            "1e3",
            "12.345",
            ".",
            "-",
            "",
            None,
            "--1",
            "1.2.3",
        ],
    )
    # Cents by hand: 12 -> 1200; 12.5 -> 1250; .5 -> 50; -.05 -> -5; +3.1 -> 310; the rest are
    # malformed (separators, currency, exponent, a fraction of a cent) or empty.
    assert values == [1200, 1200, 1250, 1250, 1250, 50, -5, 310, 0] + [None] * 10


def test_money_too_large_for_cents_is_flagged_as_overflow_not_malformed() -> None:
    values, overflow = parse(PAID, ["999999999999999.99", "1000000000000000", "-1234567890123456789.00"])
    assert values == [99999999999999999, None, None]
    assert overflow == [False, True, True]


def test_money_from_typed_parquet_columns() -> None:
    assert parse(PAID, [Decimal("10.50"), Decimal("-0.01"), None], pa.decimal128(12, 2))[0] == [
        1050,
        -1,
        None,
    ]
    # decimal(17, 2) has at most 15 whole-dollar digits, so it is never out of range (no flags);
    # decimal(20, 2) can be: 10**15 dollars do not fit the check's bound.
    big = Decimal("999999999999999.99")
    assert parse(PAID, [big, -big, None], pa.decimal128(17, 2)) == (
        [99999999999999999, -99999999999999999, None],
        [],
    )
    assert parse(PAID, [big, Decimal("1000000000000000.00")], pa.decimal128(20, 2)) == (
        [99999999999999999, None],
        [False, True],
    )
    # Scale 4: extra digits must be zeros: 1.2300 -> 123 cents; 1.2345 is a fraction of a cent.
    assert parse(PAID, [Decimal("1.2300"), Decimal("1.2345")], pa.decimal128(18, 4))[0] == [123, None]
    assert parse(PAID, [7, -2], pa.int32())[0] == [700, -200]  # whole dollars
    # Floats: 0.1 + 0.2 holds 30.000000000000004 cents, within tolerance; 0.125 is half a cent.
    assert parse(PAID, [0.1 + 0.2, 0.125, float("nan"), float("inf")], pa.float64())[0] == [
        30,
        None,
        None,
        None,
    ]


@settings(max_examples=200)
@given(st.text(alphabet="0123456789.+-e, $", max_size=12))
@example("")
@example("00012.10")
def test_money_text_agrees_with_the_scalar_parser(text: str) -> None:
    try:
        expected: int | None = dollars_to_cents(text) if text.strip() else None
    except ValueError:
        expected = None
    values, overflow = parse(PAID, [text])
    if overflow and overflow[0]:
        assert expected is not None and abs(expected) >= 10**17
    else:
        assert values == [expected]


@given(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1))
def test_cents_written_as_dollars_parse_back(cents: int) -> None:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    assert parse(PAID, [f"{sign}{whole}.{frac:02d}"])[0] == [cents]


START = TABLES["eligibility"].column("enrollment_start_date")


def test_dates_are_iso_calendar_days_only() -> None:
    values, _ = parse(
        START,
        [
            "2025-01-05",
            " 2024-02-29 ",
            "2025-02-29",
            "2025-1-5",
            "05/01/2025",
            "2025-01-05T00:00",
            "20250105",
        ],
    )
    assert values == [dt.date(2025, 1, 5), dt.date(2024, 2, 29), None, None, None, None, None]


def test_dates_from_typed_parquet_columns() -> None:
    assert parse(START, [dt.date(2025, 1, 5)], pa.date32())[0] == [dt.date(2025, 1, 5)]
    assert parse(START, [dt.datetime(2025, 1, 5, 23, 59)], pa.timestamp("us"))[0] == [dt.date(2025, 1, 5)]
    # 03:00 UTC on 5 January is still 4 January in New York: the date in the column's own zone.
    ts = pa.array([dt.datetime(2025, 1, 5, 3, 0)], pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("us", tz="America/New_York")
    )
    frame = pl.from_arrow(pa.table({"raw": ts}))
    assert isinstance(frame, pl.DataFrame)
    parser = parser_for(START, "raw", frame.schema["raw"])
    assert frame.select(parser.value(parser.prep())).to_series().to_list() == [dt.date(2025, 1, 4)]


def test_integers_floats_and_flags() -> None:
    line = TABLES["medical_claim"].column("claim_line_number")
    assert parse(line, ["1", "+2", "-3", "1.0", "1e2", "x"])[0] == [1, 2, -3, None, None, None]
    assert parse(line, [1.0, 1.5], pa.float64())[0] == [1, None]
    score = TABLES["quality"].column("score")
    assert (
        parse(score, ["0.5", "1", ".25", "1e-1", "nan", "inf", "half"])[0]
        == [0.5, 1.0, 0.25, 0.1] + [None] * 3
    )
    met = TABLES["quality"].column("met_standard")
    assert parse(met, ["TRUE", "f", "Yes", "n", "1", "0", "maybe"])[0] == [
        True,
        False,
        True,
        False,
        True,
        False,
        None,
    ]
    assert parse(met, [1, 0, 2], pa.int8())[0] == [True, False, None]


def test_codes_have_their_formats() -> None:
    npi = TABLES["medical_claim"].column("rendering_npi")
    assert parse(npi, ["0123456789", "123456789", "012345678X"])[0] == ["0123456789", None, None]
    # An integer NPI lost its leading zero; a fixed-width code gets it back.
    assert parse(npi, [123456789], pa.int64())[0] == ["0123456789"]
    tin = TABLES["roster"].column("tin")
    assert parse(tin, ["12-3456789", "123-45-6789", "12345678"])[0] == ["123456789", "123456789", None]
    hcpcs = TABLES["medical_claim"].column("hcpcs_code")
    assert parse(hcpcs, ["99213", "g0439", "99-13", "9921"])[0] == ["99213", "G0439", None, None]
    pos = TABLES["medical_claim"].column("place_of_service_code")
    assert parse(pos, ["11", "2", "1A"])[0] == ["11", "02", None]
    kind = TABLES["medical_claim"].column("claim_type")
    assert parse(kind, ["Professional", "INSTITUTIONAL", "dental"])[0] == [
        "professional",
        "institutional",
        None,
    ]
    member = TABLES["eligibility"].column("member_id")
    assert parse(member, [" 00017 ", "A-1"])[0] == ["00017", "A-1"]
    assert parse(member, [17], pa.int64())[0] == ["17"]  # no width is known: zeros cannot come back


_CODE_COLUMNS = {
    name: TABLES["medical_claim"].column(name)
    for name in (
        "rendering_npi",
        "rendering_tin",
        "hcpcs_code",
        "place_of_service_code",
        "claim_type",
        "data_source",
    )
}
_CODE_TEXT = st.one_of(
    st.sampled_from(
        [
            "1234567890",
            "123456789",
            "12-3456789",
            "99213",
            "g0402",
            "G0402",
            "11",
            "1",
            " 11",
            "",
            "professional",
            "Professional",
            "institutional",
            " institutional",
            "x",
            "12345678901",
            "feed\t",
            "\u00a0feed",
        ]
    ),
    st.text(alphabet="0123456789-AaGg ", max_size=11),
)


def _parse_with(column: Column, values: list[str | None], canonical: bool) -> list[Any]:
    frame = pl.from_arrow(pa.table({"raw": pa.array(values, pa.string())}))
    assert isinstance(frame, pl.DataFrame)
    parser = parser_for(column, "raw", frame.schema["raw"], canonical=canonical)
    return frame.select(parser.value(parser.prep()).alias("v")).to_series().to_list()


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(_CODE_COLUMNS)),
    values=st.lists(st.one_of(st.none(), _CODE_TEXT), max_size=12),
)
def test_the_canonical_fast_path_parses_exactly_as_the_full_parse(
    name: str, values: list[str | None]
) -> None:
    """A column is taken as it is only when every cell already is what the full parse makes
    of it; otherwise the full parse runs.  Either way the values are the full parse's."""
    column = _CODE_COLUMNS[name]
    frame = pl.from_arrow(pa.table({"raw": pa.array(values, pa.string())}))
    assert isinstance(frame, pl.DataFrame)
    fast = "raw" in canonical_text_columns(frame, {"raw": column})
    full = _parse_with(column, values, canonical=False)
    assert _parse_with(column, values, canonical=fast) == full
    if fast:  # every present cell parsed to itself
        assert full == values


def test_canonical_columns_are_found_only_when_every_cell_is_canonical() -> None:
    tin = TABLES["medical_claim"].column("rendering_tin")
    kind = TABLES["medical_claim"].column("claim_type")

    def found(column: Column, values: list[str | None]) -> bool:
        frame = pl.from_arrow(pa.table({"raw": pa.array(values, pa.string())}))
        assert isinstance(frame, pl.DataFrame)
        return "raw" in canonical_text_columns(frame, {"raw": column})

    assert found(tin, ["123456789", None, "987654321"])
    assert not found(tin, ["123456789", "12-3456789"])  # hyphens are removed by the full parse
    assert not found(tin, ["123456789", " 123456789"])  # white space is stripped by it
    assert not found(tin, ["123456789", ""])  # an empty cell is missing, not canonical
    assert found(kind, ["professional", "institutional"])
    assert not found(kind, ["professional", "Institutional"])


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(_CODE_COLUMNS)),
    values=st.lists(st.one_of(st.none(), _CODE_TEXT), max_size=12),
    unused=st.lists(_CODE_TEXT, max_size=3),
)
def test_the_dictionary_fast_path_parses_exactly_as_the_full_parse(
    name: str, values: list[str | None], unused: list[str]
) -> None:
    """A dictionary-encoded column (whose dictionary may hold values no row uses, as a
    partition task's does) is taken as it is only when every dictionary value is canonical;
    its values are then the full parse's of the same cells as text."""
    column = _CODE_COLUMNS[name]
    dictionary = pa.array(list(dict.fromkeys([*(v for v in values if v is not None), *unused])), pa.string())
    lookup = {v: i for i, v in enumerate(dictionary.to_pylist())}
    indices = pa.array([None if v is None else lookup[v] for v in values], pa.int32())
    encoded = pa.table({"raw": pa.DictionaryArray.from_arrays(indices, dictionary)})
    fast = "raw" in canonical_dictionary_columns(encoded, {"raw": column})
    full = _parse_with(column, values, canonical=False)
    assert _parse_with(column, values, canonical=fast) == full
    if fast:
        assert full == values
        text = pl.DataFrame({"raw": values}, schema={"raw": pl.String})
        if column.kind == "id":  # the text fast path knows codes only, not labels
            assert not values or "raw" in canonical_text_columns(
                text, {"raw": column}
            )  # never looser than text


def test_a_dictionary_is_canonical_only_when_every_value_is() -> None:
    tin = TABLES["medical_claim"].column("rendering_tin")
    kind = TABLES["medical_claim"].column("claim_type")

    def found(column: Column, dictionary: list[str], used: list[int | None]) -> bool:
        array = pa.DictionaryArray.from_arrays(pa.array(used, pa.int32()), pa.array(dictionary, pa.string()))
        return "raw" in canonical_dictionary_columns(pa.table({"raw": array}), {"raw": column})

    assert found(tin, ["123456789", "987654321"], [0, None, 1])
    assert not found(tin, ["123456789", "12-3456789"], [0, 0])  # an unused value still counts
    assert not found(tin, ["123456789", " 123456789"], [0, 1])
    assert not found(tin, ["123456789", ""], [0])
    assert not found(tin, ["١٢٣٤٥٦٧٨٩"], [0])  # Arabic-Indic digits: left to the full parse
    assert found(kind, ["professional", "institutional"], [1, 0])
    assert not found(kind, ["professional", "Institutional"], [0])
    label = TABLES["medical_claim"].column("data_source")
    assert found(label, ["feed", "EHR export 2"], [0, 1, None])
    assert not found(label, ["feed", "feed "], [0])  # stripped by the full parse
    assert not found(label, ["feed", "\u2003feed"], [0])  # Unicode white space too
    assert not found(label, ["feed", ""], [0])  # an empty cell is missing
    plain = pa.table({"raw": pa.array(["123456789"])})
    assert canonical_dictionary_columns(plain, {"raw": tin}) == set()  # text columns: not this check


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(
        st.tuples(
            st.lists(st.sampled_from(["1234567890", "feed", "", " x", "é"]), unique=True, max_size=4),
            st.lists(st.integers(min_value=-1, max_value=3), max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_code_columns_decode_to_the_text_of_their_own_chunk_dictionary(
    chunks: list[tuple[list[str], list[int]]],
) -> None:
    """Each chunk of a code column may carry its own dictionary (a spill piece's, cut to the
    values its rows use): every cell decodes through its own chunk's, a null index stays
    null, and every other column (``_source_file`` included) comes through as Polars reads it."""
    arrays, want = [], []
    for dictionary, picks in chunks:
        indices = [None if i < 0 or i >= len(dictionary) else i for i in picks]
        arrays.append(
            pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(dictionary, pa.string()))
        )
        want += [None if i is None else dictionary[i] for i in indices]
    rows = len(want)
    source = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["f.parquet"]))
    raw = pa.table(
        {
            "rendering_npi": pa.chunked_array(arrays, pa.dictionary(pa.int32(), pa.string())),
            "claim_id": pa.array([f"c{i}" for i in range(rows)]),
            "_source_file": source,
        }
    )
    frame = frame_with_text_codes(raw)
    assert frame.columns == ["rendering_npi", "claim_id", "_source_file"]
    assert frame.schema["rendering_npi"] == pl.String
    assert frame["rendering_npi"].to_list() == want
    assert frame["claim_id"].to_list() == [f"c{i}" for i in range(rows)]
    assert frame.schema["_source_file"] == pl.from_arrow(raw.select(["_source_file"])).schema["_source_file"]


_ID_TEXT = st.one_of(
    st.sampled_from(
        ["M0001", "C-17", "", " M1", "M1 ", "\tM1", "M1\u00a0", "\u2003M1", "ü1", "1ü", "a", "~"]
    ),
    st.text(max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(
    column_name=st.sampled_from(["member_id", "claim_id"]),
    chunks=st.lists(st.lists(st.one_of(st.none(), _ID_TEXT), max_size=6), min_size=1, max_size=3),
    cut=st.integers(min_value=0, max_value=2),
)
def test_identifiers_are_taken_as_they_are_only_when_the_full_parse_changes_nothing(
    column_name: str, chunks: list[list[str | None]], cut: int
) -> None:
    """Member and claim ids whose every cell starts and ends with printable ASCII skip the
    stripping parse; the values are then exactly the full parse's, on any chunking and on a
    slice of an array (offsets not at zero)."""
    column = TABLES["medical_claim"].column(column_name)
    arrays = [pa.array(values, pa.string()) for values in chunks]
    arrays[0] = arrays[0].slice(min(cut, len(arrays[0])))
    values = [v for a in arrays for v in a.to_pylist()]
    raw = pa.table({"raw": pa.chunked_array(arrays, pa.string())})
    fast = "raw" in canonical_identifier_columns(raw, {"raw": column})
    full = _parse_with(column, values, canonical=False)
    plain = all(v != "" and "!" <= v[0] <= "~" and "!" <= v[-1] <= "~" for v in values if v is not None)
    assert fast == (bool(values) and plain)
    if fast:
        assert full == values
        assert _parse_with(column, values, canonical=True) == full


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(min_value=1, max_value=5),
    cells=st.lists(st.text(alphabet="M0-~ \t\u00e9", min_size=5, max_size=5), min_size=1, max_size=8),
    cut=st.integers(min_value=0, max_value=2),
)
def test_identifiers_of_one_length_are_judged_as_any_others(width: int, cells: list[str], cut: int) -> None:
    """Ids of one byte length take the strided path: it accepts exactly what the rule accepts
    (a space, tab or multi-byte character at either end sends the column to the full parse),
    on a slice of an array too."""
    member = TABLES["medical_claim"].column("member_id")
    values = [c[:width] for c in cells]
    array = pa.array(values, pa.string())
    array = array.slice(min(cut, len(array) - 1))
    kept = array.to_pylist()
    found = "raw" in canonical_identifier_columns(pa.table({"raw": array}), {"raw": member})
    assert found == all("!" <= v[0] <= "~" and "!" <= v[-1] <= "~" for v in kept)


def test_an_identifier_with_any_doubtful_end_goes_through_the_full_parse() -> None:
    member = TABLES["medical_claim"].column("member_id")

    def found(values: list[str | None]) -> bool:
        return "raw" in canonical_identifier_columns(
            pa.table({"raw": pa.array(values, pa.string())}), {"raw": member}
        )

    assert found(["M1", None, "M-2", "~x!"])
    assert found([None, None])
    assert not found(["M1", ""])  # empty: missing
    assert not found(["M1", " M2"])
    assert not found(["M1", "M2\t"])
    assert not found(["M1", "M2\u00a0"])  # may be white space: left to the full parse
    assert not found(["M1", "é"])
    assert "raw" not in canonical_identifier_columns(
        pa.table({"raw": pa.array(["1234567890"])}), {"raw": TABLES["medical_claim"].column("rendering_npi")}
    )  # a code with a format: not this check

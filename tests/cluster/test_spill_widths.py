"""Narrow piece columns: whatever the task's rows, a table narrowed to the schema its widths
allow, written to a piece file, read back and widened is the table split; and the widths
chosen are the narrowest that hold the rows (hand-computed)."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.cluster.spill import read_partition, write_partitioned
from settle.cluster.spill_integers import INT64_MARK
from settle.cluster.spill_widths import TEXT_MARK, SpillWidths, fitted, index_type, narrow, widen
from settle.cluster.task_codes import CODE_MARK

MARKED = {INT64_MARK: b"1"}
IDS = st.one_of(
    st.none(),
    st.text(alphabet="MCé0123456789", min_size=0, max_size=4),
    st.sampled_from(["M0001", "M0002", "C0003"]),  # five bytes, like most of a book's ids
)
INTS = st.one_of(
    st.none(), st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1), st.integers(-200, 200)
)


def _schema(text_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            pa.field("member_id", text_type),
            pa.field("claim_line_number", pa.int32(), metadata=MARKED),
            pa.field("hcpcs_code", pa.dictionary(pa.int32(), pa.string())),
            pa.field("plain", pa.int32()),  # an int32 column of the file: never narrowed
            pa.field("paid_date", pa.date32(), metadata={b"kept": b"yes"}),
        ]
    )


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    text_type=st.sampled_from([pa.string(), pa.large_string()]),
    dictionary_length=st.sampled_from([1, 128, 129, 1 << 15, (1 << 15) + 1, 1 << 16, (1 << 16) + 1]),
    batches=st.integers(min_value=1, max_value=3),
    start=st.integers(min_value=0, max_value=3),
)
def test_a_piece_narrowed_and_widened_is_the_rows_split(
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
    text_type: pa.DataType,
    dictionary_length: int,
    batches: int,
    start: int,
) -> None:
    dictionary = pa.array([f"c{i}" for i in range(dictionary_length)])
    widths, tables = SpillWidths(), []
    for _ in range(batches):  # the task's batches: widths cover every one of them
        rows = data.draw(
            st.lists(
                st.tuples(IDS, INTS, st.none() | st.integers(0, dictionary_length - 1)),
                min_size=5,
                max_size=20,
            )
        )
        ids, numbers, codes = zip(*rows, strict=True)
        table = pa.Table.from_arrays(
            [
                pa.array(ids, text_type),
                pa.array(numbers, pa.int32()),
                pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary),
                pa.array(numbers, pa.int32()),
                pa.array(numbers, pa.int32()).view(pa.date32()),
            ],
            schema=_schema(text_type),
        ).slice(start)
        widths.observe(table)
        tables.append(table)
    schema = widths.schema(tables[0].schema, {"hcpcs_code": dictionary_length})
    path = tmp_path_factory.mktemp("spill") / "piece.arrow"
    parts = [(p, narrow(t.combine_chunks(), schema)) for p, t in enumerate(tables)]
    write_partitioned(path, schema, parts, list(range(len(tables))), None)
    for p, table in enumerate(tables):
        read = read_partition(path, p)
        assert read is not None
        widened = widen(read)
        assert widened.schema.equals(table.schema, check_metadata=True)
        assert widened.equals(table)


def test_the_narrowest_widths_by_hand() -> None:
    assert [index_type(n) for n in (1, 128, 129, 32768, 32769, 65536, 65537)] == [
        pa.int8(),
        pa.int8(),
        pa.int16(),
        pa.int16(),
        pa.uint16(),
        pa.uint16(),
        pa.int32(),
    ]
    widths = SpillWidths()
    table = pa.table(
        {
            "a": pa.array(["M01", "M02"]),
            "b": pa.array(["M01", "M2"]),  # two lengths
            "c": pa.array(["M01", None]),  # a null
            "d": pa.array(["", ""]),  # empty text stays text
            "small": pa.array([-128, 127], pa.int32()),
            "short": pa.array([-129, 5], pa.int32()),
            "wide": pa.array([0, 1 << 15], pa.int32()),
        }
    )
    table = table.cast(
        pa.schema(
            [f.with_metadata(MARKED) if f.name in ("small", "short", "wide") else f for f in table.schema]
        )
    )
    widths.observe(table)
    widths.observe(pa.table({"a": pa.array(["M03"])}))  # a later batch of the same width
    schema = widths.schema(table.schema, {})
    assert schema.field("a").type == pa.binary(3) and schema.field("a").metadata == {TEXT_MARK: b"string"}
    assert [schema.field(n).type for n in "bcd"] == [pa.string()] * 3
    assert [schema.field(n).type for n in ("small", "short", "wide")] == [pa.int8(), pa.int16(), pa.int32()]
    # Dates as int16 days from 1880-04-14 (-32,768) to 2059-09-18 (32,767), not a day further.
    first, last = datetime.date(1880, 4, 14), datetime.date(2059, 9, 18)
    dates = SpillWidths()
    dates.observe(pa.table({"d": pa.array([first, None, last])}))
    assert dates.schema(pa.schema([pa.field("d", pa.date32())]), {}).field("d").type == pa.int16()
    for outside in (first - datetime.timedelta(days=1), last + datetime.timedelta(days=1)):
        dates = SpillWidths()
        dates.observe(pa.table({"d": pa.array([first, outside, last])}))
        assert dates.schema(pa.schema([pa.field("d", pa.date32())]), {}).field("d").type == pa.date32()
    widths.observe(pa.table({"a": pa.array(["M0004"])}))  # another length: text from now on
    assert widths.schema(table.schema, {}).field("a").type == pa.string()


def test_a_table_never_narrowed_is_widened_to_itself() -> None:
    table = pa.table({"x": pa.array(["a", "bb"]), "n": pa.array([1, 2], pa.int16())})
    assert widen(table) is table


@settings(max_examples=120, deadline=None)
@given(
    data=st.data(),
    text_type=st.sampled_from([pa.string(), pa.large_string()]),
    lengths=st.lists(
        st.sampled_from([1, 128, 129, 1 << 15, (1 << 15) + 1, (1 << 16) + 1]), min_size=1, max_size=4
    ),
)
def test_rows_carried_narrow_while_the_widths_grow_fit_the_widths_at_the_end(
    data: st.DataObject, text_type: pa.DataType, lengths: list[int]
) -> None:
    """The split carries each batch as narrow as the task's rows so far allow; a batch carried
    before a later one widened a column (a longer id, a bigger number, a date out of range, a
    dictionary grown past an index type) converts to exactly what carrying it at the end would
    give."""
    schema = pa.schema(
        [
            pa.field("member_id", text_type),
            pa.field("claim_line_number", pa.int32(), metadata=MARKED),
            pa.field("rendering_npi", pa.int32(), metadata=CODE_MARK),
            pa.field("paid_date", pa.date32()),
        ]
    )
    widths, batches, carried = SpillWidths(), [], []
    for length in sorted(lengths):  # the task's dictionary only grows
        rows = data.draw(
            st.lists(st.tuples(IDS, INTS, st.none() | st.integers(0, length - 1)), min_size=1, max_size=12)
        )
        ids, numbers, codes = zip(*rows, strict=True)
        batch = pa.Table.from_arrays(
            [
                pa.array(ids, text_type),
                pa.array(numbers, pa.int32()),
                pa.array(codes, pa.int32()),
                pa.array(numbers, pa.int32()).view(pa.date32()),
            ],
            schema=schema,
        )
        widths.observe(batch)
        carried.append(widths.carried(batch, {"rendering_npi": length}))
        batches.append(batch)
    final = {"rendering_npi": max(lengths)}
    at_end = widths.carried_schema(schema, final)
    assert at_end.field("rendering_npi").type == index_type(max(lengths))
    for batch, early in zip(batches, carried, strict=True):
        fit = fitted(early, at_end, schema)
        expected = widths.carried(batch, final)
        assert fit.schema.equals(at_end, check_metadata=True)
        assert expected.schema.equals(at_end, check_metadata=True)
        assert fit.equals(expected)

"""TaskCodes: a task's code columns remapped into one growing dictionary per column decode to
exactly the values read, whatever dictionaries the batches came with."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.cluster.task_codes import TaskCodes, compact_dictionaries, join_pieces
from settle.engine.validate_parse import CANONICAL_KEY

VALUES = st.one_of(st.none(), st.sampled_from(["1234567890", "0000000001", "99213", "", "x"]))


def _dictionary_column(values: list[str | None], order: list[str]) -> pa.DictionaryArray:
    """``values`` encoded over a dictionary listing the distinct values in ``order`` first."""
    distinct = list(dict.fromkeys([*order, *(v for v in values if v is not None)]))
    index = {v: i for i, v in enumerate(distinct)}
    indices = pa.array([None if v is None else index[v] for v in values], pa.int32())
    return pa.DictionaryArray.from_arrays(indices, pa.array(distinct, pa.string()))


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(
        st.tuples(st.lists(VALUES, max_size=12), st.permutations(["99213", "x", "1234567890"])),
        min_size=1,
        max_size=5,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=12), max_size=5),
)
def test_encoded_slices_restore_to_the_values_read(
    batches: list[tuple[list[str | None], list[str]]], cuts: list[int]
) -> None:
    codes = TaskCodes()
    pieces: list[pa.Table] = []
    expected: list[str | None] = []
    for i, (values, order) in enumerate(batches):
        table = pa.table(
            {"npi": _dictionary_column(values, order), "n": pa.array(range(len(values)), pa.int64())}
        )
        encoded = codes.encode(table)
        assert encoded.schema.field("npi").type == pa.int32()
        cut = min(cuts[i] if i < len(cuts) else 0, len(values))
        pieces += [encoded.slice(0, cut), encoded.slice(cut)]  # held as slices, as the split does
        expected += values
    joined = pa.concat_tables(pieces).combine_chunks()
    restored = codes.restore(joined)
    assert restored.schema.equals(codes.schema(joined.schema))
    assert restored.schema.field("npi").type == pa.dictionary(pa.int32(), pa.string())
    assert restored["npi"].cast(pa.string()).to_pylist() == expected
    # The task's dictionary holds each value once.
    known = codes.values["npi"].to_pylist()
    assert len(known) == len(set(known))


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(VALUES, max_size=40),
    order=st.permutations(["99213", "x", "1234567890"]),
    start=st.integers(min_value=0, max_value=40),
    length=st.integers(min_value=0, max_value=40),
)
def test_encoding_a_sliced_chunk_with_nulls_keeps_every_rows_value(
    values: list[str | None], order: list[str], start: int, length: int
) -> None:
    """The remap skips the take's bounds and validity checks and puts the chunk's null bitmap
    back itself: a chunk that is a slice (its bitmap at an offset, as the Parquet reader's
    batches of a row group are) must come out with the same value, or null, in every row."""
    start = min(start, len(values))
    column = _dictionary_column(values, order).slice(start, length)
    expected = values[start : start + length]
    codes = TaskCodes()
    encoded = codes.encode(pa.table({"npi": column}))
    encoded["npi"].validate(full=True)
    assert encoded["npi"].null_count == sum(v is None for v in expected)
    assert codes.restore(encoded)["npi"].cast(pa.string()).to_pylist() == expected


def test_a_chunk_of_nulls_over_an_empty_dictionary_encodes_to_nulls() -> None:
    """A row group whose code column is all null is read with an empty dictionary: the remap
    has no index to take (its unchecked take must not read from the empty mapping)."""
    empty = pa.DictionaryArray.from_arrays(pa.nulls(3, pa.int32()), pa.array([], pa.string()))
    codes = TaskCodes()
    encoded = codes.encode(pa.table({"npi": empty}))
    assert encoded["npi"].to_pylist() == [None, None, None]
    assert codes.restore(encoded)["npi"].cast(pa.string()).to_pylist() == [None, None, None]


def test_a_plain_int32_column_of_a_code_columns_name_is_left_alone() -> None:
    """Another file of the task may hold the same column as plain integers: only columns that
    were encoded (marked in their field) are restored to dictionaries."""
    codes = TaskCodes()
    encoded = codes.encode(pa.table({"npi": pa.array(["b", "a"]).dictionary_encode()}))
    plain = pa.table({"npi": pa.array([7, 8], pa.int32())})
    assert not encoded.schema.equals(plain.schema, check_metadata=True)
    assert codes.restore(plain).equals(plain)
    assert codes.schema(plain.schema) == plain.schema
    assert codes.restore(encoded)["npi"].cast(pa.string()).to_pylist() == ["b", "a"]


@settings(max_examples=80, deadline=None)
@given(
    chunks=st.lists(
        st.tuples(st.lists(VALUES, max_size=6), st.lists(st.text(max_size=3), max_size=20)),
        min_size=1,
        max_size=4,
    )
)
def test_compacted_dictionaries_keep_every_rows_value_and_only_used_values(
    chunks: list[tuple[list[str | None], list[str]]],
) -> None:
    """Each chunk gets a dictionary with values no row uses (as a piece's batch does); after
    compacting, every row (nulls too) reads the same text, a chunk whose dictionary was longer
    than its rows keeps only used values, in the old dictionary's order, and another column is
    untouched."""
    arrays = [_dictionary_column(values, unused) for values, unused in chunks]
    table = pa.table(
        {
            "npi": pa.chunked_array(arrays, pa.dictionary(pa.int32(), pa.string())),
            "n": pa.chunked_array([pa.array(range(len(a)), pa.int64()) for a in arrays]),
        }
    )
    compacted = compact_dictionaries(table)
    assert compacted.schema == table.schema
    assert compacted["npi"].cast(pa.string()).to_pylist() == table["npi"].cast(pa.string()).to_pylist()
    assert compacted["n"].equals(table["n"])
    for before, after in zip(table["npi"].chunks, compacted["npi"].chunks, strict=True):
        old = before.dictionary.to_pylist()
        if len(old) <= len(before):
            assert after.dictionary.to_pylist() == old  # left as it is
            continue
        used = {v for v in before.cast(pa.string()).to_pylist() if v is not None}
        kept = after.dictionary.to_pylist()
        assert set(kept) == used
        assert kept == [v for v in old if v in used]


def test_compacting_a_dictionary_by_hand() -> None:
    """Rows use values 3 and 1 of a five-value dictionary: the dictionary becomes [b, d]."""
    chunk = pa.DictionaryArray.from_arrays(
        pa.array([3, None, 1, 3], pa.int32()), pa.array(["a", "b", "c", "d", "e"])
    )
    compacted = compact_dictionaries(pa.table({"npi": chunk}))["npi"].chunk(0)
    assert compacted.dictionary.to_pylist() == ["b", "d"]
    assert compacted.indices.to_pylist() == [1, None, 0, 1]


FILES = st.sampled_from(["a.parquet", "b.parquet", "c.parquet"])


@settings(max_examples=80, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(
            st.lists(st.tuples(VALUES, FILES), max_size=8), st.permutations(["99213", "x", "1234567890"])
        ),
        min_size=1,
        max_size=6,
    )
)
def test_joined_pieces_have_one_dictionary_chunk_and_every_rows_values(
    pieces: list[tuple[list[tuple[str | None, str]], list[str]]],
) -> None:
    """Pieces with dictionaries of their own (values in different orders, nulls, the same file
    names under different indices) join into one table: the same rows in the same order, every
    dictionary column one chunk, and ``_source_file``'s dictionary holds each file name once."""
    tables = []
    for rows, order in pieces:
        codes = [v for v, _ in rows]
        files = [f for _, f in rows]
        tables.append(
            pa.table(
                {
                    "npi": _dictionary_column(codes, order),
                    "n": pa.array(range(len(rows)), pa.int64()),
                    "_source_file": _dictionary_column(files, sorted(set(files), reverse=True)),
                }
            )
        )
    [joined] = join_pieces(tables)
    expected = pa.concat_tables(tables)
    assert joined.schema == expected.schema
    assert joined["npi"].num_chunks == joined["_source_file"].num_chunks == 1
    for name in ("npi", "_source_file"):
        assert joined[name].cast(pa.string()).to_pylist() == expected[name].cast(pa.string()).to_pylist()
    assert joined["n"].to_pylist() == expected["n"].to_pylist()
    names = joined["_source_file"].chunk(0).dictionary.to_pylist()
    assert len(names) == len(set(names))


def test_joining_pieces_by_hand() -> None:
    """Two pieces over dictionaries [a, b] and [b, c]: the codes' dictionaries are laid end to
    end ([a, b, b, c]) and the second piece's indices shifted by 2; the file names unified."""
    first = pa.table(
        {
            "npi": pa.DictionaryArray.from_arrays(pa.array([1, None], pa.int32()), pa.array(["a", "b"])),
            "_source_file": pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array(["f"])),
        }
    )
    second = pa.table(
        {
            "npi": pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["b", "c"])),
            "_source_file": pa.DictionaryArray.from_arrays(
                pa.array([1, 0], pa.int32()), pa.array(["f", "g"])
            ),
        }
    )
    [joined] = join_pieces([first, second])
    npi = joined["npi"].chunk(0)
    assert npi.dictionary.to_pylist() == ["a", "b", "b", "c"]
    assert npi.indices.to_pylist() == [1, None, 2, 3]
    files = joined["_source_file"].chunk(0)
    assert files.dictionary.to_pylist() == ["f", "g"]
    assert files.indices.to_pylist() == [0, 0, 1, 0]


def test_pieces_of_different_schemas_stay_apart() -> None:
    """A file whose member ids are integers and one whose are text give pieces of different
    schemas: each run of one schema is joined, in order, and none is mixed with another."""
    text = pa.table({"member_id": pa.array(["M1"]), "npi": pa.array(["x"]).dictionary_encode()})
    numbers = pa.table({"member_id": pa.array([7], pa.int64()), "npi": pa.array(["y"]).dictionary_encode()})
    joined = join_pieces([text, text, numbers, text])
    assert [t.schema.field("member_id").type for t in joined] == [pa.string(), pa.int64(), pa.string()]
    assert [t.num_rows for t in joined] == [2, 1, 1]
    assert joined[0]["npi"].num_chunks == 1
    assert joined[0]["npi"].cast(pa.string()).to_pylist() == ["x", "x"]


def test_narrowed_decimals_of_different_scales_stay_apart() -> None:
    """Two pieces whose amounts are int64 standing for decimal(12, 2) and decimal(12, 4): the
    columns' types are equal, only their fields' metadata differ, and joining them would
    restore both as the first's type."""
    from settle.cluster.spill_decimals import narrow_decimals, restore_decimals

    cents = pa.table({"paid": pa.array([Decimal("1.25"), Decimal("2.00")], pa.decimal128(12, 2))})
    fine = pa.table({"paid": pa.array([Decimal("3.1234")], pa.decimal128(12, 4))})
    joined = join_pieces([narrow_decimals(cents), narrow_decimals(fine)])
    restored = [restore_decimals(t) for t in joined]
    assert [t["paid"].to_pylist() for t in restored] == [
        [Decimal("1.25"), Decimal("2.00")],
        [Decimal("3.1234")],
    ]


def test_a_task_declares_the_code_columns_whose_whole_dictionary_is_canonical() -> None:
    """NPIs of ten digits and TINs of nine are canonical (engine.validate_parse's formats); one
    malformed value anywhere in the task's dictionary (an NPI with a letter, met in a later
    batch) keeps the column undeclared from then on."""
    codes = TaskCodes()
    npis = pa.array(["1234567893", "1234567893", "2345678901"]).dictionary_encode()
    tins = pa.array(["123456789", "987654321", "123456789"]).dictionary_encode()
    codes.encode(pa.table({"rendering_npi": npis, "billing_tin": tins}))
    assert codes.canonical("medical_claim") == ["billing_tin", "rendering_npi"]
    malformed = pa.array(["12345678X3", "1234567893", "1234567893"]).dictionary_encode()
    codes.encode(pa.table({"rendering_npi": malformed, "billing_tin": tins}))
    assert codes.canonical("medical_claim") == ["billing_tin"]


def test_joined_pieces_declare_what_every_piece_declares() -> None:
    """Pieces of one run that differ only in what they declare canonical join into one table,
    which declares the columns all of them declare; none declared: no key."""
    key = CANONICAL_KEY

    def piece(declared: bytes) -> pa.Table:
        table = pa.table({"rendering_npi": pa.array(["1234567893"]).dictionary_encode()})
        return table.replace_schema_metadata({key: declared, b"other": b"kept"})

    (joined,) = join_pieces(
        [piece(b"billing_tin,rendering_npi"), piece(b"rendering_npi"), piece(b"rendering_npi")]
    )
    assert joined.num_rows == 3
    assert joined.schema.metadata == {key: b"rendering_npi", b"other": b"kept"}
    (joined,) = join_pieces([piece(b"rendering_npi"), piece(b"")])
    assert joined.schema.metadata == {b"other": b"kept"}


def test_the_task_dictionary_grows_by_new_values_in_the_order_first_met() -> None:
    codes = TaskCodes()
    first = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), pa.array(["b", "a"]))
    # A later row group: a known value, two new ones, and a null among the dictionary's values.
    later = pa.DictionaryArray.from_arrays(
        pa.array([3, 0, 1, 2, 1], pa.int32()), pa.array(["c", "a", None, "d"])
    )
    again = pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["d", "b"]))
    encoded = [codes.encode(pa.table({"npi": column}))["npi"].to_pylist() for column in (first, later, again)]
    assert codes.values["npi"].to_pylist() == ["b", "a", "c", None, "d"]
    assert encoded == [[0, 1, 0], [4, 2, 1, 3, 1], [0, 4]]

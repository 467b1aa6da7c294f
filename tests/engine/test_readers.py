"""Input readers: listing locations, CSV as text, typed Parquet, column names, provenance, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from settle.engine import readers
from settle.engine.errors import InputFileError, MissingInputError
from settle.engine.readers import (
    _polars_decodes,
    iter_file,
    list_input_files,
    parquet_row_groups,
    read_table,
)

ELIG_HEADER = "member_id,group_id,enrollment_start_date,enrollment_end_date"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def elig_csv(path: Path, *rows: str, header: str = ELIG_HEADER) -> Path:
    return write(path, "\n".join([header, *rows]) + "\n")


# --- listing ------------------------------------------------------------------------------


def test_folder_is_listed_recursively_sorted_skipping_hidden_and_other_files(tmp_path: Path) -> None:
    root = tmp_path / "elig"
    elig_csv(root / "b.csv", "1,G,2025-01-01,2025-12-31")
    elig_csv(root / "a" / "z.csv", "2,G,2025-01-01,2025-12-31")
    pq.write_table(pa.table({"x": [1]}), root / "c.parquet")
    write(root / "_SUCCESS", "")
    write(root / ".hidden.csv", "x\n")
    write(root / "notes.txt", "x\n")
    files = list_input_files(str(root))
    assert [Path(f.display).relative_to(root).as_posix() for f in files] == ["a/z.csv", "b.csv", "c.parquet"]
    assert [f.format for f in files] == ["csv", "csv", "parquet"]


def test_glob_with_double_star_and_several_locations_deduplicated(tmp_path: Path) -> None:
    elig_csv(tmp_path / "x" / "2024" / "e.csv", "1,G,2024-01-01,2024-12-31")
    elig_csv(tmp_path / "x" / "2025" / "e.csv", "2,G,2025-01-01,2025-12-31")
    elig_csv(tmp_path / "x" / "2025" / "other.csv", "3,G,2025-01-01,2025-12-31")
    files = list_input_files([str(tmp_path / "x" / "**" / "e.csv"), str(tmp_path / "x" / "2025" / "e.csv")])
    assert [Path(f.display).relative_to(tmp_path).as_posix() for f in files] == [
        "x/2024/e.csv",
        "x/2025/e.csv",
    ]
    one_level = list_input_files(str(tmp_path / "x" / "202?" / "*.csv"))
    assert len(one_level) == 3


def test_file_uri_is_read_through_pyarrow_fs(tmp_path: Path) -> None:
    path = elig_csv(tmp_path / "e.csv", "00017,G1,2025-01-01,2025-12-31")
    table = read_table(path.resolve().as_uri(), "eligibility")
    assert table["member_id"].to_pylist() == ["00017"]
    assert table["_source_file"].to_pylist() == [path.resolve().as_uri()]


@pytest.mark.parametrize("pattern", ["nothing-here", "empty", "*.parquet"])
def test_location_matching_nothing_names_the_path(tmp_path: Path, pattern: str) -> None:
    (tmp_path / "empty").mkdir()
    location = str(tmp_path / pattern)
    with pytest.raises(MissingInputError) as err:
        list_input_files(location)
    assert location in str(err.value)
    assert err.value.path == location


# --- CSV and Parquet ----------------------------------------------------------------------


def test_csv_keeps_every_cell_as_text_with_leading_zeros_and_provenance(tmp_path: Path) -> None:
    path = elig_csv(tmp_path / "e.csv", "00017,0042,2025-01-01,2025-12-31", "18,7,2025-02-01,2025-03-31")
    table = read_table(str(path), "eligibility")
    assert table.schema.field("member_id").type == pa.string()
    assert table["member_id"].to_pylist() == ["00017", "18"]
    assert table["group_id"].to_pylist() == ["0042", "7"]
    # Row numbers count records from 1, the header not counted.
    assert table["_row_number"].to_pylist() == [1, 2]
    assert table["_source_file"].to_pylist() == [str(path.resolve())] * 2


def test_row_numbers_continue_across_parquet_batches(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(
        pa.table(
            {
                "member_id": [f"m{i}" for i in range(7)],
                "group_id": ["G"] * 7,
                "enrollment_start_date": ["2025-01-01"] * 7,
                "enrollment_end_date": ["2025-12-31"] * 7,
            }
        ),
        path,
    )
    (file,) = list_input_files(str(path))
    batches = list(iter_file(file, "eligibility", batch_rows=3))
    assert [b.num_rows for b in batches] == [3, 3, 1]
    assert [n for b in batches for n in b["_row_number"].to_pylist()] == [1, 2, 3, 4, 5, 6, 7]


def test_parquet_typed_columns_are_kept_for_validation(tmp_path: Path) -> None:
    path = tmp_path / "claims.parquet"
    pq.write_table(
        pa.table(
            {
                "claim_id": pa.array([101], pa.int64()),
                "claim_line_number": pa.array([1], pa.int32()),
                "claim_type": pa.array(["professional"]).dictionary_encode(),
                "member_id": pa.array(["0001"], pa.large_string()),
                "claim_start_date": pa.array([dt.date(2025, 1, 5)], pa.date32()),
                "paid_date": pa.array([dt.datetime(2025, 2, 1, 13, 0)], pa.timestamp("ms")),
                "rendering_npi": pa.array([1234567890], pa.int64()),
                "paid_amount": pa.array([Decimal("10.50")], pa.decimal128(12, 2)),
                "allowed_amount": pa.array([12.25], pa.float64()),
            }
        ),
        path,
    )
    table = read_table(str(path), "medical_claim")
    assert table.schema.field("claim_type").type == pa.string()  # dictionary decoded
    assert table.schema.field("member_id").type == pa.string()  # large_string narrowed
    assert table.schema.field("claim_start_date").type == pa.date32()
    assert table.schema.field("paid_amount").type == pa.decimal128(12, 2)


def test_tuva_shaped_file_with_extra_columns_loads_only_canonical_ones(tmp_path: Path) -> None:
    header = (
        "person_id,member_id,payer,payer_type,plan,group_id,enrollment_start_date,enrollment_end_date,"
        "data_source,x"
    )
    path = elig_csv(
        tmp_path / "e.csv", "p1,00017,acme,commercial,gold,G1,2025-01-01,2025-12-31,tuva,zzz", header=header
    )
    table = read_table(str(path), "eligibility")
    assert "x" not in table.column_names
    assert table["person_id"].to_pylist() == ["p1"]
    assert table["payer_type"].to_pylist() == ["commercial"]
    assert table["data_source"].to_pylist() == ["tuva"]


def test_column_map_alias_and_case_insensitive_names(tmp_path: Path) -> None:
    header = "MBR_NO,Employer_ID,Enrollment_Start_Date,enrollment_end_date"
    path = elig_csv(tmp_path / "e.csv", "00017,G1,2025-01-01,2025-12-31", header=header)
    table = read_table(str(path), "eligibility", column_map={"MBR_NO": "member_id"})
    assert table["member_id"].to_pylist() == ["00017"]
    assert table["group_id"].to_pylist() == ["G1"]  # employer_id is an alias of group_id
    assert table["enrollment_start_date"].to_pylist() == ["2025-01-01"]


def test_column_map_to_a_canonical_money_name_reads_dollars(tmp_path: Path) -> None:
    header = (
        "claim_id,claim_line_number,claim_type,member_id,claim_start_date,paid_date,billing_tin,paid,allowed"
    )
    path = write(
        tmp_path / "c.csv", header + "\nC1,1,professional,M,2025-01-05,2025-02-01,123456789,1.00,2.00\n"
    )
    table = read_table(
        str(path), "medical_claim", column_map={"paid": "paid_cents", "allowed": "allowed_amount"}
    )
    assert table["paid_amount"].to_pylist() == ["1.00"]
    assert table["allowed_amount"].to_pylist() == ["2.00"]


def test_hive_partition_folder_supplies_a_missing_column(tmp_path: Path) -> None:
    header = "member_id,enrollment_start_date,enrollment_end_date"
    elig_csv(tmp_path / "e" / "group_id=G%2F1" / "part-0.csv", "1,2025-01-01,2025-12-31", header=header)
    elig_csv(tmp_path / "e" / "group_id=G2" / "part-0.csv", "2,2025-01-01,2025-12-31", header=header)
    table = read_table(str(tmp_path / "e"), "eligibility")
    assert table["group_id"].to_pylist() == ["G/1", "G2"]


def test_declared_stratifiers_are_kept_for_eligibility(tmp_path: Path) -> None:
    path = elig_csv(tmp_path / "e.csv", "1,G,2025-01-01,2025-12-31,Y", header=ELIG_HEADER + ",sdoh_flag")
    table = read_table(str(path), "eligibility", stratifiers=["sdoh_flag"])
    assert table["sdoh_flag"].to_pylist() == ["Y"]


def test_mixed_types_across_files_concatenate_as_text(tmp_path: Path) -> None:
    elig_csv(tmp_path / "e" / "a.csv", "1,G,2025-01-01,2025-12-31")
    pq.write_table(
        pa.table(
            {
                "member_id": ["2"],
                "group_id": ["G"],
                "enrollment_start_date": pa.array([dt.date(2025, 2, 1)], pa.date32()),
                "enrollment_end_date": pa.array([dt.date(2025, 3, 31)], pa.date32()),
            }
        ),
        tmp_path / "e" / "b.parquet",
    )
    table = read_table(str(tmp_path / "e"), "eligibility")
    assert table["enrollment_start_date"].to_pylist() == ["2025-01-01", "2025-02-01"]


# --- file errors --------------------------------------------------------------------------


def test_missing_required_column_names_file_table_and_column(tmp_path: Path) -> None:
    path = elig_csv(
        tmp_path / "e.csv", "1,2025-01-01,2025-12-31", header="member_id,enrollment_start_date,end"
    )
    with pytest.raises(InputFileError) as err:
        read_table(str(path), "eligibility")
    message = str(err.value)
    assert str(path.resolve()) in message and "eligibility" in message
    assert "group_id" in message and "enrollment_end_date" in message
    assert err.value.columns == ("group_id", "enrollment_end_date")
    assert "\n" not in message


def test_claim_file_with_no_way_to_find_a_tin_is_refused(tmp_path: Path) -> None:
    header = "claim_id,claim_line_number,claim_type,member_id,claim_start_date,paid_date,"
    header += "paid_amount,allowed_amount"
    path = write(tmp_path / "c.csv", header + "\nC1,1,professional,M,2025-01-05,2025-02-01,1,1\n")
    with pytest.raises(InputFileError, match="rendering_npi or rendering_tin or billing_tin or billing_npi"):
        read_table(str(path), "medical_claim")


def test_column_of_an_unconvertible_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(
        pa.table(
            {
                "member_id": ["1"],
                "group_id": ["G"],
                "enrollment_start_date": pa.array([[1, 2]], pa.list_(pa.int64())),
                "enrollment_end_date": pa.array([True]),
            }
        ),
        path,
    )
    with pytest.raises(InputFileError) as err:
        read_table(str(path), "eligibility")
    assert err.value.columns == ("enrollment_start_date", "enrollment_end_date")
    assert str(path.resolve()) in str(err.value)


def test_file_that_is_not_parquet_is_refused_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "e.parquet", "this is not parquet")
    with pytest.raises(InputFileError) as err:
        read_table(str(path), "eligibility")
    assert str(path.resolve()) in str(err.value) and "Parquet" in str(err.value)


def test_ragged_csv_is_refused_without_quoting_member_data(tmp_path: Path) -> None:
    path = elig_csv(tmp_path / "e.csv", "1,G,2025-01-01,2025-12-31", "SECRET-MEMBER,G")
    with pytest.raises(InputFileError) as err:
        read_table(str(path), "eligibility")
    assert str(path.resolve()) in str(err.value)
    assert "SECRET-MEMBER" not in str(err.value)


def test_csv_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes((ELIG_HEADER + "\n").encode() + "Jos\xe9,G,2025-01-01,2025-12-31\n".encode("latin-1"))
    with pytest.raises(InputFileError, match="UTF-8"):
        read_table(str(path), "eligibility")


def test_header_only_csv_reads_as_no_rows(tmp_path: Path) -> None:
    path = elig_csv(tmp_path / "e.csv")
    table = read_table(str(path), "eligibility")
    assert table.num_rows == 0
    assert "member_id" in table.column_names


def test_declared_stratifier_missing_from_an_eligibility_file_is_an_error(tmp_path: Path) -> None:
    path = elig_csv(tmp_path / "e.csv", "1,G,2025-01-01,2025-12-31")
    with pytest.raises(InputFileError) as err:
        read_table(str(path), "eligibility", stratifiers=["sdoh_flag"])
    assert err.value.columns == ("sdoh_flag",)
    # Other tables ignore stratifiers.
    header = "npi,tin,entity_id,effective_date"
    roster = write(tmp_path / "r.csv", header + "\n0123456789,123456789,E1,2025-01-01\n")
    assert "sdoh_flag" not in read_table(str(roster), "roster", stratifiers=["sdoh_flag"]).column_names


def test_gzipped_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "e.csv.gz"
    path.write_bytes(gzip.compress(("\ufeff" + ELIG_HEADER + "\n007,G,2025-01-01,2025-12-31\n").encode()))
    (file,) = list_input_files(str(tmp_path))
    assert file.format == "csv"
    assert read_table(str(path), "eligibility")["member_id"].to_pylist() == ["007"]


def test_a_single_file_inside_a_partition_folder_keeps_its_partition(tmp_path: Path) -> None:
    header = "member_id,enrollment_start_date,enrollment_end_date"
    path = elig_csv(tmp_path / "group_id=G7" / "part.CSV", "1,2025-01-01,2025-12-31", header=header)
    assert read_table(str(path), "eligibility")["group_id"].to_pylist() == ["G7"]
    assert [f.format for f in list_input_files(str(tmp_path))] == ["csv"]  # upper-case suffix too


def test_a_range_of_row_groups_keeps_the_whole_files_row_numbers(tmp_path: Path) -> None:
    # 25 rows in row groups of 10, 10 and 5: groups [1, 3) are rows 11..25 of the file.
    ids = [f"M{i:03d}" for i in range(25)]
    table = pa.table(
        {
            "member_id": ids,
            "group_id": ["G"] * 25,
            "enrollment_start_date": [dt.date(2025, 1, 1)] * 25,
            "enrollment_end_date": [dt.date(2025, 12, 31)] * 25,
        }
    )
    path = tmp_path / "e.parquet"
    pq.write_table(table, path, row_group_size=10)
    (file,) = list_input_files(str(path))
    assert parquet_row_groups(file)[0][0] == 10 and [r for r, _ in parquet_row_groups(file)] == [10, 10, 5]
    part = pa.concat_tables(iter_file(file, "eligibility", row_groups=(1, 3), batch_rows=4))
    assert part["member_id"].to_pylist() == ids[10:]
    assert part["_row_number"].to_pylist() == list(range(11, 26))
    none = pa.concat_tables(iter_file(file, "eligibility", row_groups=(2, 2)))
    assert none.num_rows == 0 and "member_id" in none.column_names
    whole = pa.concat_tables(iter_file(file, "eligibility"))
    assert whole["_row_number"].to_pylist() == list(range(1, 26))


def _claims_table(rows: int) -> pa.Table:
    return pa.table(
        {
            "claim_id": [f"C{i}" if i % 5 else None for i in range(rows)],
            "claim_line_number": pa.array(range(rows), pa.int64()),
            "claim_type": ["professional"] * rows,
            "member_id": [f"M{i % 4}" for i in range(rows)],
            "claim_start_date": pa.array([dt.date(2025, 1, 1 + i % 28) for i in range(rows)], pa.date32()),
            "paid_date": pa.array([dt.date(2025, 2, 1 + i % 28) for i in range(rows)], pa.date32()),
            "rendering_npi": pa.array([i if i % 3 else None for i in range(rows)], pa.int32()),
            "paid_amount": pa.array([Decimal(f"{i}.{i:02d}") for i in range(rows)], pa.decimal128(12, 2)),
            "allowed_amount": pa.array([float(i) / 4 for i in range(rows)], pa.float64()),
            "data_source": pa.array(["feed"] * rows, pa.large_string()),
        }
    )


@pytest.mark.parametrize("encoded", [False, True])
def test_row_group_runs_read_exactly_the_rows_pyarrow_reads(tmp_path: Path, encoded: bool) -> None:
    # A plain file is decoded by Polars, one with a dictionary column by pyarrow: both must give
    # the rows of row groups [1, 4) of 3 rows each, text as string, numbered from row 4.
    table = _claims_table(15)
    if encoded:
        at = table.schema.get_field_index("data_source")
        table = table.set_column(at, "data_source", table["data_source"].dictionary_encode())
    path = tmp_path / "claims.parquet"
    pq.write_table(table, path, row_group_size=3)
    (file,) = list_input_files(str(path))
    assert _polars_decodes(file, pq.read_schema(path), table.column_names) is not encoded
    batches = list(iter_file(file, "medical_claim", batch_rows=4, row_groups=(1, 4)))
    assert max(b.num_rows for b in batches) <= 4
    got = pa.concat_tables(batches)
    expected = _claims_table(15).slice(3, 9)
    for name in expected.column_names:
        want = expected[name]
        if pa.types.is_large_string(want.type):
            want = want.cast(pa.string())
        assert got[name].combine_chunks().equals(want.combine_chunks()), name
    assert got["_row_number"].to_pylist() == list(range(4, 13))
    assert set(got["_source_file"].to_pylist()) == {file.display}


def _codes_table(rows: int) -> pa.Table:
    return pa.table(
        {
            "claim_id": [f"c{i}" for i in range(rows)],
            "claim_line_number": pa.array([1] * rows, pa.int64()),
            "claim_type": ["professional", "institutional"] * (rows // 2),
            "member_id": [f"m{i % 5}" for i in range(rows)],
            "claim_start_date": pa.array([dt.date(2025, 1, 1 + i % 28) for i in range(rows)], pa.date32()),
            "paid_date": pa.array([dt.date(2025, 2, 1 + i % 28) for i in range(rows)], pa.date32()),
            "rendering_npi": [None if i % 7 == 0 else f"{1000000000 + i % 3}" for i in range(rows)],
            "billing_tin": pa.array([f"{100000000 + i % 2}" for i in range(rows)], pa.large_string()),
            "hcpcs_code": pa.array([i % 4 for i in range(rows)], pa.int64()),  # a coded column as integers
            "paid_amount": pa.array([Decimal(f"{i}.05") for i in range(rows)], pa.decimal128(12, 2)),
            "allowed_amount": pa.array([Decimal(f"{i}.10") for i in range(rows)], pa.decimal128(12, 2)),
            "data_source": ["feed"] * rows,
        }
    )


def test_keep_codes_reads_coded_text_columns_as_dictionaries_that_decode_to_the_plain_read(
    tmp_path: Path,
) -> None:
    """Coded text columns (NPI, TIN, claim type, data source) come as dictionary<int32, string>
    from every row group (nulls kept), identifiers and non-text columns as before, and
    their text gives exactly the plain read back; a CSV file always reads as text."""
    path = tmp_path / "claims.parquet"
    pq.write_table(_codes_table(40), path, row_group_size=15)
    (file,) = list_input_files(str(path))
    plain = pa.concat_tables(iter_file(file, "medical_claim", batch_rows=16, row_groups=(1, 3)))
    kept = list(iter_file(file, "medical_claim", batch_rows=16, row_groups=(1, 3), keep_codes=True))
    code = pa.dictionary(pa.int32(), pa.string())
    for batch in kept:
        for name in ("claim_type", "rendering_npi", "billing_tin", "data_source"):
            assert batch.schema.field(name).type == code, name
        for name in ("claim_id", "member_id"):
            assert batch.schema.field(name).type == pa.string(), name
        assert batch.schema.field("hcpcs_code").type == pa.int64()
    joined = pa.concat_tables(kept)
    assert joined["rendering_npi"].null_count == plain["rendering_npi"].null_count > 0
    decoded = joined
    for at, field in enumerate(joined.schema):
        if pa.types.is_dictionary(field.type) and field.name != "_source_file":
            decoded = decoded.set_column(at, field.name, joined.column(at).cast(pa.string()))
    assert decoded.equals(plain)
    assert joined["_row_number"].to_pylist() == list(range(16, 41))

    csv = write(
        tmp_path / "claims.csv",
        "claim_id,claim_line_number,claim_type,member_id,claim_start_date,"
        "paid_date,paid_amount,allowed_amount,rendering_npi,billing_tin\n"
        "c1,1,professional,m1,2025-01-01,2025-02-01,1.00,1.00,1000000000,100000000\n",
    )
    (csv_file,) = list_input_files(str(csv))
    (batch,) = list(iter_file(csv_file, "medical_claim", keep_codes=True))
    assert batch.schema.field("rendering_npi").type == pa.string()


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` with its code columns (not ``_source_file``) cast back to text."""
    for at, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type) and field.name != "_source_file":
            table = table.set_column(at, field.name, table.column(at).cast(pa.string()))
    return table


@pytest.mark.parametrize(("groups", "batch_rows"), [((0, 7), 1_000), ((0, 7), 5), ((2, 5), 7), ((6, 7), 2)])
def test_polars_and_pyarrow_split_a_file_with_codes_and_read_what_pyarrow_alone_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, groups: tuple[int, int], batch_rows: int
) -> None:
    """With codes kept, Polars decodes the other columns (amounts, dates, ids) and pyarrow the
    code columns of the same row groups: the rows, their order, numbering and values are those
    of pyarrow's reader alone, whatever the batch size and row-group range."""
    path = tmp_path / "claims.parquet"
    pq.write_table(_codes_table(40), path, row_group_size=6)  # 7 row groups, the last of 4 rows
    (file,) = list_input_files(str(path))
    hybrid = []
    real = readers._read_hybrid
    monkeypatch.setattr(readers, "_read_hybrid", lambda *a: hybrid.append(a[5:]) or real(*a))
    both = list(iter_file(file, "medical_claim", batch_rows=batch_rows, row_groups=groups, keep_codes=True))
    assert hybrid, "the file was not read by Polars and pyarrow together"
    assert max(b.num_rows for b in both) <= batch_rows
    monkeypatch.setattr(readers, "_polars_decodes", lambda *_: False)
    alone = list(iter_file(file, "medical_claim", batch_rows=batch_rows, row_groups=groups, keep_codes=True))
    got, want = _decoded(pa.concat_tables(both)), _decoded(pa.concat_tables(alone))
    assert got.schema == want.schema
    assert got.equals(want)
    first, stop = groups[0] * 6, min(groups[1] * 6, 40)
    assert got["_row_number"].to_pylist() == list(range(first + 1, stop + 1))
    assert got["paid_amount"].to_pylist() == [Decimal(f"{i}.05") for i in range(first, stop)]


def test_an_input_file_cannot_say_what_settle_already_checked(tmp_path: Path) -> None:
    """Schema metadata of an input file is dropped as it is read: keys Settle's own spill
    files use to skip checks (``settle.canonical``, ``settle.prechecked``) never come from a
    user's file."""
    path = tmp_path / "e.parquet"
    table = pa.table(
        {
            "member_id": ["m1"],
            "group_id": ["G"],
            "enrollment_start_date": ["2025-01-01"],
            "enrollment_end_date": ["2025-12-31"],
        }
    )
    claims = {b"settle.canonical": b"group_id", b"settle.prechecked": b"group_name"}
    pq.write_table(table.replace_schema_metadata(claims), path)
    assert pq.read_schema(path).metadata[b"settle.canonical"] == b"group_id"
    (file,) = list_input_files(str(path))
    for keep_codes in (False, True):
        (batch,) = list(iter_file(file, "eligibility", keep_codes=keep_codes))
        assert b"settle.canonical" not in (batch.schema.metadata or {})
        assert b"settle.prechecked" not in (batch.schema.metadata or {})

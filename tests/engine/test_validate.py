"""Validation: every reject reason, CSV = Parquet, duplicates, reversals, jobs, accepted + rejected = read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settle.engine.job import load_job
from settle.engine.rejects import REJECTS_SCHEMA, RejectReason
from settle.engine.schemas import canonical_schema
from settle.engine.validate import (
    Limits,
    validate_batches,
    validate_job,
    validate_table,
    validation_report,
)
from settle.engine.validate_cross import id_set

CLAIM_HEADER = (
    "claim_id,claim_line_number,claim_type,member_id,claim_start_date,paid_date,"
    "rendering_npi,billing_tin,paid_amount,allowed_amount"
)
GOOD_CLAIM = "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,80.00,100.00"
MEMBERS = id_set(["0001", "0002"])
NPIS = id_set(["0123456789"])


def write(path: Path, header: str, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def only_reject(tmp_path: Path, table: str, header: str, row: str, **kw: object) -> dict[str, object]:
    """Validate one bad row; return its single reject (the file's only row)."""
    path = write(tmp_path / f"{table}.csv", header, row)
    tv = validate_table(table, str(path), **kw)  # type: ignore[arg-type]
    assert tv.counts.read == 1 and tv.counts.accepted == 0 and tv.counts.rejected == 1
    (reject,) = tv.rejects.to_pylist()
    assert reject["source_file"] == str(path.resolve()) and reject["row_number"] == 1
    assert reject["table"] == table
    return reject


ROW_CASES = [
    # (table, header, bad row, reason, column, value)
    (
        "eligibility",
        "member_id,group_id,enrollment_start_date,enrollment_end_date",
        " ,G1,2025-01-01,2025-12-31",
        "missing_value",
        "member_id",
        None,
    ),
    (
        "eligibility",
        "member_id,group_id,enrollment_start_date,enrollment_end_date",
        "0001,G1,2025-02-30,2025-12-31",
        "bad_date",
        "enrollment_start_date",
        "2025-02-30",
    ),
    (
        "eligibility",
        "member_id,group_id,enrollment_start_date,enrollment_end_date",
        "0001,G1,01/02/2025,2025-12-31",
        "bad_date",
        "enrollment_start_date",
        "01/02/2025",
    ),
    (
        "eligibility",
        "member_id,group_id,enrollment_start_date,enrollment_end_date",
        "0001,G1,2025-03-01,2025-02-28",
        "end_before_start",
        "enrollment_end_date",
        "2025-02-28",
    ),
    (
        "roster",
        "npi,tin,entity_id,effective_date,termination_date",
        "0123456789,12345678,E1,2025-01-01,",
        "bad_code",
        "tin",
        "12345678",
    ),
    (
        "roster",
        "npi,tin,entity_id,effective_date,termination_date",
        "123,123456789,E1,2025-01-01,",
        "bad_code",
        "npi",
        "123",
    ),
    (
        "roster",
        "npi,tin,entity_id,effective_date,termination_date",
        "0123456789,123456789,E1,2025-06-01,2025-05-31",
        "end_before_start",
        "termination_date",
        "2025-05-31",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        'C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,"1,000.00",1',
        "bad_amount",
        "paid_amount",
        "1,000.00",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,$5,1",
        "bad_amount",
        "paid_amount",
        "$5",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,5,0.005",
        "bad_amount",
        "allowed_amount",
        "0.005",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,10000000.01,1",
        "amount_out_of_range",
        "paid_amount",
        "10000000.01",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,1,99999999999999999999",
        "amount_out_of_range",
        "allowed_amount",
        "99999999999999999999",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        "C1,1.5,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,1,1",
        "bad_number",
        "claim_line_number",
        "1.5",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        "C1,1,dental,0001,2025-01-05,2025-02-01,0123456789,012345678,1,1",
        "bad_code",
        "claim_type",
        "dental",
    ),
    (
        "medical_claim",
        CLAIM_HEADER,
        "C1,1,professional,0001,2025-01-05,2025-02-01,123456789,012345678,1,1",
        "bad_code",
        "rendering_npi",
        "123456789",
    ),
    (
        "medical_claim",
        CLAIM_HEADER + ",claim_end_date",
        "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,1,1,2025-01-04",
        "end_before_start",
        "claim_end_date",
        "2025-01-04",
    ),
    (
        "pharmacy_claim",
        "claim_id,member_id,dispensing_date,paid_date,paid_amount,allowed_amount",
        "R1,0001,2025-01-05,,1,1",
        "missing_value",
        "paid_date",
        None,
    ),
    ("quality", "entity_id,period,measure_id,score", "E1,2025,M1,1.2", "score_out_of_range", "score", "1.2"),
    ("quality", "entity_id,period,measure_id,score", "E1,2025,M1,", "missing_value", "score", None),
    (
        "quality",
        "entity_id,period,quality_score,met_standard",
        "E1,2025,0.8,maybe",
        "bad_code",
        "met_standard",
        "maybe",
    ),
    (
        "quality",
        "entity_id,period,measure_id,score,quality_score",
        "E1,2025,M1,0.5,0.8",
        "conflicting_values",
        "quality_score",
        "0.8",
    ),
    (
        "quality",
        "entity_id,period,measure_id,score,quality_score",
        "E1,2025,,,",
        "missing_value",
        "quality_score",
        None,
    ),
    ("risk_scores", "member_id,period,risk_score", "0001,2025,high", "bad_number", "risk_score", "high"),
    (
        "risk_scores",
        "member_id,period,risk_score",
        "0001,2025,-0.1",
        "score_out_of_range",
        "risk_score",
        "-0.1",
    ),
    ("premiums", "group_id,month,premium_amount", "G1,2025-01-15,100", "bad_date", "month", "2025-01-15"),
    ("premiums", "group_id,month,premium_amount", "G1,2025-01-01,1e3", "bad_amount", "premium_amount", "1e3"),
    (
        "voluntary_alignment",
        "member_id,npi,signed_date",
        "0001,12345678901,2025-01-01",
        "bad_code",
        "npi",
        "12345678901",
    ),
]


@pytest.mark.parametrize(("table", "header", "row", "reason", "column", "value"), ROW_CASES)
def test_every_row_reason_on_a_hand_made_bad_file(
    tmp_path: Path, table: str, header: str, row: str, reason: str, column: str, value: str | None
) -> None:
    reject = only_reject(tmp_path, table, header, row)
    assert (reject["reason"], reject["column"], reject["value"]) == (reason, column, value)
    assert reject["detail"]


def test_first_failing_check_wins_in_the_documented_order(tmp_path: Path) -> None:
    # Missing member_id (check 1) beats the bad amount (check 2), which beats the bad NPI
    # (paid_amount comes before rendering_npi in the schema), which beats the range check.
    header = CLAIM_HEADER
    rows = [
        "C1,1,professional,,2025-01-05,2025-02-01,123,012345678,x,1",
        "C2,1,professional,0001,2025-01-05,2025-02-01,123,012345678,x,1",
        "C3,1,professional,0001,2025-01-05,2025-02-01,123,012345678,20000000,1",
    ]
    tv = validate_table("medical_claim", str(write(tmp_path / "c.csv", header, *rows)))
    assert [(r["row_number"], r["reason"], r["column"]) for r in tv.rejects.to_pylist()] == [
        (1, "missing_value", "member_id"),
        (2, "bad_amount", "paid_amount"),
        (3, "bad_code", "rendering_npi"),
    ]


def test_table_reasons_duplicate_orphan_reversal_missing_member_unknown_npi(tmp_path: Path) -> None:
    rows = [
        GOOD_CLAIM,  # 1 accepted
        GOOD_CLAIM,  # 2 duplicate of row 1
        "C2,1,professional,0001,2025-01-05,2025-03-01,0123456789,012345678,-80.00,-100.00",  # 3 orphan
        "C3,1,professional,0001,2025-01-05,2025-03-01,0123456789,012345678,-80.00,0",  # 4 orphan (paid)
        "C4,1,professional,0009,2025-01-05,2025-02-01,0123456789,012345678,1,1",  # 5 member 0009 unknown
        "C5,1,professional,0002,2025-01-05,2025-02-01,0123456789,,1,1",  # 6 NPI on roster: tied, accepted
        "C6,1,professional,0002,2025-01-05,2025-02-01,1999999999,,1,1",  # 7 no TIN, NPI not on roster
        "C7,1,professional,0002,2025-01-05,2025-02-01,1999999999,999999999,1,1",  # 8 outside clinician: ok
    ]
    path = write(tmp_path / "c.csv", CLAIM_HEADER, *rows)
    tv = validate_table("medical_claim", str(path), members=MEMBERS, roster_npis=NPIS)
    got = [(r["row_number"], r["reason"], r["column"], r["value"]) for r in tv.rejects.to_pylist()]
    assert got == [
        (2, "duplicate_line", "claim_id", "C1"),
        (3, "negative_allowed_without_original", "allowed_amount", "-100.00"),
        (4, "negative_allowed_without_original", "paid_amount", "-80.00"),
        (5, "missing_member", "member_id", "0009"),
        (7, "unknown_npi", "rendering_npi", "1999999999"),
    ]
    assert tv.rejects.to_pylist()[0]["detail"].startswith(f"repeats row 1 of {path.resolve()}")
    assert sorted(tv.accepted["_row_number"].to_pylist()) == [1, 6, 8]
    assert tv.counts.to_dict() == {
        "files": 1,
        "read": 8,
        "accepted": 3,
        "rejected": 5,
        "rejected_by_reason": {
            "duplicate_line": 1,
            "negative_allowed_without_original": 2,
            "missing_member": 1,
            "unknown_npi": 1,
        },
    }


def test_void_and_replace_is_not_a_duplicate(tmp_path: Path) -> None:
    rows = [
        "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,100,100",
        "C1,1,professional,0001,2025-01-05,2025-03-01,0123456789,012345678,-100,-100",
        "C1,1,professional,0001,2025-01-05,2025-03-01,0123456789,012345678,120,120",
    ]
    tv = validate_table("medical_claim", str(write(tmp_path / "c.csv", CLAIM_HEADER, *rows)))
    assert tv.counts.rejected == 0
    # Net of the line: 100 - 100 + 120 = 120 dollars = 12000 cents.
    assert sum(tv.accepted["allowed_cents"].to_pylist()) == 12000


def test_duplicate_keeps_the_first_by_file_and_row_whatever_the_location_order(tmp_path: Path) -> None:
    a = write(
        tmp_path / "a.csv",
        CLAIM_HEADER,
        "C9,1,professional,0001,2025-01-05,2025-02-01,0123456789,,1,1",
        GOOD_CLAIM,
    )
    b = write(tmp_path / "b.csv", CLAIM_HEADER, GOOD_CLAIM)
    for order in ([str(a), str(b)], [str(b), str(a)]):
        tv = validate_table("medical_claim", order)
        (reject,) = tv.rejects.to_pylist()
        assert (reject["source_file"], reject["row_number"]) == (str(b.resolve()), 1)
        assert reject["detail"].startswith(f"repeats row 2 of {a.resolve()}")


def test_quality_duplicates_and_risk_duplicates_keep_the_first(tmp_path: Path) -> None:
    q = write(
        tmp_path / "q.csv",
        "entity_id,period,measure_id,score,quality_score",
        "E1,2025,M1,0.5,",
        "E1,2025,M1,0.7,",
        "E1,2025,,,0.9",
        "E1,2025,,,0.8",
        "E1,2025,M2,1,",
    )
    tv = validate_table("quality", str(q))
    assert [(r["row_number"], r["reason"]) for r in tv.rejects.to_pylist()] == [
        (2, "duplicate_line"),
        (4, "duplicate_line"),
    ]
    assert tv.accepted["score"].to_pylist() == [0.5, None, 1.0]
    assert tv.accepted["quality_score"].to_pylist() == [None, 0.9, None]


def test_roster_without_npi_is_whole_tin_participation(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.csv",
        "npi,tin,entity_id,specialty_code,effective_date,termination_date",
        ",12-3456789,E1,,2025-01-01,",
        "0123456789,023456789,E1,8,2025-01-01,2025-12-31",
    )
    tv = validate_table("roster", str(path))
    assert tv.counts.rejected == 0
    assert tv.accepted["npi"].to_pylist() == [None, "0123456789"]
    assert tv.accepted["tin"].to_pylist() == ["123456789", "023456789"]  # the hyphen is removed
    assert tv.accepted["specialty_code"].to_pylist() == [None, "08"]  # one digit gets its zero back


def test_claim_line_limit_is_configurable(tmp_path: Path) -> None:
    row = "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,012345678,100.01,1"
    path = write(tmp_path / "c.csv", CLAIM_HEADER, row)
    assert validate_table("medical_claim", str(path)).counts.rejected == 0
    tv = validate_table("medical_claim", str(path), limits=Limits(max_line_cents=10000))
    assert tv.counts.rejected_by_reason == {"amount_out_of_range": 1}
    assert "$100.00" in tv.rejects["detail"][0].as_py()


# --- CSV and Parquet give the same accepted rows ---------------------------------------------

ROWS = {
    "claim_id": ["C1", "C1", "C2"],
    "claim_line_number": ["1", "1", "2"],
    "claim_type": ["professional", "professional", "institutional"],
    "member_id": ["0001", "0001", "0002"],
    "claim_start_date": ["2025-01-05", "2025-01-05", "2025-12-31"],
    "paid_date": ["2025-02-01", "2025-03-01", "2026-01-15"],
    "rendering_npi": ["0123456789", "0123456789", None],
    "billing_tin": ["012345678", "012345678", "000000001"],
    "paid_amount": ["80.5", "-80.50", "1234567.89"],
    "allowed_amount": ["100", "-100.00", "1234567.89"],
}


def test_csv_and_parquet_of_the_same_rows_give_identical_accepted_tables(tmp_path: Path) -> None:
    text = pa.table({k: pa.array(v, pa.string()) for k, v in ROWS.items()})
    pacsv.write_csv(text, tmp_path / "c.csv")
    pq.write_table(text, tmp_path / "text.parquet")
    typed = pa.table(
        {
            **{k: text[k] for k in ("claim_id", "claim_type", "member_id", "rendering_npi", "billing_tin")},
            "claim_line_number": pa.array([1, 1, 2], pa.int16()),
            "claim_start_date": pa.array([dt.date(2025, 1, 5), dt.date(2025, 1, 5), dt.date(2025, 12, 31)]),
            "paid_date": pa.array(
                [dt.datetime(2025, 2, 1), dt.datetime(2025, 3, 1), dt.datetime(2026, 1, 15, 9)]
            ),
            "paid_amount": pa.array(["80.50", "-80.50", "1234567.89"]).cast(pa.decimal128(12, 2)),
            "allowed_amount": pa.array([100.0, -100.0, 1234567.89]),
        }
    )
    pq.write_table(typed, tmp_path / "typed.parquet")
    results = [
        validate_table("medical_claim", str(tmp_path / n)) for n in ("c.csv", "text.parquet", "typed.parquet")
    ]
    tables = [r.accepted.drop(["_source_file"]) for r in results]
    assert all(r.counts.rejected == 0 for r in results)
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])
    # 80.5 dollars = 8050 cents; -80.50 = -8050; 1234567.89 = 123456789.
    assert tables[0]["paid_cents"].to_pylist() == [8050, -8050, 123456789]
    assert tables[0]["member_id"].to_pylist() == ["0001", "0001", "0002"]


def test_integer_ids_in_parquet_become_text_and_fixed_width_codes_get_their_zeros(tmp_path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "npi": pa.array([123456789], pa.int64()),  # an NPI that lost its leading zero
                "tin": pa.array([12345678], pa.int64()),
                "entity_id": pa.array([7], pa.int32()),
                "effective_date": pa.array([dt.date(2025, 1, 1)]),
            }
        ),
        tmp_path / "r.parquet",
    )
    tv = validate_table("roster", str(tmp_path / "r.parquet"))
    assert tv.accepted["npi"].to_pylist() == ["0123456789"]
    assert tv.accepted["tin"].to_pylist() == ["012345678"]
    assert tv.accepted["entity_id"].to_pylist() == ["7"]


# --- jobs ---------------------------------------------------------------------------------


def make_job(tmp_path: Path) -> Path:
    write(
        tmp_path / "eligibility" / "group_id=G1" / "e.csv",
        "member_id,enrollment_start_date,enrollment_end_date",
        "0001,2025-01-01,2025-12-31",
        "0002,2025-13-01,2025-12-31",
    )
    write(tmp_path / "roster.csv", "npi,tin,entity_id,effective_date", "0123456789,012345678,E1,2025-01-01")
    write(
        tmp_path / "claims" / "part-1.csv",
        "clm,claim_line_number,claim_type,member_id,claim_start_date,"
        "paid_date,rendering_npi,paid_amount,allowed_amount",
        "C1,1,professional,0001,2025-01-05,2025-02-01,0123456789,80,100",
        "C2,1,professional,0002,2025-01-05,2025-02-01,0123456789,80,100",
    )
    write(tmp_path / "quality.csv", "entity_id,period,quality_score,met_standard", "E1,2025,0.9,true")
    (tmp_path / "job.yaml").write_text(
        "name: t\nperiod: {start: 2025-01-01, end: 2025-12-31}\n"
        "inputs: {eligibility: eligibility/, roster: roster.csv, medical_claim: 'claims/*.csv',"
        " quality: quality.csv}\n"
        "contracts: []\ncolumn_map: {medical_claim: {clm: claim_id}}\n"
    )
    return tmp_path / "job.yaml"


def test_validate_job_checks_claims_against_accepted_eligibility(tmp_path: Path) -> None:
    result = validate_job(load_job(make_job(tmp_path)), max_examples=1)
    report = validation_report(result)
    json.dumps(report)  # plain data only
    assert report["tables"]["eligibility"] == {
        "files": 1,
        "read": 2,
        "accepted": 1,
        "rejected": 1,
        "rejected_by_reason": {"bad_date": 1},
    }
    # Member 0002's only eligibility row was rejected, so their claim has no eligibility.
    assert report["tables"]["medical_claim"]["rejected_by_reason"] == {"missing_member": 1}
    assert report["tables"]["quality"]["accepted"] == 1
    assert (report["read"], report["accepted"], report["rejected"]) == (6, 4, 2)
    assert len(report["rejects"]) == 1 and report["rejects"][0]["reason"] == "bad_date"
    assert result.tables["eligibility"].accepted["group_id"].to_pylist() == ["G1"]
    assert result.rejects.schema == REJECTS_SCHEMA


# --- accepted + rejected = read -------------------------------------------------------------

GOOD_LINES = [
    ("C1", "1", "professional", "0001", "2025-01-05", "2025-02-01", "0123456789", "012345678", "10", "12"),
    ("C1", "1", "professional", "0001", "2025-01-05", "2025-03-01", "0123456789", "012345678", "-10", "-12"),
    ("C2", "1", "institutional", "0002", "2025-02-05", "2025-03-01", "1999999999", "", "7.5", "9"),
    ("C3", "2", "professional", "0002", "2025-02-05", "2025-03-01", "", "000000009", "0", "0"),
]
BAD_LINES = [
    ("C4", "1", "professional", "", "2025-01-05", "2025-02-01", "0123456789", "012345678", "10", "12"),
    ("C5", "x", "professional", "0001", "2025-01-05", "2025-02-01", "0123456789", "012345678", "10", "12"),
    ("C6", "1", "professional", "0001", "2025-01-32", "2025-02-01", "0123456789", "012345678", "10", "12"),
    ("C7", "1", "professional", "0001", "2025-01-05", "2025-02-01", "0123456789", "012345678", "1.001", "2"),
    ("C8", "1", "professional", "0001", "2025-01-05", "2025-02-01", "0123456789", "012345678", "-3", "-3"),
    ("C9", "1", "professional", "0042", "2025-01-05", "2025-02-01", "0123456789", "012345678", "3", "3"),
    ("C0", "1", "professional", "0001", "2025-01-05", "2025-02-01", "12", "012345678", "3", "3"),
]
NAMES = CLAIM_HEADER.split(",")


def raw_batch(lines: list[tuple[str, ...]], source: str, first_row: int) -> pa.Table:
    cols = {name: pa.array([line[i] for line in lines], pa.string()) for i, name in enumerate(NAMES)}
    cols["_source_file"] = pa.array([source] * len(lines), pa.string())
    cols["_row_number"] = pa.array(range(first_row, first_row + len(lines)), pa.int64())
    return pa.table(cols)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.sampled_from(GOOD_LINES + BAD_LINES), max_size=30),
    cut=st.integers(min_value=0, max_value=30),
)
def test_every_row_read_is_accepted_or_rejected_exactly_once(lines: list[tuple[str, ...]], cut: int) -> None:
    cut = min(cut, len(lines))
    batches = [raw_batch(lines[:cut], "f", 1), raw_batch(lines[cut:], "f", cut + 1)]
    tv = validate_batches("medical_claim", batches, members=MEMBERS, roster_npis=NPIS)
    assert tv.counts.read == len(lines)
    assert tv.counts.accepted + tv.counts.rejected == tv.counts.read
    accepted = tv.accepted["_row_number"].to_pylist()
    rejected = tv.rejects["row_number"].to_pylist()
    assert sorted(accepted + rejected) == list(range(1, len(lines) + 1))
    assert all(r in {x.value for x in RejectReason} for r in tv.rejects["reason"].to_pylist())
    # Splitting the rows into batches differently changes nothing.
    whole = validate_batches("medical_claim", [raw_batch(lines, "f", 1)], members=MEMBERS, roster_npis=NPIS)
    assert whole.rejects.equals(tv.rejects)
    assert whole.accepted.sort_by("_row_number").equals(tv.accepted.sort_by("_row_number"))


def coded(batch: pa.Table) -> pa.Table:
    """``batch`` with its code columns dictionary-encoded, as the partition stage spills them."""
    for name in ("claim_type", "rendering_npi", "billing_tin"):
        at = batch.schema.get_field_index(name)
        batch = batch.set_column(at, name, batch[name].dictionary_encode())
    return batch


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.sampled_from(GOOD_LINES + BAD_LINES), max_size=30),
    cut=st.integers(min_value=0, max_value=30),
)
def test_dictionary_encoded_codes_validate_as_their_text(lines: list[tuple[str, ...]], cut: int) -> None:
    """Code columns that arrive dictionary-encoded (each batch with its own dictionary) give the
    same accepted rows and the same rejects, bad codes' values included, as plain text."""
    cut = min(cut, len(lines))
    plain = [raw_batch(lines[:cut], "f", 1), raw_batch(lines[cut:], "f", cut + 1)]
    text = validate_batches("medical_claim", plain, members=MEMBERS, roster_npis=NPIS)
    codes = validate_batches("medical_claim", [coded(b) for b in plain], members=MEMBERS, roster_npis=NPIS)
    assert codes.rejects.equals(text.rejects)
    assert codes.accepted.equals(text.accepted)
    assert codes.accepted.schema.field("rendering_npi").type == pa.string()


UNCODED_CLAIM_TYPE = [  # claim types missing: null in a dictionary, as a Parquet null arrives
    ("C11", "1", "", "0001", "2025-01-05", "2025-02-01", "0123456789", "012345678", "10", "12"),
    ("C12", "1", "", "0002", "2025-02-05", "2025-03-01", "1999999999", "", "7.5", "9"),
]


def nulls_for_empty(batch: pa.Table, name: str) -> pa.Table:
    at = batch.schema.get_field_index(name)
    column = pc.if_else(pc.equal(batch[name], ""), pa.scalar(None, pa.string()), batch[name])
    return batch.set_column(at, name, column)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.sampled_from(GOOD_LINES + BAD_LINES + UNCODED_CLAIM_TYPE), max_size=30),
    cut=st.integers(min_value=0, max_value=30),
    bad_type=st.booleans(),
)
def test_columns_left_out_are_checked_all_the_same(
    lines: list[tuple[str, ...]], cut: int, bad_type: bool
) -> None:
    """``keep`` leaves columns out of the accepted rows, never out of the checks: a missing
    claim type is rejected whether its dictionary is all canonical or holds a malformed type
    (the full parse), and the rows kept are the same."""
    cut = min(cut, len(lines))
    if bad_type:
        lines = [
            *lines,
            ("C13", "1", "dental", "0001", "2025-01-05", "2025-02-01", "0123456789", "", "1", "1"),
        ]
    plain = [raw_batch(lines[:cut], "f", 1), raw_batch(lines[cut:], "f", len(lines[:cut]) + 1)]
    batches = [coded(nulls_for_empty(b, "claim_type")) for b in plain]
    left_out = ["claim_type", "rendering_npi", "claim_end_date"]
    keep = {c for c in canonical_schema("medical_claim").names if c not in left_out}
    every = validate_batches("medical_claim", batches, members=MEMBERS, roster_npis=NPIS)
    some = validate_batches("medical_claim", batches, members=MEMBERS, roster_npis=NPIS, keep=keep)
    assert some.rejects.equals(every.rejects)
    assert some.accepted.equals(every.accepted.drop_columns(left_out))
    assert some.schema.names == some.accepted.schema.names
    # By hand: C11, C12 fail first on their missing claim type, C13 on its malformed one.
    expected = {i + 1: "missing_value" for i, line in enumerate(lines) if line[0] in ("C11", "C12")}
    expected.update({i + 1: "bad_code" for i, line in enumerate(lines) if line[0] == "C13"})
    on_type = {r["row_number"]: r["reason"] for r in some.rejects.to_pylist() if r["column"] == "claim_type"}
    assert on_type == expected


def test_pharmacy_duplicates_reversals_and_members(tmp_path: Path) -> None:
    header = "claim_id,member_id,dispensing_date,paid_date,paid_amount,allowed_amount"
    rows = [
        "R1,0001,2025-01-05,2025-01-06,10,12",  # 1 accepted
        "R1,0001,2025-01-05,2025-01-06,10,12",  # 2 duplicate of 1 (no line numbers: null = null)
        "R1,0001,2025-01-05,2025-02-06,-10,-12",  # 3 reverses R1: accepted
        "R2,0001,2025-01-05,2025-02-06,-10,-12",  # 4 no original
        "R3,0042,2025-01-05,2025-01-06,10,12",  # 5 member without eligibility
    ]
    tv = validate_table("pharmacy_claim", str(write(tmp_path / "rx.csv", header, *rows)), members=MEMBERS)
    assert [(r["row_number"], r["reason"]) for r in tv.rejects.to_pylist()] == [
        (2, "duplicate_line"),
        (4, "negative_allowed_without_original"),
        (5, "missing_member"),
    ]
    assert tv.accepted["_row_number"].to_pylist() == [1, 3]


def test_docs_list_every_column_and_reason() -> None:
    from settle.engine.schemas import TABLES

    text = (Path(__file__).parents[2] / "docs" / "inputs.md").read_text()
    for spec in TABLES.values():
        assert f"`{spec.name}`" in text
        for column in spec.columns:
            assert f"`{column.source_name}`" in text or column.source_name in text, column.source_name
    for reason in RejectReason:
        assert f"`{reason.value}`" in text, reason

"""Row checks decided early (``validate_precheck``): which columns a raw batch may drop, and
validation of the dropped batch rejecting exactly the rows the whole batch would."""

from __future__ import annotations

import datetime as dt
import itertools

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settle.engine.errors import SettleSystemError
from settle.engine.pipeline.shard import UNREAD_COLUMNS, read_columns
from settle.engine.validate import validate_batches
from settle.engine.validate_cross import id_set
from settle.engine.validate_precheck import drop_prechecked, prechecked, prechecked_in

MEMBERS = id_set(["0001", "0002"])
NPIS = id_set(["0123456789"])
UNREAD = UNREAD_COLUMNS["medical_claim"]
D = dt.date

NPI, TIN, PRO = "0123456789", "012345678", "professional"
JAN5, JAN6, JAN2 = D(2025, 1, 5), D(2025, 1, 6), D(2025, 1, 2)
# (claim_id, line, claim_type, member, start, end, pos, source, npi, tin, paid, allowed)
GOOD = [
    ("C1", 1, PRO, "0001", JAN5, JAN6, "11", "feed", NPI, TIN, 10, 12),
    ("C1", 1, PRO, "0001", JAN5, None, None, None, NPI, TIN, -10, -12),
    ("C2", 1, "institutional", "0002", D(2025, 2, 5), D(2025, 2, 5), "21", "feed", None, "000000009", 7, 9),
]
BAD = [
    ("C3", 1, None, "0001", JAN5, JAN6, "11", "feed", NPI, TIN, 1, 1),  # claim type missing
    ("C4", 1, "dental", "0001", JAN5, JAN6, "11", "feed", NPI, TIN, 1, 1),  # claim type malformed
    ("C5", 1, PRO, "0001", JAN5, JAN2, "11", "feed", NPI, TIN, 1, 1),  # ends before it starts
    ("C6", 1, PRO, "0001", JAN5, JAN6, "1x", " feed", NPI, TIN, 1, 1),  # bad place, spaced source
    (None, 1, PRO, "0001", JAN5, JAN2, "11", "feed", NPI, TIN, 1, 1),  # claim id missing, and C5's
    ("C7", 1, PRO, "0042", None, JAN2, "11", "feed", NPI, TIN, -1, -1),  # no start, unknown member
]
NAMES = [
    "claim_id",
    "claim_line_number",
    "claim_type",
    "member_id",
    "claim_start_date",
    "claim_end_date",
    "place_of_service_code",
    "data_source",
    "rendering_npi",
    "billing_tin",
    "paid_amount",
    "allowed_amount",
]
CODED = ("claim_type", "place_of_service_code", "data_source", "rendering_npi", "billing_tin")


def batch(lines: list[tuple[object, ...]], first_row: int) -> pa.Table:
    """Raw rows as the partition stage reads Parquet: codes as dictionaries, typed dates."""
    columns: dict[str, pa.Array] = {}
    for i, name in enumerate(NAMES):
        values = [line[i] for line in lines]
        if name in CODED:
            columns[name] = pa.array(values, pa.string()).dictionary_encode()
        elif name.endswith("_date"):
            columns[name] = pa.array(values, pa.date32())
        elif name.endswith("_amount"):
            columns[name] = pa.array(values, pa.int64())  # whole dollars
        elif name == "claim_line_number":
            columns[name] = pa.array(values, pa.int64())
        else:
            columns[name] = pa.array(values, pa.string())
    columns["paid_date"] = pa.array([D(2025, 4, 1)] * len(lines), pa.date32())
    columns["_source_file"] = pa.array(["f"] * len(lines), pa.string())
    columns["_row_number"] = pa.array(range(first_row, first_row + len(lines)), pa.int64())
    return pa.table(columns)


def test_which_columns_a_batch_may_drop_by_hand() -> None:
    assert prechecked(batch(GOOD, 1), "medical_claim", UNREAD) == [
        "claim_type",
        "place_of_service_code",
        "claim_end_date",
        "data_source",
    ]
    # A missing claim type (required), a malformed one, an end before its start, a malformed
    # place of service and a label with white space each keep their own column only.
    assert "claim_type" not in prechecked(batch([*GOOD, BAD[0]], 1), "medical_claim", UNREAD)
    assert "claim_type" not in prechecked(batch([*GOOD, BAD[1]], 1), "medical_claim", UNREAD)
    assert prechecked(batch([*GOOD, BAD[2]], 1), "medical_claim", UNREAD) == [
        "claim_type",
        "place_of_service_code",
        "data_source",
    ]
    assert prechecked(batch([*GOOD, BAD[3]], 1), "medical_claim", UNREAD) == ["claim_type", "claim_end_date"]
    # Text (not a dictionary) is never decided early, nor are dates given as text.
    plain = batch(GOOD, 1)
    plain = plain.set_column(2, "claim_type", plain["claim_type"].cast(pa.string()))
    plain = plain.set_column(5, "claim_end_date", plain["claim_end_date"].cast(pa.string()))
    assert prechecked(plain, "medical_claim", UNREAD) == ["place_of_service_code", "data_source"]
    # A column the table checks read is never dropped, whatever its cells.
    assert prechecked(batch(GOOD, 1), "medical_claim", {"rendering_npi", "billing_tin"}) == []


def test_drop_names_the_columns_in_the_schema() -> None:
    dropped = drop_prechecked(batch(GOOD, 1), "medical_claim", ["claim_type", "claim_end_date"])
    assert "claim_type" not in dropped.column_names and "claim_end_date" not in dropped.column_names
    assert prechecked_in(dropped) == {"claim_type", "claim_end_date"}
    assert prechecked_in(batch(GOOD, 1)) == frozenset()


def _validate(batches: list[pa.Table]) -> tuple[pa.Table, pa.Table]:
    tv = validate_batches(
        "medical_claim", batches, members=MEMBERS, roster_npis=NPIS, keep=read_columns("medical_claim")
    )
    return tv.accepted, tv.rejects


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.sampled_from(GOOD + BAD), max_size=24),
    cuts=st.lists(st.integers(min_value=0, max_value=24), max_size=3),
)
def test_dropped_batches_reject_exactly_the_rows_whole_batches_do(
    lines: list[tuple[object, ...]], cuts: list[int]
) -> None:
    bounds = sorted({0, len(lines), *(min(c, len(lines)) for c in cuts)})
    whole = [batch(lines[a:b], a + 1) for a, b in itertools.pairwise(bounds)]
    dropped = [drop_prechecked(b, "medical_claim", prechecked(b, "medical_claim", UNREAD)) for b in whole]
    accepted, rejects = _validate(whole)
    got_accepted, got_rejects = _validate(dropped)
    assert got_rejects.equals(rejects)
    assert got_accepted.equals(accepted)
    assert accepted.num_rows + rejects.num_rows == len(lines)
    if lines and set(lines) <= set(GOOD) and GOOD[1] not in lines:  # no reversal, no repeat
        assert accepted.num_rows == len(set(lines)) > 0


def test_a_file_without_a_required_column_is_not_joined_to_a_dropped_batch() -> None:
    """Both lack ``claim_type``: the file's rows are still missing it, the batch's are not."""
    kept = drop_prechecked(
        batch(GOOD, 1), "medical_claim", prechecked(batch(GOOD, 1), "medical_claim", UNREAD)
    )
    lacking = batch(GOOD, 4).drop_columns(
        ["claim_type", "place_of_service_code", "claim_end_date", "data_source"]
    )
    accepted, rejects = _validate([kept, lacking])
    assert accepted["_row_number"].to_pylist() == [1, 2, 3]
    assert rejects["row_number"].to_pylist() == [4, 5, 6]
    assert set(rejects["reason"].to_pylist()) == {"missing_value"}
    assert set(rejects["column"].to_pylist()) == {"claim_type"}


def test_a_caller_keeping_a_dropped_column_is_refused() -> None:
    dropped = drop_prechecked(batch(GOOD, 1), "medical_claim", ["claim_type"])
    with pytest.raises(SettleSystemError, match="claim_type"):
        validate_batches("medical_claim", [dropped], members=MEMBERS, roster_npis=NPIS)

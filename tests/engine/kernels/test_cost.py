"""Claim costs: the group a line belongs to, lines outside enrollment, basis, period and
run-out, reversals, pharmacy, exclusions, scope.  Period 2025, run-out 3 months (paid by
2026-03-31)."""

from __future__ import annotations

import polars as pl

from settle.engine.job import Period
from settle.engine.kernels.cost import REJECT_COLUMNS, claim_costs
from settle.engine.kernels.rules import CostBasis, CostRules, Scope
from tests.engine.kernels.builders import D, eligibility, line, medical, pharmacy

PERIOD = Period(start=D("2025-01-01"), end=D("2025-12-31"), runout_months=3)
ELIG = eligibility(
    ("m1", "G1", "2025-01-01", "2025-06-30"),
    ("m1", "G2", "2025-07-01", "2025-12-31"),
    ("m2", "G1", "2025-01-01", "2025-03-31"),
    ("m3", "G1", "2025-01-01", "2025-12-31"),
    ("m3", "G2", "2025-06-01", "2025-12-31"),
)


def _costs(frame: pl.DataFrame) -> dict[tuple[str, str], int]:
    return {(r["member_id"], r["group_id"]): r["raw_cost_cents"] for r in frame.iter_rows(named=True)}


def test_each_line_goes_to_the_group_covering_its_service_date() -> None:
    # m1: March $100 -> G1; September $200 -> G2; a claim starting Jun 30 whose line is
    # dated Jul 2 -> the line date decides -> G2 (+$50): G1 $100, G2 $250.
    # m3: July, covered by G1 (from Jan 1) and G2 (from Jun 1): the later span, G2, takes it.
    claims = medical(
        line("m1", "2025-03-10", 10000),
        line("m1", "2025-09-10", 20000),
        line("m1", "2025-06-30", 5000, line_date="2025-07-02"),
        line("m3", "2025-07-15", 7000),
    )
    result = claim_costs(claims, ELIG, PERIOD)
    assert _costs(result.costs) == {("m1", "G1"): 10000, ("m1", "G2"): 25000, ("m3", "G2"): 7000}
    assert result.rejected_lines == 0


def test_same_start_overlap_goes_to_the_smallest_group() -> None:
    # Both spans start Jan 1 -> tie on start -> the smaller group id, GA.
    elig = eligibility(("m1", "GB", "2025-01-01", "2025-12-31"), ("m1", "GA", "2025-01-01", "2025-12-31"))
    assert _costs(claim_costs(medical(line("m1", "2025-05-05", 100)), elig, PERIOD).costs) == {
        ("m1", "GA"): 100
    }


def test_lines_outside_every_span_are_rejected_and_totalled() -> None:
    # m2 is enrolled Jan-Mar only.  Row 2 (May 5, allowed $50, paid $40) and row 3 (claim
    # dated Mar 30 but line dated Apr 2, paid $7) fall outside: 2 rejects, paid $47.
    # Row 1 (Feb) counts: G1 $30.
    claims = medical(
        line("m2", "2025-02-01", 3000),
        line("m2", "2025-05-05", 5000, paid=4000),
        line("m2", "2025-03-30", 700, line_date="2025-04-02"),
    )
    result = claim_costs(claims, ELIG, PERIOD)
    assert _costs(result.costs) == {("m2", "G1"): 3000}
    assert (result.rejected_lines, result.rejected_paid_cents) == (2, 4700)
    assert tuple(result.rejects.column_names) == REJECT_COLUMNS
    assert result.rejects.to_pylist() == [
        {
            "table": "medical_claim",
            "source_file": "medical.csv",
            "row_number": 2,
            "column": "claim_start_date",
            "reason": "service_outside_enrollment",
            "detail": "service date is outside every enrollment span of the member",
            "value": "2025-05-05",
        },
        {
            "table": "medical_claim",
            "source_file": "medical.csv",
            "row_number": 3,
            "column": "claim_line_start_date",
            "reason": "service_outside_enrollment",
            "detail": "service date is outside every enrollment span of the member",
            "value": "2025-04-02",
        },
    ]


def test_service_period_and_runout() -> None:
    # m3 (enrolled all year in G1; G2 from June).  Counted: Dec 31 service paid 2026-03-31
    # ($10, G2).  Not counted: 2024-12-31 service ($20: before the period); a Dec 30
    # service paid 2026-04-01 ($40: after the run-out).  Neither is a reject.
    claims = medical(
        line("m3", "2025-12-31", 1000, paid_date="2026-03-31"),
        line("m3", "2024-12-31", 2000),
        line("m3", "2025-12-30", 4000, paid_date="2026-04-01"),
    )
    result = claim_costs(claims, ELIG, PERIOD)
    assert _costs(result.costs) == {("m3", "G2"): 1000}
    assert result.rejected_lines == 0


def test_allowed_or_paid_basis_and_reversals_net() -> None:
    # Claim A line 1: allowed $300 / paid $250, then reversed (-$300 / -$250) and re-paid as
    # line 1 again at $280 / $230.  Net allowed 300 - 300 + 280 = $280; net paid $230.
    # Claim A line 2: allowed $20 / paid $15.
    claims = medical(
        line("m1", "2025-02-01", 30000, paid=25000, claim="A"),
        line("m1", "2025-02-01", -30000, paid=-25000, claim="A", paid_date="2025-03-01"),
        line("m1", "2025-02-01", 28000, paid=23000, claim="A", paid_date="2025-03-01"),
        line("m1", "2025-02-01", 2000, paid=1500, claim="A", number=2),
    )
    assert _costs(claim_costs(claims, ELIG, PERIOD).costs) == {("m1", "G1"): 30000}
    paid = claim_costs(claims, ELIG, PERIOD, CostRules(basis=CostBasis.PAID))
    assert _costs(paid.costs) == {("m1", "G1"): 24500}


def test_pharmacy_only_when_included() -> None:
    # Medical $100 in March; pharmacy $25 in March and $5 in August (G2).
    claims = medical(line("m1", "2025-03-01", 10000))
    fills = pharmacy(("m1", "2025-03-02", 2500), ("m1", "2025-08-02", 500))
    without = claim_costs(claims, ELIG, PERIOD, CostRules(), pharmacy_claim=fills)
    assert _costs(without.costs) == {("m1", "G1"): 10000}
    with_rx = claim_costs(claims, ELIG, PERIOD, CostRules(include_pharmacy=True), pharmacy_claim=fills)
    assert _costs(with_rx.costs) == {("m1", "G1"): 12500, ("m1", "G2"): 500}


def test_pharmacy_outside_enrollment_is_rejected_on_its_date_column() -> None:
    fills = pharmacy(("m2", "2025-09-09", 999))
    result = claim_costs(medical(), ELIG, PERIOD, CostRules(include_pharmacy=True), pharmacy_claim=fills)
    rows = result.rejects.to_pylist()
    assert [(r["table"], r["column"], r["value"]) for r in rows] == [
        ("pharmacy_claim", "dispensing_date", "2025-09-09")
    ]
    assert result.rejected_paid_cents == 999


def test_excluded_codes_and_groups_out_of_scope() -> None:
    # Excluding 90999 drops m1's $500 dialysis line, keeping the $100 visit.
    # Scope G1 only: m1's September line (G2, $200) belongs to another contract: not counted
    # and not a reject.
    claims = medical(
        line("m1", "2025-03-01", 10000),
        line("m1", "2025-03-02", 50000, hcpcs="90999"),
        line("m1", "2025-09-01", 20000),
    )
    rules = CostRules(exclude_hcpcs=frozenset({"90999"}))
    result = claim_costs(claims, ELIG, PERIOD, rules, Scope(groups=frozenset({"G1"})))
    assert _costs(result.costs) == {("m1", "G1"): 10000}
    assert result.rejected_lines == 0

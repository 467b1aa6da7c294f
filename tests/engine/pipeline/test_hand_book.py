"""A whole job on a tiny hand-made book, every figure worked out by hand in the comments.

Book (performance year 2025, retrospective attribution, CSV inputs):

* entity E1: clinician NPI 1234567893 (family practice, 08) billing under TIN 111111111;
  a non-participating clinician NPI 1245319599 bills under TIN 999999999.
* members: M1 in group G1 all year; M2 in G1 January-June; M3 in G2 all year.
* claims (all primary-care E&M codes):
  - M1 2025-03-01 at E1: allowed $100.00, paid $80.00, paid 2025-03-15
  - M1 2025-05-01 at E1: allowed $200.00, paid $150.00, paid 2025-05-20
  - M2 2025-02-01 at TIN 999999999: allowed $100.00, paid $90.00, paid 2025-02-10
  - M3 2025-04-01 at E1: allowed $50.00, paid $40.00, paid 2025-04-11
  - M3 2025-04-01 reversal of the line above: allowed -$50.00, paid -$40.00, paid 2025-05-01
  - M3 2025-06-01 at E1: allowed $60.00, paid $45.00, paid 2025-06-30
  - M1 2026-01-05 (service after the period): not in 2025 cost, not in the pool
  - M2 2025-08-01 at TIN 999999999, paid $33.00: after M2's enrollment ended, so rejected as
    service_outside_enrollment, with its paid amount reported
  - M2 2025-03-01 at entity E2 (NPI 1112223338, TIN 222222222): allowed $10.00, paid $8.00,
    paid 2025-03-10; M2 still goes to the outside TIN ($100 beats $10), so E2 has no
    attributed member but a funded withhold pool, and no quality row
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from settle.engine.job import load_job
from settle.engine.ledger import balances
from settle.engine.pipeline.run import JobResult, settle_in_process

CLAIM_HEADER = (
    "claim_id,claim_line_number,claim_type,member_id,claim_start_date,paid_date,paid_amount,"
    "allowed_amount,rendering_npi,rendering_tin,hcpcs_code,place_of_service_code\n"
)
CLAIMS = [
    "C1,1,professional,M1,2025-03-01,2025-03-15,80.00,100.00,1234567893,111111111,99213,11",
    "C2,1,professional,M1,2025-05-01,2025-05-20,150.00,200.00,1234567893,111111111,99214,11",
    "C3,1,professional,M2,2025-02-01,2025-02-10,90.00,100.00,1245319599,999999999,99213,11",
    "C4,1,professional,M3,2025-04-01,2025-04-11,40.00,50.00,1234567893,111111111,99213,11",
    "C4,1,professional,M3,2025-04-01,2025-05-01,-40.00,-50.00,1234567893,111111111,99213,11",
    "C5,1,professional,M3,2025-06-01,2025-06-30,45.00,60.00,1234567893,111111111,99213,11",
    "C6,1,professional,M1,2026-01-05,2026-01-20,70.00,70.00,1234567893,111111111,99213,11",
    "C7,1,professional,M2,2025-08-01,2025-08-20,33.00,40.00,1245319599,999999999,99213,11",
    "C8,1,professional,M2,2025-03-01,2025-03-10,8.00,10.00,1112223338,222222222,99213,11",
]

CONTRACTS = """
contracts:
  - id: wh
    kind: withhold
    attribution: {window: retrospective}
    terms:
      withhold_rate: 0.05
      interest_rate: 0.0365
      settlement_date: 2026-06-30
      earn_back: {floor: 0.5, target: 0.9}
  - id: pbp
    kind: population_payment
    attribution: {window: retrospective}
    terms: {pmpm: 2.50}
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    root = tmp_path_factory.mktemp("hand")
    (root / "eligibility.csv").write_text(
        "member_id,group_id,enrollment_start_date,enrollment_end_date\n"
        "M1,G1,2024-01-01,2026-12-31\nM2,G1,2025-01-01,2025-06-30\nM3,G2,2025-01-01,2025-12-31\n"
    )
    (root / "roster.csv").write_text(
        "npi,tin,entity_id,specialty_code,effective_date,termination_date\n"
        "1234567893,111111111,E1,08,2024-01-01,\n"
        "1112223338,222222222,E2,08,2024-01-01,\n"
    )
    (root / "claims.csv").write_text(CLAIM_HEADER + "\n".join(CLAIMS) + "\n")
    (root / "quality.csv").write_text("entity_id,period,quality_score,met_standard\nE1,2025,0.7,true\n")
    (root / "contracts.yaml").write_text(CONTRACTS)
    (root / "job.yaml").write_text(
        "name: hand\nperiod: {start: 2025-01-01, end: 2025-12-31, runout_months: 3}\n"
        "inputs: {eligibility: eligibility.csv, medical_claim: claims.csv, roster: roster.csv, "
        "quality: quality.csv}\ncontracts: contracts.yaml\n"
    )
    return settle_in_process(load_job(root / "job.yaml"))


def test_every_row_is_accounted_for(result: JobResult) -> None:
    for counts in result.counts["tables"].values():
        assert counts["accepted"] + counts["rejected"] == counts["read"]
    assert result.counts["tables"]["medical_claim"]["read"] == len(CLAIMS)
    rejects = result.tables["rejects"].to_pylist()
    # Only C7 (row 8 of claims.csv, header not counted) is outside every enrollment span; it is
    # reported once although two contracts looked at it.
    assert [(r["row_number"], r["reason"]) for r in rejects] == [(8, "service_outside_enrollment")]
    assert result.counts["rejected_after_validation_paid_cents"] == 3300
    # C6 (service 2026-01-05) lies outside both contracts' windows (retrospective: the 2025
    # period): accepted, used by no contract, and counted with its $70.00 paid.
    assert (result.counts["unused_claim_lines"], result.counts["unused_claim_paid_cents"]) == (1, 7000)


def test_attribution(result: JobResult) -> None:
    rows = {r["member_id"]: r for r in result.tables["attribution"].to_pylist() if r["contract_id"] == "wh"}
    # M1: $300 of E1 primary care; M3: $50 reversed to 0 plus $60 -> E1; M2: only the outside TIN.
    assert rows["M1"]["entity_id"] == "E1" and rows["M1"]["step"] == "step1"
    assert rows["M3"]["entity_id"] == "E1"
    assert rows["M2"]["entity_id"] is None


def test_withhold_pools_interest_and_return(result: JobResult) -> None:
    statement = next(
        s.statement
        for s in result.settlements
        if (s.statement.contract_id, s.statement.entity_id) == ("wh", "E1")
    )
    # Pool G1 x E1: payments to E1's clinician for G1 members in the period: 80 + 150 = $230.00
    #   -> 5% withheld = $11.50.  M2's $90 went to a non-participating TIN: not withheld.
    # Pool G2 x E1: 40 - 40 (reversal) + 45 = $45.00 -> $2.25.
    # Quality 0.7 between floor 0.5 and target 0.9: earned fraction (0.7-0.5)/0.4 = 0.5.
    # Earned: 5.75 + 1.125 -> per pool rounded half-even: 5.75 and 1.12 -> $6.87 to E1.
    assert statement.amount_cents == 575 + 112
    entries = [
        e
        for s in result.settlements
        if (s.statement.contract_id, s.statement.entity_id) == ("wh", "E1")
        for e in s.entries
    ]
    final = balances(entries)
    assert final["entity:E1"] == 687
    # Interest, simple actual/365 at 3.65% on the withheld amounts, from the day after each paid
    # date through 2026-06-30:
    #   G1: 8000c x 472 days (2025-03-15 -> 2026-06-30) + 15000c x 406 days = 9,866,000 cent-days
    #       x 5% withheld x 0.0365 / 365 = 49.33 cents -> $0.49
    #   G2: 4000c x 445 - 4000c x 425 + 4500c x 365 = 1,722,500 cent-days -> 8.6125 -> $0.09
    # The employer gets back the unearned part plus all interest:
    #   G1: 11.50 - 5.75 + 0.49 = $6.24; G2: 2.25 - 1.12 + 0.09 = $1.22.
    returned = {
        g: sum(e.amount_cents for e in entries if e.debit == f"group:{g}" and e.credit.startswith("pool:"))
        for g in ("G1", "G2")
    }
    assert returned == {"G1": 624, "G2": 122}
    # Net for each employer: funded into the pool, minus what came back.
    assert final["group:G1"] == -(1150 - 624)
    assert final["group:G2"] == -(225 - 122)


def test_population_payment_member_months(result: JobResult) -> None:
    statement = next(s.statement for s in result.settlements if s.statement.contract_id == "pbp")
    # Attributed to E1: M1 (12 member months) and M3 (12): 24 x $2.50 = $60.00.
    assert statement.amount_cents == 6000
    assert Decimal(statement.step("member_months").display()) == 24


def test_a_funded_pool_without_attributed_members_is_settled(result: JobResult) -> None:
    # E2 was paid $8.00 for G1's member M2: 5% = $0.40 withheld.  E2 has no quality row, so it
    # earns nothing; the employer gets the $0.40 back with its interest:
    #   800c x 477 days (2025-03-10 -> 2026-06-30) = 381,600 cent-days x 5% x 0.0365 / 365
    #   = 1.908 cents -> $0.02.  Returned: 0.40 + 0.02 = $0.42.
    settled = [
        s for s in result.settlements if (s.statement.contract_id, s.statement.entity_id) == ("wh", "E2")
    ]
    assert len(settled) == 1
    assert settled[0].statement.amount_cents == 0
    final = balances(settled[0].entries)
    assert final.get("entity:E2", 0) == 0
    returned = sum(e.amount_cents for e in settled[0].entries if e.debit == "group:G1")
    assert returned == 42
    # E2 gets no population payment: nobody is attributed to it.
    assert not [
        s for s in result.settlements if (s.statement.contract_id, s.statement.entity_id) == ("pbp", "E2")
    ]

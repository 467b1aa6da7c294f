"""Attribution: two steps, plurality by dollars or visits, windows, voluntary alignment, ties,
non-participating TINs, roster dates, scope, reversals.  Period 2025; the default prospective
window is 2024-01-01 .. 2024-12-31 with paid dates up to 2025-03-31."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from settle.engine.job import Period
from settle.engine.kernels import attribution
from settle.engine.kernels.attribution import ATTRIBUTION_COLUMNS, attribute
from settle.engine.kernels.rules import AttributionMethod, AttributionRules, AttributionWindow, Scope
from tests.engine.kernels.builders import D, alignment, eligibility, line, medical, roster

PERIOD = Period(start=D("2025-01-01"), end=D("2025-12-31"), runout_months=3)

P1, P2, S4, R5, P6, P7, P10, X = (
    "1000000001",
    "1000000002",
    "1000000004",
    "1000000005",
    "1000000006",
    "1000000007",
    "1000000010",
    "1999999999",  # on no roster
)
ROSTER = roster(
    (P1, "T1", "E1", "08", "2020-01-01", None),  # family practice
    (P6, "T1", "E1", "08", "2024-07-01", None),  # joins E1 mid-2024
    (P7, "T1", "E1", "11", "2020-01-01", "2024-03-31"),  # leaves E1 end of March 2024
    (P2, "T2", "E2", "11", "2020-01-01", None),  # internal medicine
    (None, "T3", "E3", None, "2020-01-01", None),  # whole-TIN participation
    (P10, "T3", "E9", "08", "2020-01-01", None),  # an NPI row on E3's TIN, in E9
    (S4, "T4", "E4", "06", "2020-01-01", None),  # cardiology: a step-2 specialist
    (R5, "T5", "E5", "30", "2020-01-01", None),  # radiology: in neither list
)


def _run(*lines: dict[str, Any], members: tuple[str, ...] = (), **kw: Any) -> dict[str, dict[str, Any]]:
    ids = sorted({ln["member_id"] for ln in lines} | set(members))
    elig = eligibility(*[(m, "G1", "2025-01-01", "2025-12-31") for m in ids])
    out = attribute(medical(*lines), ROSTER, elig, PERIOD, **kw)
    assert out.columns == list(ATTRIBUTION_COLUMNS)
    return {r["member_id"]: r for r in out.iter_rows(named=True)}


def _pick(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["entity_id"],
        row["step"],
        row["winner"],
        row["winner_allowed_cents"],
        row["runner_up"],
        row["runner_up_allowed_cents"],
    )


def test_step1_plurality_of_allowed_dollars_with_evidence() -> None:
    # E1: $60 + $40 = $100 over two dates; E2: $90 -> E1 wins, runner-up E2 at $90.
    got = _run(
        line("m1", "2024-02-01", 6000, npi=P1, tin="T1"),
        line("m1", "2024-05-01", 4000, npi=P1, tin="T1"),
        line("m1", "2024-06-01", 9000, npi=P2, tin="T2"),
    )["m1"]
    assert _pick(got) == ("E1", "step1", "E1", 10000, "E2", 9000)
    assert got["winner_visits"] == 2 and got["runner_up_visits"] == 1
    assert got["winner_last_service_date"] == D("2024-05-01")
    assert got["winner_is_entity"] is True


def test_a_non_participating_tin_must_be_beaten() -> None:
    # E1 $100 vs TIN T9 (no entity) $150 -> T9 wins: the member is unattributed.
    got = _run(
        line("m1", "2024-02-01", 10000, npi=P1, tin="T1"), line("m1", "2024-03-01", 15000, npi=X, tin="T9")
    )
    assert _pick(got["m1"]) == (None, "step1", "tin:T9", 15000, "E1", 10000)
    assert got["m1"]["winner_is_entity"] is False


def test_each_non_participating_tin_competes_on_its_own() -> None:
    # E1 $100; T8 $60 and T9 $60 (together $120, but they do not pool) -> E1 wins.
    # Runner-up between T8 and T9 ($60 each): T9's service is more recent -> T9.
    got = _run(
        line("m1", "2024-02-01", 10000, npi=P1, tin="T1"),
        line("m1", "2024-03-01", 6000, npi=X, tin="T8"),
        line("m1", "2024-04-01", 6000, npi=X, tin="T9"),
    )
    assert _pick(got["m1"]) == ("E1", "step1", "E1", 10000, "tin:T9", 6000)


def test_step2_specialists_only_when_no_step1_service() -> None:
    # m1: only a cardiologist (E4, specialty 06) billed primary-care codes: step 2 -> E4.
    # m2: the cardiologist $500 and E1's family physician $10: step 1 decides on step-1
    #     lines alone -> E1, and E4 is not even the runner-up.
    got = _run(
        line("m1", "2024-02-01", 50000, npi=S4, tin="T4"),
        line("m2", "2024-02-01", 50000, npi=S4, tin="T4"),
        line("m2", "2024-03-01", 1000, npi=P1, tin="T1"),
    )
    assert _pick(got["m1"]) == ("E4", "step2", "E4", 50000, None, None)
    assert _pick(got["m2"]) == ("E1", "step1", "E1", 1000, None, None)


def test_only_primary_care_codes_and_listed_specialties_count() -> None:
    # m1: E1's knee replacement (27447, $10,000) is not a primary-care service; E2's 99213
    #     ($50) is -> E2.
    # m2: a radiologist (specialty 30, in neither list) billed 99213 -> nothing qualifies.
    # m3: an NPI on no roster (specialty unknown) under TIN T9 counts in step 1 ($20), so it
    #     beats the step-2 cardiologist ($500): unattributed.
    got = _run(
        line("m1", "2024-02-01", 1_000_000, npi=P1, tin="T1", hcpcs="27447"),
        line("m1", "2024-02-01", 5000, npi=P2, tin="T2"),
        line("m2", "2024-02-01", 50000, npi=R5, tin="T5"),
        line("m3", "2024-02-01", 50000, npi=S4, tin="T4"),
        line("m3", "2024-02-02", 2000, npi=X, tin="T9"),
    )
    assert _pick(got["m1"]) == ("E2", "step1", "E2", 5000, None, None)
    assert _pick(got["m2"]) == (None, None, None, None, None, None)
    assert _pick(got["m3"]) == (None, "step1", "tin:T9", 2000, None, None)


def test_ties_break_by_latest_service_then_participation_then_smallest_id() -> None:
    # m1: E1 $100 on Mar 1, E2 $100 on Jun 1 -> E2 (more recent).
    # m2: E1 and E2 $100 each on the same day -> E1 (smaller id).
    # m3: E1 and TIN T9 $100 each on the same day -> T9: an entity must beat a TIN.
    got = _run(
        line("m1", "2024-03-01", 10000, npi=P1, tin="T1"),
        line("m1", "2024-06-01", 10000, npi=P2, tin="T2"),
        line("m2", "2024-03-01", 10000, npi=P2, tin="T2"),
        line("m2", "2024-03-01", 10000, npi=P1, tin="T1"),
        line("m3", "2024-03-01", 10000, npi=P1, tin="T1"),
        line("m3", "2024-03-01", 10000, npi=X, tin="T9"),
    )
    assert (got["m1"]["entity_id"], got["m1"]["runner_up"]) == ("E2", "E1")
    assert (got["m2"]["entity_id"], got["m2"]["runner_up"]) == ("E1", "E2")
    assert (got["m3"]["winner"], got["m3"]["entity_id"], got["m3"]["runner_up"]) == ("tin:T9", None, "E1")


def test_plurality_visits_counts_distinct_service_dates() -> None:
    # E1: three $10 lines on two dates (two lines on Feb 1) -> 2 visits, $30.
    # E2: one $500 line -> 1 visit.  Visits: E1 (2 > 1).  Dollars: E2 ($500 > $30).
    lines = (
        line("m1", "2024-02-01", 1000, npi=P1, tin="T1"),
        line("m1", "2024-02-01", 1000, npi=P1, tin="T1", number=2),
        line("m1", "2024-04-01", 1000, npi=P1, tin="T1"),
        line("m1", "2024-05-01", 50000, npi=P2, tin="T2"),
    )
    visits = _run(*lines, rules=AttributionRules(method=AttributionMethod.PLURALITY_VISITS))["m1"]
    assert (
        visits["entity_id"],
        visits["winner_visits"],
        visits["runner_up"],
        visits["runner_up_visits"],
    ) == (
        "E1",
        2,
        "E2",
        1,
    )
    assert _run(*lines)["m1"]["entity_id"] == "E2"


def test_prospective_lookback_and_retrospective_windows() -> None:
    # E1 $100 on 2024-06-15 (lookback), E2 $100 on 2025-03-01 (period).
    # prospective 12 months (2024-01-01..2024-12-31): E1.  retrospective (2025): E2.
    # prospective 6 months (2024-07-01..2024-12-31): nothing qualifies.
    lines = (
        line("m1", "2024-06-15", 10000, npi=P1, tin="T1"),
        line("m1", "2025-03-01", 10000, npi=P2, tin="T2"),
    )
    assert _run(*lines)["m1"]["entity_id"] == "E1"
    retro = AttributionRules(window=AttributionWindow.RETROSPECTIVE)
    assert _run(*lines, rules=retro)["m1"]["entity_id"] == "E2"
    assert _run(*lines, rules=AttributionRules(lookback_months=6))["m1"]["step"] is None


def test_paid_date_after_the_runout_does_not_count() -> None:
    # Window end 2024-12-31 + 3 months = 2025-03-31.  E1's line paid 2025-04-15 is out;
    # E2's $10 paid 2025-03-31 counts -> E2.
    got = _run(
        line("m1", "2024-12-20", 10000, npi=P1, tin="T1", paid_date="2025-04-15"),
        line("m1", "2024-12-21", 1000, npi=P2, tin="T2", paid_date="2025-03-31"),
    )
    assert _pick(got["m1"]) == ("E2", "step1", "E2", 1000, None, None)


def test_roster_effective_and_termination_dates() -> None:
    # P6 joined E1 on 2024-07-01: its May service belongs to TIN T1 as a non-participant,
    # its August service to E1.  P7 left E1 on 2024-03-31: its April service is T1's.
    # m1: P6 May $80 (tin:T1) vs P6 Aug $50 (E1) -> tin:T1 wins $80 to $50.
    # m2: P7 Feb $30 (E1) vs P7 Apr $40 (tin:T1) -> tin:T1.
    got = _run(
        line("m1", "2024-05-01", 8000, npi=P6, tin="T1"),
        line("m1", "2024-08-01", 5000, npi=P6, tin="T1"),
        line("m2", "2024-02-01", 3000, npi=P7, tin="T1"),
        line("m2", "2024-04-01", 4000, npi=P7, tin="T1"),
    )
    assert _pick(got["m1"]) == (None, "step1", "tin:T1", 8000, "E1", 5000)
    assert _pick(got["m2"]) == (None, "step1", "tin:T1", 4000, "E1", 3000)


def test_whole_tin_rows_cover_every_npi_and_npi_rows_come_first() -> None:
    # m1: an NPI on no roster billing under T3 belongs to E3 (whole-TIN row).
    # m2: P10 has its own NPI row on T3 in E9: the NPI row wins over E3's whole-TIN row.
    got = _run(
        line("m1", "2024-02-01", 1000, npi=X, tin="T3"), line("m2", "2024-02-01", 1000, npi=P10, tin="T3")
    )
    assert got["m1"]["entity_id"] == "E3"
    assert got["m2"]["entity_id"] == "E9"


def test_tin_from_billing_tin_or_billing_npi() -> None:
    # m1: no rendering TIN, billing_tin T1 -> P1 on T1 -> E1.
    # m2: no TIN at all, billing_npi P2 -> the roster's TIN for P2 is T2 -> P2 on T2 -> E2.
    got = _run(
        line("m1", "2024-02-01", 1000, npi=P1, tin=None, billing_tin="T1"),
        line("m2", "2024-02-01", 1000, npi=P2, tin=None, billing_npi=P2),
    )
    assert (got["m1"]["entity_id"], got["m2"]["entity_id"]) == ("E1", "E2")


# m1: E1 $200 fully reversed (same claim and line, -$200) -> no service; E2 $50 -> E2,
#     and E1 is not even a visit.
# m2: E1 $200 partly reversed by -$150 -> $50 net; E2 $60 -> E2 ($60 > $50), runner-up E1 $50.
# m3: a lone E1 reversal (-$50, no original) is no service at all; E2's $0 visit (never
#     reversed) is one -> E2 with $0 and 1 visit, no runner-up.
REVERSALS = (
    line("m1", "2024-02-01", 20000, npi=P1, tin="T1", claim="A"),
    line("m1", "2024-02-01", -20000, npi=P1, tin="T1", claim="A", paid_date="2024-03-01"),
    line("m1", "2024-02-05", 5000, npi=P2, tin="T2"),
    line("m2", "2024-02-01", 20000, npi=P1, tin="T1", claim="B"),
    line("m2", "2024-02-01", -15000, npi=P1, tin="T1", claim="B"),
    line("m2", "2024-02-05", 6000, npi=P2, tin="T2"),
    line("m3", "2024-02-01", -5000, npi=P1, tin="T1", claim="C"),
    line("m3", "2024-02-05", 0, npi=P2, tin="T2"),
)


def test_reversals_net_per_claim_line() -> None:
    got = _run(*REVERSALS)
    assert _pick(got["m1"]) == ("E2", "step1", "E2", 5000, None, None)
    assert _pick(got["m2"]) == ("E2", "step1", "E2", 6000, "E1", 5000)
    assert _pick(got["m3"]) == ("E2", "step1", "E2", 0, None, None)
    assert got["m3"]["winner_visits"] == 1


def test_netting_is_the_same_when_every_line_shares_a_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines whose key hash repeats are netted by grouping; a lone line that only shares a hash
    must come out as it would alone (the hash picks candidates, it decides nothing)."""
    lines = (*REVERSALS, line("m4", "2024-03-01", 7000, npi=P1, tin="T1", claim="D"))
    alone = _run(*lines)
    monkeypatch.setattr(attribution, "key_hash", lambda keys: pl.repeat(7, pl.len(), dtype=pl.UInt64))
    assert _run(*lines) == alone
    assert _pick(alone["m4"]) == ("E1", "step1", "E1", 7000, None, None)


def test_scope_of_entities_and_groups() -> None:
    # Entities in scope: E1 only.  E2's clinician then competes as the non-participating
    # TIN T2: m1 has E1 $100, T2 $90 -> E1; m2 has E1 $50, T2 $90 -> tin:T2, unattributed.
    # Groups in scope: G1.  m3 is enrolled only in G2 -> not in the population at all.
    lines = (
        line("m1", "2024-02-01", 10000, npi=P1, tin="T1"),
        line("m1", "2024-02-01", 9000, npi=P2, tin="T2"),
        line("m2", "2024-02-01", 5000, npi=P1, tin="T1"),
        line("m2", "2024-02-01", 9000, npi=P2, tin="T2"),
        line("m3", "2024-02-01", 9000, npi=P1, tin="T1"),
    )
    elig = eligibility(
        ("m1", "G1", "2025-01-01", "2025-12-31"),
        ("m2", "G1", "2025-01-01", "2025-12-31"),
        ("m3", "G2", "2025-01-01", "2025-12-31"),
    )
    out = attribute(medical(*lines), ROSTER, elig, PERIOD, scope=Scope(groups={"G1"}, entities={"E1"}))
    assert out.select("member_id", "entity_id", "winner", "runner_up").rows() == [
        ("m1", "E1", "E1", "tin:T2"),
        ("m2", None, "tin:T2", "E1"),
    ]


def test_population_is_members_enrolled_in_the_period() -> None:
    # m1 enrolled only in 2024: prospective claims or not, m1 is not in the 2025 population;
    # m2 enrolled in 2025 with no claims: one row, nothing decided.
    elig = eligibility(("m1", "G1", "2024-01-01", "2024-12-31"), ("m2", "G1", "2025-06-01", "2025-06-30"))
    out = attribute(medical(line("m1", "2024-02-01", 1000, npi=P1, tin="T1")), ROSTER, elig, PERIOD)
    assert out.select("member_id", "entity_id", "step").rows() == [("m2", None, None)]


@pytest.mark.parametrize(
    ("designations", "use", "expected"),
    [
        # A designation of E2's P2 signed in the window overrides E1's claims.
        ([("m1", P2, "2024-06-01")], True, ("E2", "voluntary", P2)),
        # Not used when the contract turns voluntary alignment off.
        ([("m1", P2, "2024-06-01")], False, ("E1", "step1", None)),
        # Signed after the window's last day (2024-12-31): ignored.
        ([("m1", P2, "2025-02-01")], True, ("E1", "step1", None)),
        # The latest designation is of a clinician on no roster: claims decide.
        ([("m1", P2, "2024-01-01"), ("m1", X, "2024-05-01")], True, ("E1", "step1", None)),
        # P6 is on E1's roster from 2024-07-01, covering the window's last day: E1 by designation.
        ([("m1", P6, "2024-03-01")], True, ("E1", "voluntary", P6)),
        # P7 left E1 on 2024-03-31, before the window's last day: claims decide.
        ([("m1", P7, "2024-02-01")], True, ("E1", "step1", None)),
    ],
)
def test_voluntary_alignment_overrides_claims(
    designations: list[tuple[str, str, str]], use: bool, expected: tuple[Any, ...]
) -> None:
    # Claims alone: E1 $100 vs E2 $10 -> E1 in step 1.
    lines = (
        line("m1", "2024-02-01", 10000, npi=P1, tin="T1"),
        line("m1", "2024-02-02", 1000, npi=P2, tin="T2"),
    )
    got = _run(
        *lines,
        rules=AttributionRules(use_voluntary_alignment=use),
        voluntary_alignment=alignment(*designations),
    )["m1"]
    assert (got["entity_id"], got["step"], got["designated_npi"]) == expected
    if expected[1] == "voluntary":
        assert got["winner"] == expected[0] and got["winner_allowed_cents"] is None


def test_primary_care_code_override(tmp_path: Any) -> None:
    # With a contract list holding only G0439, the 99213 visit no longer qualifies; the
    # annual wellness visit does -> E2.
    codes = tmp_path / "codes.csv"
    codes.write_text("hcpcs_code,description\nG0439,AWV\n", encoding="utf-8")
    lines = (
        line("m1", "2024-02-01", 10000, npi=P1, tin="T1"),
        line("m1", "2024-02-02", 1000, npi=P2, tin="T2", hcpcs="G0439"),
    )
    assert _run(*lines)["m1"]["entity_id"] == "E1"
    assert _run(*lines, rules=AttributionRules(primary_care_codes=str(codes)))["m1"]["entity_id"] == "E2"


def test_output_is_a_polars_frame_with_arrow_types() -> None:
    out = attribute(
        medical(line("m1", "2024-02-01", 1000)),
        ROSTER,
        eligibility(("m1", "G1", "2025-01-01", "2025-12-31")),
        PERIOD,
    )
    assert isinstance(out, pl.DataFrame)
    schema = out.to_arrow().schema
    assert str(schema.field("winner_allowed_cents").type) == "int64"
    assert str(schema.field("winner_last_service_date").type) == "date32[day]"


@pytest.mark.parametrize("flip", [False, True])
def test_an_entitys_overlapping_roster_rows_give_the_smallest_specialty(flip: bool) -> None:
    # P1 is listed twice in E1 on T1, both rows covering 2024: family practice (08) and
    # cardiology (06).  The smallest code, 06, is the matched specialty whatever the rows'
    # order, so the line is a step-2 line; a null specialty is never preferred to a code.
    rows = [(P1, "T1", "E1", "08", "2020-01-01", None), (P1, "T1", "E1", "06", "2020-01-01", None)]
    blank = [(P2, "T2", "E2", None, "2020-01-01", None), (P2, "T2", "E2", "30", "2020-01-01", None)]
    twice = roster(*(rows[::-1] if flip else rows), *(blank[::-1] if flip else blank))
    lines = [
        line("m1", "2024-02-01", 1000, npi=P1, tin="T1"),
        line("m2", "2024-02-01", 1000, npi=P2, tin="T2"),
    ]
    elig = eligibility(("m1", "G1", "2025-01-01", "2025-12-31"), ("m2", "G1", "2025-01-01", "2025-12-31"))
    got = {r["member_id"]: r for r in attribute(medical(*lines), twice, elig, PERIOD).iter_rows(named=True)}
    assert (got["m1"]["entity_id"], got["m1"]["step"]) == ("E1", "step2")
    # m2: specialty 30 (radiology, in neither list) beats the null: nothing qualifies.
    assert (got["m2"]["entity_id"], got["m2"]["step"]) == (None, None)

"""Member months: merged spans, the three month rules, groups kept apart, stratifiers."""

from __future__ import annotations

import calendar
import datetime as dt
from fractions import Fraction

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from settle.engine.job import Period
from settle.engine.kernels.member_months import (
    MEMBER_MONTH_UNITS,
    member_months,
    member_months_by_month,
    member_months_fraction,
    merge_spans,
)
from settle.engine.kernels.rules import MemberMonthRule
from tests.engine.kernels.builders import D, eligibility

U = MEMBER_MONTH_UNITS
YEAR = Period(start=D("2025-01-01"), end=D("2025-12-31"))


def _mm(frame: pl.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (r["member_id"], r["group_id"]): (r["member_days"], r["member_month_units"])
        for r in frame.iter_rows(named=True)
    }


def test_unit_is_exact_for_every_month_length() -> None:
    # 377580 = lcm(28, 29, 30, 31): every d/D is a whole number of units.
    for days in (28, 29, 30, 31):
        assert U % days == 0
    assert member_months_fraction(U // 2) == Fraction(1, 2)


def test_overlapping_and_adjacent_spans_merge() -> None:
    # m1/G: Jan 1-Mar 31 and Feb 15-Apr 10 overlap; Apr 11-Apr 30 is adjacent -> one span
    # Jan 1-Apr 30 = 31+28+31+30 = 120 days, 4 months (not 3 + 2 + 1 = 6).
    # m2/G: Jan 1-Jan 10 and Jan 20-Jan 31 leave a gap; both in January -> 10 + 12 = 22 days,
    # still ONE member month (any_day counts the month once).
    elig = eligibility(
        ("m1", "G", "2025-01-01", "2025-03-31"),
        ("m1", "G", "2025-02-15", "2025-04-10"),
        ("m1", "G", "2025-04-11", "2025-04-30"),
        ("m2", "G", "2025-01-01", "2025-01-10"),
        ("m2", "G", "2025-01-20", "2025-01-31"),
    )
    assert _mm(member_months(elig, YEAR)) == {("m1", "G"): (120, 4 * U), ("m2", "G"): (22, 1 * U)}


def test_three_month_rules() -> None:
    # Span Jan 15 - Mar 1 2025:
    # any_day: Jan, Feb, Mar -> 3.
    # first_of_month: Feb 1 and Mar 1 are covered, Jan 1 is not -> 2.
    # partial: 17/31 (Jan 15-31) + 28/28 + 1/31 = 18/31 + 1 = 49/31 member months.
    elig = eligibility(("m1", "G", "2025-01-15", "2025-03-01"))
    days = 17 + 28 + 1
    assert _mm(member_months(elig, YEAR, MemberMonthRule.ANY_DAY)) == {("m1", "G"): (days, 3 * U)}
    assert _mm(member_months(elig, YEAR, MemberMonthRule.FIRST_OF_MONTH)) == {("m1", "G"): (days, 2 * U)}
    partial = member_months(elig, YEAR, MemberMonthRule.PARTIAL)
    units = partial["member_month_units"][0]
    assert member_months_fraction(units) == Fraction(49, 31)


def test_partial_february_of_a_leap_year() -> None:
    # Feb 2028 has 29 days; enrolled Feb 15-29 = 15 days -> 15/29 of a member month.
    period = Period(start=D("2028-01-01"), end=D("2028-12-31"))
    elig = eligibility(("m1", "G", "2028-02-15", "2028-02-29"))
    out = member_months(elig, period, MemberMonthRule.PARTIAL)
    assert member_months_fraction(out["member_month_units"][0]) == Fraction(15, 29)


def test_spans_are_clipped_to_the_period() -> None:
    # Span 2024-11-01 .. 2026-02-28 inside period 2025: Jan..Dec = 12 months, 365 days.
    elig = eligibility(("m1", "G", "2024-11-01", "2026-02-28"))
    assert _mm(member_months(elig, YEAR)) == {("m1", "G"): (365, 12 * U)}


def test_mid_month_period_start_and_first_of_month() -> None:
    # Period Jan 15 - Mar 31; span Jan 1 - Mar 31.  Days inside the period: 17 + 28 + 31 = 76.
    # first_of_month: Jan 1 is outside the period -> only Feb and Mar count = 2.
    # partial: Jan counts its 17 days in the period over Jan's 31: 17/31 + 1 + 1.
    period = Period(start=D("2025-01-15"), end=D("2025-03-31"))
    elig = eligibility(("m1", "G", "2025-01-01", "2025-03-31"))
    assert _mm(member_months(elig, period, MemberMonthRule.FIRST_OF_MONTH)) == {("m1", "G"): (76, 2 * U)}
    partial = member_months(elig, period, MemberMonthRule.PARTIAL)["member_month_units"][0]
    assert member_months_fraction(partial) == Fraction(17, 31) + 2


def test_member_in_two_groups_in_one_month_counts_in_each_for_its_own_days() -> None:
    # m1 is in G1 Jan 1-Mar 15 and in G2 Mar 10-Jun 30 (overlap Mar 10-15).
    # any_day: G1 Jan, Feb, Mar = 3; G2 Mar..Jun = 4 (March counts in both groups).
    # partial: G1 = 1 + 1 + 15/31; G2 = 22/31 + 1 + 1 + 1 (Mar 10-31 = 22 days).
    elig = eligibility(("m1", "G1", "2025-01-01", "2025-03-15"), ("m1", "G2", "2025-03-10", "2025-06-30"))
    assert _mm(member_months(elig, YEAR)) == {
        ("m1", "G1"): (31 + 28 + 15, 3 * U),
        ("m1", "G2"): (22 + 30 + 31 + 30, 4 * U),
    }
    partial = _mm(member_months(elig, YEAR, MemberMonthRule.PARTIAL))
    assert member_months_fraction(partial[("m1", "G1")][1]) == 2 + Fraction(15, 31)
    assert member_months_fraction(partial[("m1", "G2")][1]) == 3 + Fraction(22, 31)


def test_group_scope_and_spans_outside_the_period() -> None:
    # G2 is out of scope; m2's only span ended in 2024 -> no row at all.
    elig = eligibility(
        ("m1", "G1", "2025-01-01", "2025-01-31"),
        ("m1", "G2", "2025-01-01", "2025-12-31"),
        ("m2", "G1", "2024-01-01", "2024-12-31"),
    )
    assert _mm(member_months(elig, YEAR, groups=["G1"])) == {("m1", "G1"): (31, U)}


def test_by_month_rows() -> None:
    # Jan 20 - Feb 10 partial: Jan 12/31 -> 12 * 12180 units; Feb 10/28 -> 10 * 13485 units.
    elig = eligibility(("m1", "G", "2025-01-20", "2025-02-10"))
    expected = pl.DataFrame(
        {
            "member_id": ["m1", "m1"],
            "group_id": ["G", "G"],
            "month": [D("2025-01-01"), D("2025-02-01")],
            "member_days": [12, 10],
            "member_month_units": [12 * (U // 31), 10 * (U // 28)],
        }
    )
    got = member_months_by_month(elig, YEAR, MemberMonthRule.PARTIAL).sort("month")
    assert_frame_equal(got, expected)


def test_stratifier_from_the_latest_span() -> None:
    # m1's spans Jan-Mar (dual '00') and Apr-Dec (dual '02'): the latest span gives '02'.
    elig = eligibility(
        ("m1", "G", "2025-04-01", "2025-12-31"),
        ("m1", "G", "2025-01-01", "2025-03-31"),
        extra={"dual_status_code": ["02", "00"]},
    )
    out = member_months(elig, YEAR, stratifiers=["dual_status_code"])
    assert out.select("member_id", "dual_status_code").rows() == [("m1", "02")]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["m1", "m2"]),
            st.sampled_from(["G1", "G2"]),
            st.integers(min_value=0, max_value=60),
            st.integers(min_value=0, max_value=20),
        ),
        max_size=12,
    )
)
@example([])
def test_merged_spans_cover_the_same_days_and_never_touch(spans: list[tuple[str, str, int, int]]) -> None:
    # Brute force: the set of enrolled days per member x group.  Merged spans must cover
    # exactly those days, and two merged spans of the same key must leave a gap of >= 1 day.
    base = D("2025-01-01")
    rows = [(m, g, base + dt.timedelta(days=s), base + dt.timedelta(days=s + n)) for m, g, s, n in spans]
    expected: dict[tuple[str, str], set[dt.date]] = {}
    for m, g, start, end in rows:
        days = expected.setdefault((m, g), set())
        days.update(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    merged = merge_spans(eligibility(*rows)).collect().sort("member_id", "group_id", "enrollment_start_date")
    got: dict[tuple[str, str], set[dt.date]] = {}
    previous: dict[tuple[str, str], dt.date] = {}
    for m, g, start, end in merged.select(
        "member_id", "group_id", "enrollment_start_date", "enrollment_end_date"
    ).rows():
        if (m, g) in previous:
            assert start > previous[(m, g)] + dt.timedelta(days=1)
        previous[(m, g)] = end
        got.setdefault((m, g), set()).update(
            start + dt.timedelta(days=i) for i in range((end - start).days + 1)
        )
    assert got == expected


def _brute_force(
    rows: list[tuple[str, str, dt.date, dt.date]], period: Period, rule: MemberMonthRule
) -> dict[tuple[str, str], tuple[int, int]]:
    """Day by day: the enrolled days of each member x group inside the period, then the
    module's month rules applied to each calendar month's days."""
    days: dict[tuple[str, str], set[dt.date]] = {}
    for m, g, start, end in rows:
        seen = days.setdefault((m, g), set())
        for i in range((end - start).days + 1):
            day = start + dt.timedelta(days=i)
            if period.start <= day <= period.end:
                seen.add(day)
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for key, enrolled in days.items():
        if not enrolled:
            continue
        months: dict[tuple[int, int], list[dt.date]] = {}
        for day in enrolled:
            months.setdefault((day.year, day.month), []).append(day)
        units = 0
        for (year, month), in_month in months.items():
            length = calendar.monthrange(year, month)[1]
            if rule is MemberMonthRule.ANY_DAY:
                units += U
            elif rule is MemberMonthRule.FIRST_OF_MONTH:
                units += U if dt.date(year, month, 1) in enrolled else 0
            else:
                units += len(in_month) * (U // length)
        out[key] = (len(enrolled), units)
    return out


@settings(max_examples=150, deadline=None)
@given(
    spans=st.lists(
        st.tuples(
            st.sampled_from(["m1", "m2"]),
            st.sampled_from(["G1", "G2"]),
            st.integers(min_value=-40, max_value=420),
            st.integers(min_value=0, max_value=120),
        ),
        max_size=10,
    ),
    rule=st.sampled_from(list(MemberMonthRule)),
    period_start=st.integers(min_value=0, max_value=60),
)
@example(spans=[("m1", "G1", 0, 9), ("m1", "G1", 19, 20)], rule=MemberMonthRule.ANY_DAY, period_start=0)
@example(spans=[("m1", "G1", 31, 40), ("m1", "G1", 50, 70)], rule=MemberMonthRule.PARTIAL, period_start=45)
def test_every_rule_equals_a_day_by_day_count(
    spans: list[tuple[str, str, int, int]], rule: MemberMonthRule, period_start: int
) -> None:
    # Spans around a leap year (2024) and a period starting on any day of its first two months;
    # two spans of one member in one month (the first example) count that month once.
    base = D("2024-01-01")
    period = Period(start=base + dt.timedelta(days=period_start), end=D("2024-12-31"))
    rows = [(m, g, base + dt.timedelta(days=s), base + dt.timedelta(days=s + n)) for m, g, s, n in spans]
    got = _mm(member_months(eligibility(*rows), period, rule)) if rows else {}
    assert got == _brute_force(rows, period, rule)


def test_spans_that_neither_overlap_nor_touch_come_back_as_they_are() -> None:
    rows = [
        ("m2", "G", D("2025-03-01"), D("2025-03-31")),
        ("m1", "G", D("2025-05-01"), D("2025-06-30")),
        ("m1", "G", D("2025-01-01"), D("2025-03-30")),  # ends two days before the next starts
        ("m1", "H", D("2025-04-01"), D("2025-04-30")),
    ]
    merged = merge_spans(eligibility(*rows)).collect()
    assert sorted(merged.rows()) == sorted(rows)


def test_a_span_that_touches_the_next_merges_with_it_whatever_the_others_do() -> None:
    rows = [
        ("m2", "G", D("2025-03-01"), D("2025-03-31")),
        ("m1", "G", D("2025-01-01"), D("2025-03-31")),
        ("m1", "G", D("2025-04-01"), D("2025-06-30")),  # adjacent: one span Jan..Jun
    ]
    merged = merge_spans(eligibility(*rows)).collect()
    assert sorted(merged.rows()) == [
        ("m1", "G", D("2025-01-01"), D("2025-06-30")),
        ("m2", "G", D("2025-03-01"), D("2025-03-31")),
    ]

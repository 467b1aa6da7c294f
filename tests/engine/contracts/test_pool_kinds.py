"""withhold and bonus_pool: hand-worked cases with interest and the unearned return."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa

from settle.engine.contracts import EntityAggregates, PoolFunding, settle_contract
from settle.engine.contracts.interest import cent_days, interest_days
from settle.engine.ledger import balances

from .helpers import contract, d

SETTLE = dt.date(2026, 6, 30)
WITHHOLD = {
    "withhold_rate": 0.05,
    "interest_rate": 0.04,
    "settlement_date": "2026-06-30",
    "earn_back": {"floor": 0.6, "target": 0.9},
}


def test_interest_days_count_from_the_day_after_payment() -> None:
    assert interest_days(dt.date(2026, 6, 29), SETTLE) == 1
    assert interest_days(dt.date(2025, 12, 31), SETTLE) == 181  # Jan..Jun 2026: 31+28+31+30+31+30
    assert interest_days(dt.date(2026, 7, 1), SETTLE) == 0


def _g1_pool() -> PoolFunding:
    # $10,000 paid 2025-12-31 (181 days) and $20,000 paid 2026-06-29 (1 day):
    # cent-days = 1,000,000 × 181 + 2,000,000 × 1 = 183,000,000.
    paid = pa.array([1_000_000, 2_000_000], pa.int64())
    dates = pa.array([dt.date(2025, 12, 31), dt.date(2026, 6, 29)], pa.date32())
    days = cent_days(paid, dates, SETTLE)
    assert days == 183_000_000
    return PoolFunding("G1", base_cents=3_000_000, cent_days=days)


def test_withhold_linear_earn_back_with_interest() -> None:
    # withheld = 5% × 30,000 = 1,500.00
    # interest = 0.04 × 0.05 × 183,000,000 / 365 / 100 = 3,660 / 365 = 10.0274 → 10.03
    # score 0.8: fraction (0.8 − 0.6) / (0.9 − 0.6) = 0.6666666667; earned 1,500 × that = 1,000.00
    # returned = 1,500 − 1,000 + 10.03 = 510.03.
    agg = EntityAggregates("E1", Decimal(1000), quality_score=d("0.8"))
    result = settle_contract(contract("withhold", WITHHOLD), agg, [_g1_pool()])
    st = result.statement
    assert st.value("funded[G1]") == 150_000
    assert st.value("interest[G1]") == 1_003
    assert st.value("earned_fraction") == d("0.6666666667")
    assert st.value("earned[G1]") == 100_000
    assert st.value("returned[G1]") == 51_003
    assert st.amount_cents == 100_000 and st.payment_stream == "p4p"
    bal = balances(result.entries)
    assert bal["entity:E1"] == 100_000
    assert bal["group:G1"] == -150_000 + 51_003  # paid in 1,500.00, got back 510.03
    assert bal["interest:c1"] == -1_003
    assert bal["pool:c1:E1:G1"] == 0
    reasons = {e.reason: e.amount_cents for e in result.entries}
    assert reasons == {
        "withhold_funding": 150_000,
        "interest": 1_003,
        "earned": 100_000,
        "unearned_return": 50_000,
        "interest_return": 1_003,
    }


def test_withhold_tiers_and_two_pools() -> None:
    # tiers: 0.5 → half, 0.8 → all.  Score 0.55 earns 0.5.
    # G1: 5% × 30,000 = 1,500 → earned 750; G2: 5% × 1,000.10 = 50.005 → half-even 50.00 → earned 25.00.
    terms = {
        **WITHHOLD,
        "interest_rate": 0,
        "earn_back": {
            "tiers": [{"min_score": 0.5, "earned_fraction": 0.5}, {"min_score": 0.8, "earned_fraction": 1.0}]
        },
    }
    agg = EntityAggregates("E1", Decimal(1000), quality_score=d("0.55"))
    pools = [PoolFunding("G1", 3_000_000), PoolFunding("G2", 100_010)]
    result = settle_contract(contract("withhold", terms), agg, pools)
    st = result.statement
    assert st.value("funded[G2]") == 5_000
    assert st.value("earned[G1]") == 75_000 and st.value("earned[G2]") == 2_500
    assert st.value("returned_total") == 75_000 + 2_500
    assert st.amount_cents == 77_500
    # Below the first tier nothing is earned; everything returns.
    agg = EntityAggregates("E1", Decimal(1000), quality_score=d("0.4"))
    result = settle_contract(contract("withhold", terms), agg, pools)
    assert result.statement.amount_cents == 0
    assert balances(result.entries)["group:G1"] == 0


BONUS = {
    "prefund_rate": 0.02,
    "target": {"pmpm": 480},
    "provider_share": 0.5,
    "max_fraction_of_pool": 0.8,
    "interest_rate": 0.03,
    "return_date": "2026-06-30",
}


def _bonus_pools() -> list[PoolFunding]:
    # G1: 2% × 400,000 = 8,000; cent-days 40,000,000 × 100 days = 4,000,000,000
    #     interest = 0.03 × 0.02 × 4e9 / 365 / 100 = 24,000 / 365 = 65.7534 → 65.75
    # G2: 2% × 100,000 = 2,000; no interest.
    return [PoolFunding("G1", 40_000_000, cent_days=4_000_000_000), PoolFunding("G2", 10_000_000)]


def test_bonus_pool_earned_limited_by_fraction_of_pool() -> None:
    # target 480 × 1,000 = 480,000; actual 450,000; savings 30,000; share 50% = 15,000;
    # limit 80% × 10,000 = 8,000 → earned 8,000, drawn 8,000 : 2,000 → 6,400 and 1,600;
    # returned G1 = 8,000 − 6,400 + 65.75 = 1,665.75; G2 = 2,000 − 1,600 = 400.
    agg = EntityAggregates("E1", Decimal(1000), actual_cents=45_000_000, met_quality_standard=True)
    result = settle_contract(contract("bonus_pool", BONUS), agg, _bonus_pools())
    st = result.statement
    assert st.value("pool_total") == 1_000_000
    assert st.value("interest[G1]") == 6_575
    assert st.value("savings") == 3_000_000
    assert st.value("max_from_pool") == 800_000
    assert st.amount_cents == 800_000 and st.payment_stream == "tcoc"
    assert st.value("earned[G1]") == 640_000 and st.value("earned[G2]") == 160_000
    assert st.value("returned[G1]") == 166_575 and st.value("returned[G2]") == 40_000


def test_bonus_pool_without_quality_returns_everything_with_interest() -> None:
    agg = EntityAggregates("E1", Decimal(1000), actual_cents=45_000_000, met_quality_standard=False)
    result = settle_contract(contract("bonus_pool", BONUS), agg, _bonus_pools())
    assert result.statement.amount_cents == 0
    bal = balances(result.entries)
    assert bal["group:G1"] == 6_575 and bal["group:G2"] == 0  # got back all they paid, plus interest


def test_bonus_pool_trend_target_and_amount_limit() -> None:
    # target 455 × 1.04 = 473.20; × 1,000 = 473,200; actual 470,000; savings 3,200 → 50% = 1,600;
    # max_amount 1,000 → earned 1,000 (pool 10,000; no fraction limit).
    terms = {
        **BONUS,
        "target": {"trend": 0.04, "baseline_pmpm": 455},
        "max_fraction_of_pool": None,
        "max_amount": 1000,
    }
    agg = EntityAggregates("E1", Decimal(1000), actual_cents=47_000_000)
    st = settle_contract(contract("bonus_pool", terms), agg, _bonus_pools()).statement
    assert st.value("target_pmpm") == 47_320
    assert st.value("provider_share_amount") == 160_000
    assert st.amount_cents == 100_000


def test_bonus_pool_never_pays_more_than_it_holds() -> None:
    # savings 100,000 → 50% = 50,000 but the pool holds 10,000.
    terms: dict[str, Any] = {**BONUS, "max_fraction_of_pool": None}
    agg = EntityAggregates("E1", Decimal(1000), actual_cents=38_000_000)
    st = settle_contract(contract("bonus_pool", terms), agg, _bonus_pools()).statement
    assert st.amount_cents == 1_000_000

"""population_payment and margin_share: hand-worked cases."""

from __future__ import annotations

from decimal import Decimal

from settle.engine.contracts import EntityAggregates, GroupWeight, settle_contract

from .helpers import contract, d

POP = {"pmpm": 4.0, "quality_holdback": 0.2, "quality_target": 0.8}


def test_population_payment_with_holdback_released_or_kept() -> None:
    # gross 4.00 × 1,000 = 4,000; holdback 20% = 800; paid now 3,200; score 0.85 ≥ 0.8 → 4,000.
    agg = EntityAggregates("E1", Decimal(1000), quality_score=d("0.85"))
    result = settle_contract(contract("population_payment", POP), agg)
    st = result.statement
    assert (st.value("gross_payment"), st.value("holdback"), st.value("paid_now")) == (
        400_000,
        80_000,
        320_000,
    )
    assert st.amount_cents == 400_000 and st.payment_stream == "ccf"
    assert [e.reason for e in result.entries] == ["population_payment", "quality_holdback_release"]
    # score 0.75 < 0.8: the payer keeps the holdback.
    agg = EntityAggregates("E1", Decimal(1000), quality_score=d("0.75"))
    assert settle_contract(contract("population_payment", POP), agg).statement.amount_cents == 320_000


def test_population_payment_risk_tiers_split_across_groups() -> None:
    # tiers: 900 mm × 4.00 = 3,600 and 100 mm × 9.00 = 900 → 4,500, no holdback.
    # split 600 : 400 member months → 2,700.00 and 1,800.00.
    terms = {"risk_tiers": [{"min_risk": 0, "pmpm": 4.0}, {"min_risk": 1.5, "pmpm": 9.0}]}
    agg = EntityAggregates(
        "E1",
        Decimal(1000),
        tier_member_months=((d("0"), Decimal(900)), (d("1.5"), Decimal(100))),
        groups=(GroupWeight("G1", Decimal(600)), GroupWeight("G2", Decimal(400))),
    )
    result = settle_contract(contract("population_payment", terms), agg)
    assert result.statement.amount_cents == 450_000
    assert result.statement.payment_stream == "ccf-with-risk"
    assert [(e.credit, e.amount_cents) for e in result.entries] == [
        ("group:G1", 270_000),
        ("group:G2", 180_000),
    ]
    # No tier breakdown: the entity's mean risk 1.6 puts all 1,000 mm in the 9.00 tier → 9,000.
    agg = EntityAggregates("E1", Decimal(1000), risk_score=d("1.6"))
    assert settle_contract(contract("population_payment", terms), agg).statement.amount_cents == 900_000


def test_population_payment_odd_cent_split_adds_up() -> None:
    # 0.01 PMPM × 100 mm = 1.00, three equal groups → 34 + 33 + 33 cents (largest remainder, ties first).
    agg = EntityAggregates(
        "E1", Decimal(100), groups=tuple(GroupWeight(g, Decimal(1)) for g in ("A", "B", "C"))
    )
    result = settle_contract(contract("population_payment", {"pmpm": 0.01}), agg)
    assert [e.amount_cents for e in result.entries] == [34, 33, 33]


MARGIN = {
    "admin_load": 0.10,
    "provider_share": 0.5,
    "corridor": {"lower": -0.02, "upper": 0.02},
    "cap_rate": 0.01,
}


def _margin(claims_dollars: int) -> int:
    agg = EntityAggregates("E1", Decimal(1000), actual_cents=claims_dollars * 100, premium_cents=100_000_000)
    return settle_contract(contract("margin_share", MARGIN), agg).statement.amount_cents


def test_margin_share_above_corridor_capped() -> None:
    # premium 1,000,000; admin 100,000; claims 850,000 → margin 50,000 (5%); beyond +2% edge
    # (20,000) → 30,000; × 50% = 15,000; cap 1% × premium = 10,000 → 10,000.
    assert _margin(850_000) == 1_000_000


def test_margin_share_below_corridor_and_inside() -> None:
    # claims 1,000,000 → margin −100,000 (−10%); beyond −2% edge (−20,000) → −80,000; × 50% =
    # −40,000; cap 10,000 → −10,000 (the provider pays the plan).
    assert _margin(1_000_000) == -1_000_000
    # claims 885,000 → margin 15,000 (1.5%) inside [−2%, 2%] → 0.
    assert _margin(885_000) == 0
    # claims 875,000 → margin 25,000 (2.5%) → beyond 20,000: 5,000 × 50% = 2,500 (under the cap).
    assert _margin(875_000) == 250_000


def test_margin_share_premium_from_pmpm() -> None:
    # premium 500 × 1,000 = 500,000; admin 0; claims 450,000 → margin 50,000 × 40% = 20,000.
    terms = {"premium_pmpm": 500, "provider_share": 0.4}
    agg = EntityAggregates("E1", Decimal(1000), actual_cents=45_000_000)
    st = settle_contract(contract("margin_share", terms), agg).statement
    assert st.value("premium") == 50_000_000 and st.amount_cents == 2_000_000

"""shared_savings: hand-worked cases (arithmetic in the comments)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from settle.engine.contracts import EntityAggregates, GroupWeight, Overrides, settle_contract
from settle.engine.errors import AggregatesError, RiskDataError

from .helpers import contract, d


def _settle(terms: dict[str, Any], agg: EntityAggregates, **sections: Any) -> Any:
    return settle_contract(contract("shared_savings", terms, **sections), agg)


ONE_SIDED = {
    "sharing_rate": 0.5,
    "min_savings_rate": 0.02,
    "quality_mode": "scale",
    "savings_cap": 0.10,
    "sequestration": 0.02,
    "benchmark": {"pmpm": 500},
}


def _agg(actual_dollars: int, **kw: Any) -> EntityAggregates:
    base: dict[str, Any] = {
        "entity_id": "E1",
        "member_months": Decimal(1200),
        "attributed_members": 100,
        "actual_cents": actual_dollars * 100,
        "quality_score": d("0.9"),
    }
    base.update(kw)
    return EntityAggregates(**base)


def test_one_sided_savings_scaled_by_quality_with_sequestration() -> None:
    # B = 500 × 1200 = 600,000; A = 570,000; G = 30,000; r = 0.05 ≥ MSR 0.02.
    # final rate = 0.5 × 0.9 = 0.45; shared = 13,500; sequestration 2% = 270; earned 13,230
    # (cap 10% × B = 60,000 does not bind).
    st = _settle(ONE_SIDED, _agg(570_000)).statement
    assert st.value("benchmark_expenditure") == 60_000_000
    assert st.value("gross_savings") == 3_000_000
    assert st.value("savings_rate") == d("0.05")
    assert st.value("final_sharing_rate") == d("0.45")
    assert st.value("shared_savings") == 1_350_000
    assert st.value("sequestration_amount") == 27_000
    assert st.amount_cents == 1_323_000
    assert st.direction == "payer_to_entity" and st.payment_stream == "ssq"


def test_not_first_dollar_shares_only_beyond_the_threshold() -> None:
    # shareable = 30,000 − 0.02 × 600,000 = 18,000; × 0.45 = 8,100; − 2% (162) = 7,938.
    st = _settle({**ONE_SIDED, "first_dollar": False}, _agg(570_000)).statement
    assert st.value("msr_amount") == 1_200_000
    assert st.amount_cents == 793_800


def test_below_threshold_earns_nothing() -> None:
    # A = 590,000: G = 10,000, r = 0.0166… < 0.02.
    st = _settle(ONE_SIDED, _agg(590_000)).statement
    assert st.value("threshold_met") is False
    assert st.amount_cents == 0 and st.direction == "none"


def test_savings_cap_binds_after_sequestration() -> None:
    # quality none: final 0.5; G = 100,000 → shared 50,000 → −2% = 49,000; cap 5% × 600,000 = 30,000.
    terms = {**ONE_SIDED, "quality_mode": "none", "savings_cap": 0.05}
    st = _settle(terms, _agg(500_000)).statement
    assert st.value("savings_after_sequestration") == 4_900_000
    assert st.value("savings_cap_amount") == 3_000_000
    assert st.amount_cents == 3_000_000
    assert st.payment_stream == "ssp"


def test_gate_mode_and_failed_standard() -> None:
    # gate: full 0.5 when met → 30,000 × 0.5 = 15,000 − 300 = 14,700; not met → 0.
    st = _settle({**ONE_SIDED, "quality_mode": "gate"}, _agg(570_000)).statement
    assert st.amount_cents == 1_470_000
    st = _settle({**ONE_SIDED, "quality_mode": "gate"}, _agg(570_000, met_quality_standard=False)).statement
    assert st.value("final_sharing_rate") == 0 and st.amount_cents == 0


TRACK_3 = {
    "risk": "two_sided",
    "sharing_rate": 0.75,
    "min_savings_rate": 0.02,
    "savings_cap": 0.20,
    "sequestration": 0.02,
    "loss_sharing_rate": "one_minus_final",
    "loss_rate_floor": 0.40,
    "loss_rate_ceiling": 0.75,
    "loss_rate_if_quality_failed": 0.75,
    "loss_cap": 0.15,
    "benchmark": {"pmpm": 500},
}


def test_two_sided_loss_clamped_to_floor_then_relief() -> None:
    # A = 630,000: G = −30,000, r = −0.05 ≤ −0.02.  final = 0.75 × 0.9 = 0.675; 1 − 0.675 = 0.325
    # → floor 0.40; loss = 12,000; cap 15% × 600,000 = 90,000; relief 500 → owed 11,500.
    agg = _agg(630_000, overrides=Overrides(loss_relief_cents=50_000))
    st = _settle(TRACK_3, agg).statement
    assert st.value("loss_rate_before_limits") == d("0.325")
    assert st.value("loss_rate") == d("0.40")
    assert st.value("shared_losses") == 1_200_000
    assert st.value("losses_after_relief") == 1_150_000
    assert st.amount_cents == -1_150_000
    assert st.direction == "entity_to_payer" and st.payment_stream == "ssl"


def test_failed_quality_uses_its_loss_rate() -> None:
    # not met: loss rate 0.75 → 30,000 × 0.75 = 22,500.
    st = _settle(TRACK_3, _agg(630_000, met_quality_standard=False)).statement
    assert st.value("loss_rate") == d("0.75") and st.amount_cents == -2_250_000


def test_loss_caps_benchmark_share_and_amount_override() -> None:
    # fixed 30% loss rate; A = 800,000: G = −200,000 → 60,000; cap 4% × 600,000 = 24,000;
    # per-entity limit 20,000 → owed 20,000.
    terms = {**TRACK_3, "loss_sharing_rate": 0.30, "loss_cap": 0.04, "loss_rate_floor": 0}
    st = _settle(terms, _agg(800_000)).statement
    assert st.value("losses_after_cap") == 2_400_000
    assert st.amount_cents == -2_400_000
    st = _settle(terms, _agg(800_000, overrides=Overrides(loss_cap_cents=2_000_000))).statement
    assert st.amount_cents == -2_000_000


def test_loss_inside_corridor_is_not_shared() -> None:
    # A = 606,000: G = −6,000, r = −0.01 > −MLR (−0.02): nothing.
    st = _settle(TRACK_3, _agg(606_000)).statement
    assert st.value("loss_threshold_met") is False and st.amount_cents == 0


def test_weighted_baseline_trended_and_risk_adjusted_half_even() -> None:
    # weighted: 560×0.1 + 575×0.3 + 590×0.6 = 582.50; × 1.03 = 599.975 → half-even 599.98
    # risk ratio 1.05 / 1.00 = 1.05, capped at 1.03 → 599.98 × 1.03 = 617.9794 → 617.98;
    # B = 617.98 × 1000 = 617,980.00.
    terms = {
        **ONE_SIDED,
        "benchmark": {
            "baseline_years": [
                {"pmpm": 560, "weight": 0.1},
                {"pmpm": 575, "weight": 0.3},
                {"pmpm": 590, "weight": 0.6},
            ],
            "trend": 0.03,
        },
    }
    agg = _agg(600_000, member_months=Decimal(1000), risk_score=d("1.05"), baseline_risk_score=d("1.00"))
    st = _settle(terms, agg, risk={"adjust": True, "growth_cap": 0.03}).statement
    assert st.value("baseline_pmpm") == 58_250
    assert st.value("benchmark_pmpm") == 59_998
    assert st.value("risk_ratio_capped") == d("1.03")
    assert st.value("risk_adjusted_pmpm") == 61_798
    assert st.value("benchmark_expenditure") == 61_798_000


def test_trended_baseline_and_computed_benchmark() -> None:
    # 580 × 1.035 = 600.30; B = 600.30 × 1200 = 720,360.
    st = _settle({**ONE_SIDED, "benchmark": {"baseline_pmpm": 580, "trend": 0.035}}, _agg(700_000)).statement
    assert st.value("benchmark_expenditure") == 72_036_000
    # computed baseline 550.125 → 550.12 (half-even) × 1.02 = 561.1224 → 561.12; × 1200 = 673,344.
    agg = _agg(650_000, baseline_pmpm=d("550.125"))
    st = _settle({**ONE_SIDED, "benchmark": {"computed": True, "trend": 0.02}}, agg).statement
    assert st.value("baseline_pmpm") == 55_012
    assert st.value("benchmark_expenditure") == 67_334_400
    with pytest.raises(AggregatesError, match="computed baseline"):
        _settle({**ONE_SIDED, "benchmark": {"computed": True}}, _agg(650_000))


def test_mssp_sliding_threshold_from_attributed_count() -> None:
    # N = 5,559: 3.9% − 0.3% × 559 / 999 = 3.7321321321…% → 0.0373213213 published.
    st = _settle(
        {**ONE_SIDED, "min_savings_rate": "mssp_sliding"}, _agg(570_000, attributed_members=5559)
    ).statement
    assert st.value("min_savings_rate") == d("0.0373213213")
    assert st.value("threshold_met") is True  # r = 0.05


def test_entity_split_across_groups_by_member_months() -> None:
    # earned 13,230.00 split 700 : 500 member months: 1,323,000 × 7/12 = 771,750; × 5/12 = 551,250.
    agg = _agg(570_000, groups=(GroupWeight("G1", Decimal(700)), GroupWeight("G2", Decimal(500))))
    entries = _settle(ONE_SIDED, agg).entries
    assert [(e.credit, e.debit, e.amount_cents) for e in entries] == [
        ("group:G1", "entity:E1", 771_750),
        ("group:G2", "entity:E1", 551_250),
    ]


def test_scale_needs_a_quality_score() -> None:
    with pytest.raises(AggregatesError, match="no quality score"):
        _settle(ONE_SIDED, _agg(570_000, quality_score=None))


def test_risk_adjustment_needs_scores() -> None:
    with pytest.raises(RiskDataError, match="positive baseline risk score"):
        _settle(ONE_SIDED, _agg(570_000, risk_score=d("1.1")), risk={"adjust": True})

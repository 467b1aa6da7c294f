"""Risk: member-month-weighted entity risk, renormalisation to mean 1.0, the capped ratio."""

from __future__ import annotations

import polars as pl
import pytest

from settle.engine.errors import RiskDataError
from settle.engine.kernels.member_months import MEMBER_MONTH_UNITS as U
from settle.engine.kernels.risk import (
    RISK_SCALE,
    RiskBasis,
    benchmark_risk_ratio,
    entity_risk_ratios,
    risk_basis,
    weighted_risk,
    with_risk,
)
from settle.engine.kernels.rules import RiskRules
from settle.engine.kernels.stratify import aggregate
from tests.engine.kernels.builders import scores


def _rows(*rows: tuple[str, str, str | None, int]) -> pl.DataFrame:
    """Member-cost rows (member, group, entity, whole months), costs zero."""
    n = len(rows)
    return pl.DataFrame(
        {
            "member_id": [r[0] for r in rows],
            "group_id": [r[1] for r in rows],
            "entity_id": [r[2] for r in rows],
            "member_days": [30 * r[3] for r in rows],
            "member_month_units": [U * r[3] for r in rows],
            "raw_cost_cents": [0] * n,
            "completed_cost_cents": [0] * n,
            "truncated_cost_cents": [0] * n,
        },
        schema_overrides={"entity_id": pl.String},
    )


def _entity_risk(frame: pl.DataFrame) -> dict[str | None, float | None]:
    entities = aggregate(frame, "c").entities
    return {
        r["entity_id"]: weighted_risk(int(r["risk_weighted_units"]), r["risk_member_month_units"])
        for r in entities.iter_rows(named=True)
    }


def test_entity_risk_is_member_month_weighted() -> None:
    # E1: a 1.2 over 12 months, b 0.6 over 6 months -> (14.4 + 3.6) / 18 = 1.0
    #     (a plain mean of members would be 0.9).
    # E2: c 2.0 over 3 months in G1 and 3 in G2, d unscored (left out, not counted as 0 or 1)
    #     -> 2.0.
    frame = _rows(("a", "G1", "E1", 12), ("b", "G1", "E1", 6), ("c", "G1", "E2", 3), ("c", "G2", "E2", 3),
                  ("d", "G1", "E2", 12))  # fmt: skip
    got = with_risk(frame, scores(("a", "2025", 1.2), ("b", "2025", 0.6), ("c", "2025", 2.0)), "2025")
    assert _entity_risk(got) == {"E1": pytest.approx(1.0, abs=1e-12), "E2": pytest.approx(2.0, abs=1e-12)}
    assert got.filter(pl.col("member_id") == "d")["risk_score"].to_list() == [None]


def test_scores_of_other_periods_are_ignored_and_duplicates_take_the_largest() -> None:
    frame = _rows(("a", "G1", "E1", 12))
    got = with_risk(frame, scores(("a", "2024", 9.0), ("a", "2025", 1.1), ("a", "2025", 1.3)), "2025")
    assert got["risk_score_micro"].to_list() == [1_300_000]


def test_renormalisation_to_mean_one_over_the_population() -> None:
    # a 1.5 x 12 months, b 0.5 x 12, c 2.0 x 6: weighted mean (18 + 6 + 12) / 30 = 1.2.
    # Renormalised: a 1.5 / 1.2 = 1.25; b 0.5 / 1.2 = 0.416667 (micro, half-even);
    # c 2.0 / 1.2 = 1.666667.
    frame = _rows(("a", "G1", "E1", 12), ("b", "G1", "E1", 12), ("c", "G1", None, 6))
    table = scores(("a", "2025", 1.5), ("b", "2025", 0.5), ("c", "2025", 2.0))
    basis = risk_basis(frame, table, "2025")
    assert basis == RiskBasis(weighted_units=36 * U * RISK_SCALE, member_month_units=30 * U)
    assert basis.mean == pytest.approx(1.2)
    got = with_risk(frame, table, "2025", RiskRules(renormalize=True), basis)
    assert got.sort("member_id")["risk_score_micro"].to_list() == [1_250_000, 416_667, 1_666_667]
    # The population mean is now 1.0 up to the micro-unit rounding.
    total = risk_basis(got.select(frame.columns), got.select("member_id", pl.lit("x").alias("period"),
                                                               pl.col("risk_score")), "x")  # fmt: skip
    assert total.mean == pytest.approx(1.0, abs=1e-6)


def test_renormalisation_needs_the_population_basis() -> None:
    frame = _rows(("a", "G1", "E1", 12))
    with pytest.raises(ValueError, match="basis"):
        with_risk(frame, scores(("a", "2025", 1.0)), "2025", RiskRules(renormalize=True))
    with pytest.raises(RiskDataError):
        with_risk(frame, scores(), "2025", RiskRules(renormalize=True), RiskBasis())


def test_shard_bases_add_up() -> None:
    # Two shards' bases add to the basis of the whole population.
    table = scores(("a", "2025", 1.5), ("b", "2025", 0.5))
    whole = risk_basis(_rows(("a", "G1", "E1", 12), ("b", "G1", "E1", 12)), table, "2025")
    parts = risk_basis(_rows(("a", "G1", "E1", 12)), table, "2025") + risk_basis(
        _rows(("b", "G1", "E1", 12)), table, "2025"
    )
    assert parts == whole


@pytest.mark.parametrize(
    ("performance", "baseline", "rules", "expected"),
    [
        (1.10, 1.00, RiskRules(growth_cap=0.03), 1.03),  # +10% capped at +3%
        (1.02, 1.00, RiskRules(growth_cap=0.03), 1.02),  # under the cap
        (0.95, 1.00, RiskRules(growth_cap=0.03), 0.95),  # falling: not floored
        (1.10, 1.00, RiskRules(growth_cap=None), 1.10),  # uncapped
        (1.10, 1.00, RiskRules(adjust=False), 1.0),  # no adjustment
    ],
)
def test_benchmark_risk_ratio(performance: float, baseline: float, rules: RiskRules, expected: float) -> None:
    assert benchmark_risk_ratio(performance, baseline, rules) == pytest.approx(expected)


def test_ratio_needs_a_positive_baseline() -> None:
    with pytest.raises(RiskDataError):
        benchmark_risk_ratio(1.0, 0.0, RiskRules())


def test_entity_risk_ratios_from_performance_and_baseline_scores() -> None:
    # E1: a (12 months) 1.10 now, 1.00 in the baseline; b (12 months) 0.90 now, 0.80 then.
    #     performance (1.10 + 0.90) / 2 = 1.00; baseline (1.00 + 0.80) / 2 = 0.90;
    #     ratio 1.00 / 0.90 = 1.1111 -> capped at 1.03.
    # E2: c 1.00 now, 1.00 then -> 1.0.  The unattributed member d is left out.
    frame = _rows(("a", "G1", "E1", 12), ("b", "G1", "E1", 12), ("c", "G1", "E2", 12), ("d", "G1", None, 12))
    table = scores(
        ("a", "2025", 1.10), ("b", "2025", 0.90), ("c", "2025", 1.0), ("d", "2025", 3.0),
        ("a", "2024", 1.00), ("b", "2024", 0.80), ("c", "2024", 1.0),
    )  # fmt: skip
    perf = aggregate(with_risk(frame, table, "2025"), "c").entities
    base = aggregate(with_risk(frame, table, "2024"), "c").entities
    got = entity_risk_ratios(perf, base, RiskRules(growth_cap=0.03))
    assert got["entity_id"].to_list() == ["E1", "E2"]
    assert got["performance_risk"].to_list() == pytest.approx([1.0, 1.0])
    assert got["baseline_risk"].to_list() == pytest.approx([0.9, 1.0])
    assert got["risk_ratio"].to_list() == pytest.approx([1.03, 1.0])
    assert entity_risk_ratios(perf, base, RiskRules(adjust=False))["risk_ratio"].to_list() == [1.0, 1.0]
    no_baseline = aggregate(with_risk(frame, table, "2023"), "c").entities
    with pytest.raises(RiskDataError, match="E1"):
        entity_risk_ratios(perf, no_baseline, RiskRules())

"""Kernel options check their values; the shipped code lists load."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from settle.engine.errors import ContractError
from settle.engine.kernels.codes import code_lists, shipped_primary_care_codes, shipped_specialties
from settle.engine.kernels.rules import (
    AttributionMethod,
    AttributionRules,
    CostBasis,
    CostRules,
    MemberMonthRule,
    RiskRules,
    Scope,
    Truncation,
)


def test_strings_from_a_document_become_enums_and_decimals() -> None:
    cost = CostRules(basis="paid", member_months="partial", completion_factor=1.015)  # type: ignore[arg-type]
    assert (cost.basis, cost.member_months) == (CostBasis.PAID, MemberMonthRule.PARTIAL)
    assert cost.completion_factor == Decimal("1.015")
    assert AttributionRules(method="plurality_visits").method is AttributionMethod.PLURALITY_VISITS  # type: ignore[arg-type]
    assert Truncation(amount=125000).amount_cents == 12_500_000  # type: ignore[arg-type]
    assert Scope(groups=["G1"]).groups == frozenset({"G1"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: CostRules(basis="billed"), "cost.basis"),
        (lambda: CostRules(member_months="weekly"), "cost.member_months"),
        (lambda: CostRules(completion_factor=Decimal("0.99")), "cost.completion_factor"),
        (lambda: Truncation(), "cost.truncation"),
        (lambda: Truncation(amount=Decimal(1), percentile=Decimal("0.9")), "cost.truncation"),
        (lambda: Truncation(amount=Decimal("0.001")), "cost.truncation.amount"),
        (lambda: Truncation(percentile=Decimal("1.5")), "cost.truncation.percentile"),
        (lambda: Truncation(percentile=Decimal(0)), "cost.truncation.percentile"),
        (lambda: AttributionRules(method="plurality_of_love"), "attribution.method"),
        (lambda: AttributionRules(window="sideways"), "attribution.window"),
        (lambda: AttributionRules(lookback_months=0), "attribution.lookback_months"),
        (lambda: RiskRules(growth_cap=-0.1), "risk.growth_cap"),
    ],
)
def test_bad_values_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        build()
    assert caught.value.field == field
    assert field in str(caught.value)


def test_shipped_lists() -> None:
    codes = shipped_primary_care_codes()
    assert {"99213", "99215", "G0438", "G0439", "99495"} <= codes
    assert "27447" not in codes
    roles = shipped_specialties()
    assert roles["primary_care"] == frozenset({"01", "08", "11", "37", "38", "50", "89", "97"})
    assert "06" in roles["specialist"] and not roles["specialist"] & roles["primary_care"]


def test_overrides(tmp_path: Any) -> None:
    path = tmp_path / "pc.csv"
    path.write_text("code\n99213\n\n99214\n", encoding="utf-8")  # no hcpcs_code column: first one
    lists = code_lists(
        AttributionRules(primary_care_codes=str(path), specialist_specialties=frozenset({"06"}))
    )
    assert lists.primary_care_codes == frozenset({"99213", "99214"})
    assert lists.specialist_specialties == frozenset({"06"})
    with pytest.raises(ContractError, match="primary_care_codes"):
        code_lists(AttributionRules(primary_care_codes=str(tmp_path / "missing.csv")))

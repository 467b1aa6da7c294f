"""Contract documents: defaults, the union on kind, and errors that name the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from settle.engine.contracts.models import (
    FixedBenchmark,
    SharedSavingsContract,
    WeightedBaseline,
    WithholdContract,
    parse_contract,
    parse_contracts,
)
from settle.engine.errors import ContractError


def _ss(**terms: Any) -> dict[str, Any]:
    return {"id": "ssp", "kind": "shared_savings", "terms": {"sharing_rate": 0.5, **terms}}


def test_minimal_document_gets_defaults() -> None:
    (c,) = parse_contracts([_ss()], "c.yaml")
    assert isinstance(c, SharedSavingsContract)
    assert c.scope.groups == "all" and c.settle_per == "entity"
    assert c.terms.risk == "one_sided" and c.terms.first_dollar is True
    assert c.terms.sharing_rate == Decimal("0.5")
    # min_loss_rate defaults to min_savings_rate.
    (c2,) = parse_contracts([_ss(min_savings_rate=0.02)], "c.yaml")
    assert isinstance(c2, SharedSavingsContract)
    assert c2.terms.effective_min_loss_rate == Decimal("0.02")


def test_benchmark_forms() -> None:
    c = parse_contract(_ss(benchmark={"pmpm": 612.40}), "c.yaml")
    assert isinstance(c, SharedSavingsContract)
    assert c.terms.benchmark == FixedBenchmark(pmpm=Decimal("612.4"))
    w = parse_contract(
        _ss(benchmark={"baseline_years": [{"pmpm": 560, "weight": 0.1}, {"pmpm": 575, "weight": 0.3},
                                          {"pmpm": 590, "weight": 0.6}], "trend": 0.03}),
        "c.yaml",
    )
    assert isinstance(w, SharedSavingsContract) and isinstance(w.terms.benchmark, WeightedBaseline)


def test_full_withhold_document() -> None:
    doc = {
        "id": "wh-1", "kind": "withhold", "name": "Partners in progress",
        "period": {"start": "2025-01-01", "end": "2025-12-31", "runout_months": 3},
        "scope": {"groups": ["G1", "G2"], "entities": "all"}, "settle_per": "entity_group",
        "terms": {"withhold_rate": 0.05, "interest_rate": 0.04, "settlement_date": "2026-06-30",
                  "earn_back": {"tiers": [{"min_score": 0.5, "earned_fraction": 0.5},
                                          {"min_score": 0.8, "earned_fraction": 1.0}]}},
    }
    (c,) = parse_contracts([doc], "c.yaml")
    assert isinstance(c, WithholdContract)
    assert c.terms.settlement_date == dt.date(2026, 6, 30)
    assert c.scope.covers_group("G1") and not c.scope.covers_group("G3")


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        (_ss(risk="both"), "terms.risk", ["'one_sided' or 'two_sided'", "'both'"]),
        (_ss(sharing_rate=1.5), "terms.sharing_rate", ["less than or equal to 1"]),
        (_ss(min_savings_rate="sliding"), "terms.min_savings_rate", ["'mssp_sliding'"]),
        (_ss(risk="two_sided"), "terms", ["loss_sharing_rate"]),
        (_ss(benchmark={"pmpmm": 3}), "terms.benchmark", ["{pmpm: X}", "{computed: true"]),
        (_ss(foo=1), "terms", ["unknown field(s) foo", "allowed: benchmark, risk"]),
        ({"id": "x", "kind": "shared_savingz", "terms": {}}, "kind", ["allowed: shared_savings, withhold"]),
        ({"id": "x", "terms": {}}, "kind", ["missing"]),
        ({**_ss(), "settle_per": "group"}, "settle_per", ["'entity' or 'entity_group'"]),
        ({**_ss(), "cost": {"truncation": {"amount": -1}}}, "cost.truncation.amount", ["greater than 0"]),
        (_ss(benchmark={"baseline_years": [{"pmpm": 1, "weight": 0.5}]}), "terms.benchmark",
         ["add up to 1"]),
    ],
)
def test_errors_name_field_and_allowed_values(doc: dict[str, Any], field: str, words: list[str]) -> None:
    with pytest.raises(ContractError) as info:
        parse_contracts([doc], "contracts.yaml")
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith("contracts.yaml: contract 0")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_duplicate_ids_refused() -> None:
    with pytest.raises(ContractError, match="already used by contract 0"):
        parse_contracts([_ss(), _ss()], "c.yaml")


def test_not_a_mapping() -> None:
    with pytest.raises(ContractError, match="must be a mapping"):
        parse_contracts(["nope"], "c.yaml")  # type: ignore[list-item]

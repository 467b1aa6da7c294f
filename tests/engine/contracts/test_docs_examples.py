"""docs/contracts.md: every YAML example parses, and the worked statement holds by hand."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import yaml

from settle.engine.contracts import EntityAggregates, GroupWeight, parse_contracts, settle_contract

DOC = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_every_yaml_example_is_a_valid_contract_list() -> None:
    blocks = _yaml_blocks()
    assert len(blocks) >= 6
    kinds = set()
    for block in blocks:
        data = yaml.safe_load(block)
        docs = data["contracts"] if isinstance(data, dict) else data
        for c in parse_contracts(docs, "docs/contracts.md"):
            kinds.add(c.kind)
    assert kinds == {"shared_savings", "withhold", "bonus_pool", "population_payment", "margin_share"}


def test_worked_statement() -> None:
    (doc,) = [d for d in yaml.safe_load(_yaml_blocks()[1]) if d["id"] == "ssp-2025-north"]
    (contract,) = parse_contracts([doc], "docs")
    agg = EntityAggregates(
        "north-aco",
        Decimal(120_000),
        actual_cents=7_012_345_678,
        attributed_members=10_250,
        risk_score=Decimal("1.042"),
        baseline_risk_score=Decimal("1.000"),
        quality_score=Decimal("0.92"),
        groups=(GroupWeight("acme", Decimal(80_000)), GroupWeight("globex", Decimal(40_000))),
    )
    result = settle_contract(contract, agg)
    st = result.statement
    # 580 × 1.035 = 600.30; × min(1.042, 1.03) = 618.309 → 618.31; × 120,000 = 74,197,200.00
    assert st.value("risk_adjusted_pmpm") == 61_831
    assert st.value("benchmark_expenditure") == 7_419_720_000
    # MSR: 3.0% − 0.3% × 250 / 4,999 = 2.98499699…% → 0.0298499700
    assert st.value("min_savings_rate") == Decimal("0.0298499700")
    # 4,073,743.22 × 0.552 = 2,248,706.257… → 2,248,706.26; 2% → 44,974.13; 2,203,732.13
    assert st.value("shared_savings") == 224_870_626
    assert st.amount_cents == 220_373_213
    # split 2 : 1 → 146,915,475.33 / 73,457,737.67 → floors, leftover cent to globex
    assert [(e.credit, e.amount_cents) for e in result.entries] == [
        ("group:acme", 146_915_475),
        ("group:globex", 73_457_738),
    ]

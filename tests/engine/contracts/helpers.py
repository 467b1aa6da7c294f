"""Small builders shared by the contract tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from settle.engine.contracts.models import Contract, parse_contract


def contract(kind: str, terms: dict[str, Any], **sections: Any) -> Contract:
    return parse_contract({"id": "c1", "kind": kind, "terms": terms, **sections}, "test")


def d(text: str) -> Decimal:
    return Decimal(text)

"""The synthetic book's ``contracts.yaml`` and ``job.yaml``.

Contracts follow the shared contract document format (``docs/contracts.md``).  Their money terms
are set from the book itself, as an actuary would set them from history: ``L`` below is the
book's lookback-year medical allowed PMPM (netted, any-day member months).  With a medical trend
of 4.5% and entity efficiency spread of about 8%, the terms give a mix of outcomes: some
entities earn savings, some fall inside the corridors, some owe losses.

=========================  ===================  ==================================================
id                          kind                 terms in short
=========================  ===================  ==================================================
ssp-Y-one-sided            shared_savings       computed baseline trended 3%, MSR 2%, 50% x quality,
                                                cap 10%, sequestration 2%, prospective attribution
ssp-Y-two-sided            shared_savings       baseline ``L`` trended 4.5%, MSR/MLR 2%, 60% x quality,
                                                cap 15%, loss rate 1 - final (40%..75%), loss cap 5%
ssp-Y-commercial           shared_savings       fixed ``L x 1.045``, gate on quality, MSR 3%, savings
                                                beyond the MSR only, per entity x employer, the five
                                                largest employers, retrospective visit plurality
withhold-Y                 withhold             5%, 2% interest, earn-back linear 0.6 -> 0.9
bonus-pool-Y               bonus_pool           2% prefund on attributed claims, target ``L x 1.04``,
                                                50% share, the three largest employers
pbp-Y                      population_payment   $4 / $9 / $15 PMPM by risk tier, 20% held back
                                                for a quality score of 0.75
margin-Y                   margin_share         12% admin load, 50% share, corridor +-2%, cap 5%
                                                of premium, the five largest employers
=========================  ===================  ==================================================
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BookFigures", "contracts_document", "job_document", "write_yaml"]

INPUTS: dict[str, str] = {
    "eligibility": "eligibility/",
    "medical_claim": "medical_claim/",
    "pharmacy_claim": "pharmacy_claim/",
    "roster": "roster.parquet",
    "risk_scores": "risk_scores/",
    "quality": "quality.parquet",
    "premiums": "premiums.parquet",
    "voluntary_alignment": "voluntary_alignment/",
}


@dataclass(frozen=True)
class BookFigures:
    """Figures of the generated book the contract terms are set from."""

    year: int
    lookback_pmpm: Decimal  # medical allowed per member month in the lookback year
    premium_pmpm: Decimal  # the book's average premium per member month, performance year
    largest_groups: tuple[str, ...]  # group ids by performance-year member months, largest first


def _money(value: Decimal) -> float:
    """A dollar figure for YAML, rounded to the cent (written as a plain decimal number)."""
    return float(value.quantize(Decimal("0.01")))


def _attribution(method: str, window: str) -> dict[str, Any]:
    return {"method": method, "window": window, "lookback_months": 12, "use_voluntary_alignment": True}


def _cost(truncation: dict[str, float] | None, *, pharmacy: bool = False) -> dict[str, Any]:
    return {
        "basis": "allowed",
        "include_pharmacy": pharmacy,
        "completion_factor": 1.0,
        "truncation": truncation,
        "exclude_hcpcs": [],
        "member_months": "any_day",
    }


def contracts_document(f: BookFigures) -> dict[str, Any]:
    """One contract of every kind (three shared-savings variants), terms set from ``f``."""
    y = f.year
    period = {"start": dt.date(y, 1, 1), "end": dt.date(y, 12, 31), "runout_months": 3}
    top3, top5 = list(f.largest_groups[:3]), list(f.largest_groups[:5])
    risk = {"adjust": True, "growth_cap": 0.03, "renormalize": False}
    common = {"quality_period": str(y)}
    contracts: list[dict[str, Any]] = [
        {
            "id": f"ssp-{y}-one-sided",
            "kind": "shared_savings",
            "name": f"ACO shared savings {y} (one-sided)",
            "period": period,
            "scope": {"groups": "all", "entities": "all"},
            "settle_per": "entity",
            "attribution": _attribution("plurality_primary_care", "prospective"),
            "cost": _cost({"amount": 125000}),
            "risk": risk,
            **common,
            "terms": {
                "benchmark": {"computed": True, "trend": 0.03},
                "risk": "one_sided",
                "min_savings_rate": 0.02,
                "sharing_rate": 0.5,
                "quality_mode": "scale",
                "savings_cap": 0.10,
                "first_dollar": True,
                "sequestration": 0.02,
            },
        },
        {
            "id": f"ssp-{y}-two-sided",
            "kind": "shared_savings",
            "name": f"ACO shared savings and losses {y}",
            "scope": {"groups": "all", "entities": "all"},
            "settle_per": "entity",
            "attribution": _attribution("plurality_primary_care", "prospective"),
            "cost": _cost({"amount": 125000}),
            "risk": risk,
            **common,
            "terms": {
                "benchmark": {"baseline_pmpm": _money(f.lookback_pmpm), "trend": 0.045, "trend_years": 1},
                "risk": "two_sided",
                "min_savings_rate": 0.02,
                "min_loss_rate": 0.02,
                "sharing_rate": 0.6,
                "quality_mode": "scale",
                "savings_cap": 0.15,
                "first_dollar": True,
                "sequestration": 0.0,
                "loss_sharing_rate": "one_minus_final",
                "loss_rate_floor": 0.4,
                "loss_rate_ceiling": 0.75,
                "loss_rate_if_quality_failed": 0.75,
                "loss_cap": 0.05,
            },
        },
        {
            "id": f"ssp-{y}-commercial",
            "kind": "shared_savings",
            "name": f"Employer ACO contract {y}",
            "scope": {"groups": top5, "entities": "all"},
            "settle_per": "entity_group",
            "attribution": _attribution("plurality_visits", "retrospective"),
            "cost": _cost({"percentile": 0.99}),
            "risk": {"adjust": False, "growth_cap": None, "renormalize": False},
            **common,
            "terms": {
                "benchmark": {"pmpm": _money(f.lookback_pmpm * Decimal("1.045"))},
                "risk": "one_sided",
                "min_savings_rate": 0.03,
                "sharing_rate": 0.5,
                "quality_mode": "gate",
                "savings_cap": 0.10,
                "first_dollar": False,
                "sequestration": 0.0,
            },
        },
        {
            "id": f"withhold-{y}",
            "kind": "withhold",
            "name": f"Partners in progress withhold {y}",
            "scope": {"groups": "all", "entities": "all"},
            "settle_per": "entity_group",
            "attribution": _attribution("plurality_primary_care", "prospective"),
            **common,
            "terms": {
                "withhold_rate": 0.05,
                "interest_rate": 0.02,
                "settlement_date": dt.date(y + 1, 6, 30),
                "earn_back": {"floor": 0.6, "target": 0.9},
            },
        },
        {
            "id": f"bonus-pool-{y}",
            "kind": "bonus_pool",
            "name": f"Employer bonus pool {y}",
            "scope": {"groups": top3, "entities": "all"},
            "settle_per": "entity_group",
            "attribution": _attribution("plurality_primary_care", "prospective"),
            "cost": _cost({"amount": 125000}),
            "risk": risk,
            **common,
            "terms": {
                "prefund_rate": 0.02,
                "prefund_base": "attributed_claims",
                "target": {"pmpm": _money(f.lookback_pmpm * Decimal("1.04"))},
                "provider_share": 0.5,
                "max_fraction_of_pool": 1.0,
                "interest_rate": 0.015,
                "return_date": dt.date(y + 1, 6, 30),
            },
        },
        {
            "id": f"pbp-{y}",
            "kind": "population_payment",
            "name": f"Population-based payment {y}",
            "scope": {"groups": "all", "entities": "all"},
            "settle_per": "entity",
            "attribution": _attribution("plurality_primary_care", "retrospective"),
            **common,
            "terms": {
                "risk_tiers": [
                    {"min_risk": 0.0, "pmpm": 4.0},
                    {"min_risk": 1.5, "pmpm": 9.0},
                    {"min_risk": 3.0, "pmpm": 15.0},
                ],
                "quality_holdback": 0.2,
                "quality_target": 0.75,
            },
        },
        {
            "id": f"margin-{y}",
            "kind": "margin_share",
            "name": f"Plan-provider partnership {y}",
            "scope": {"groups": top5, "entities": "all"},
            "settle_per": "entity",
            "attribution": _attribution("plurality_primary_care", "prospective"),
            "cost": _cost(None, pharmacy=True),
            **common,
            "terms": {
                "premium_pmpm": _money(f.premium_pmpm),
                "admin_load": 0.12,
                "provider_share": 0.5,
                "corridor": {"lower": -0.02, "upper": 0.02},
                "cap_rate": 0.05,
            },
        },
    ]
    return {"contracts": contracts}


def job_document(year: int) -> dict[str, Any]:
    """A job document settling the book's performance year with every table it wrote."""
    return {
        "name": f"synthetic-{year}",
        "period": {"start": dt.date(year, 1, 1), "end": dt.date(year, 12, 31), "runout_months": 3},
        "inputs": dict(INPUTS),
        "contracts": "contracts.yaml",
    }


class _PlainDumper(yaml.SafeDumper):
    """Safe YAML without anchors and aliases (a shared mapping is written out each time)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_yaml(path: Path, document: dict[str, Any], header: str) -> None:
    """Write ``document`` as YAML after a comment header."""
    body = yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, default_flow_style=None, width=110)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comment + body, encoding="utf-8")

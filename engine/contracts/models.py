"""Contract documents: the pydantic models of a contract (terms in :mod:`.terms`), and parsing.

A contracts file is YAML or JSON, either ``contracts: [ ... ]`` or a bare list.  One document::

    id: ssp-2025-north                  # unique within the job (required)
    kind: shared_savings                # shared_savings | withhold | bonus_pool |
                                        # population_payment | margin_share (required)
    name: North ACO shared savings 2025
    period: {start: 2025-01-01, end: 2025-12-31, runout_months: 3}   # default: the job's period
    scope: {groups: all, entities: all}                # or lists of ids
    settle_per: entity                  # entity | entity_group
    attribution: {method: plurality_primary_care, window: prospective, lookback_months: 12,
                  use_voluntary_alignment: true, primary_care_codes: null}
    cost: {basis: allowed, include_pharmacy: false, completion_factor: 1.0,
           truncation: {amount: 125000}, exclude_hcpcs: [], member_months: any_day}
    risk: {adjust: true, growth_cap: 0.03, renormalize: false}
    quality_period: "2025"
    terms: {...}                        # required; the model depends on ``kind``

Every section except ``id``, ``kind`` and ``terms`` has defaults, so a what-if document needs
only those three.  ``terms`` is a discriminated union on ``kind`` (one terms model per kind,
see ``docs/contracts.md`` for each term).  Every model forbids unknown fields and says which
fields are allowed.  Rates are fractions (``0.5`` = 50%) held as exact ``Decimal``; dollar
amounts in terms are decimal dollars (``Decimal``), converted to cents by the kinds.

:func:`parse_contracts` validates a list of documents and raises :class:`ContractError` whose
one-paragraph message names the contract, every invalid field's path and the allowed values.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, TypeAdapter, ValidationError

from settle.engine.contracts.base import StrictModel
from settle.engine.contracts.terms import (
    BaselineYear,
    BonusPoolTerms,
    ComputedBenchmark,
    EarnBackLinear,
    EarnBackTier,
    EarnBackTiers,
    FixedBenchmark,
    MarginCorridor,
    MarginShareTerms,
    PopulationPaymentTerms,
    RiskTier,
    SharedSavingsTerms,
    TargetPmpm,
    TargetTrend,
    TrendedBaseline,
    WeightedBaseline,
    WithholdTerms,
)
from settle.engine.errors import ContractError
from settle.engine.job import Period  # a contract's own period has the job's shape

__all__ = [
    "KINDS",
    "Attribution",
    "BaselineYear",
    "BonusPoolContract",
    "BonusPoolTerms",
    "ComputedBenchmark",
    "Contract",
    "Cost",
    "EarnBackLinear",
    "EarnBackTier",
    "EarnBackTiers",
    "FixedBenchmark",
    "MarginCorridor",
    "MarginShareContract",
    "MarginShareTerms",
    "Period",
    "PopulationPaymentContract",
    "PopulationPaymentTerms",
    "RiskAdjustment",
    "RiskTier",
    "Scope",
    "SharedSavingsContract",
    "SharedSavingsTerms",
    "TargetPmpm",
    "TargetTrend",
    "TrendedBaseline",
    "WeightedBaseline",
    "WithholdContract",
    "WithholdTerms",
    "parse_contract",
    "parse_contracts",
]

KINDS = ("shared_savings", "withhold", "bonus_pool", "population_payment", "margin_share")

# --- common sections -------------------------------------------------------------------------


class Scope(StrictModel):
    """Which employer groups and contract entities the contract covers (``all`` or id lists)."""

    groups: Literal["all"] | list[str] = "all"
    entities: Literal["all"] | list[str] = "all"

    def covers_group(self, group_id: str) -> bool:
        return self.groups == "all" or group_id in self.groups

    def covers_entity(self, entity_id: str) -> bool:
        return self.entities == "all" or entity_id in self.entities


class Attribution(StrictModel):
    """How members are attributed to entities (see ``DOMAIN.md`` step 3)."""

    method: Literal["plurality_primary_care", "plurality_visits"] = "plurality_primary_care"
    window: Literal["prospective", "retrospective"] = "prospective"
    lookback_months: int = Field(default=12, ge=1, le=60)
    use_voluntary_alignment: bool = True
    primary_care_codes: str | None = None


class TruncationAmount(StrictModel):
    """Truncate each member's annual cost at a fixed dollar amount."""

    amount: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class TruncationPercentile(StrictModel):
    """Truncate each member's annual cost at a percentile of the population's cost."""

    percentile: Annotated[Decimal, Field(gt=0, lt=1, allow_inf_nan=False)]


def _truncation_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "amount" in value:
            return "amount"
        if "percentile" in value:
            return "percentile"
        return None
    if isinstance(value, TruncationAmount):
        return "amount"
    if isinstance(value, TruncationPercentile):
        return "percentile"
    return None


Truncation = Annotated[
    Annotated[TruncationAmount, Tag("amount")] | Annotated[TruncationPercentile, Tag("percentile")],
    Discriminator(
        _truncation_tag,
        custom_error_type="truncation_form",
        custom_error_message="truncation must be {amount: DOLLARS} or {percentile: 0..1} or null",
    ),
]


class Cost(StrictModel):
    """How total cost of care is counted (see ``DOMAIN.md`` step 4)."""

    basis: Literal["allowed", "paid"] = "allowed"
    include_pharmacy: bool = False
    completion_factor: Annotated[Decimal, Field(ge=1, le=2, allow_inf_nan=False)] = Decimal(1)
    truncation: Truncation | None = None
    exclude_hcpcs: list[str] = Field(default_factory=list)
    member_months: Literal["any_day", "first_of_month", "partial"] = "any_day"


class RiskAdjustment(StrictModel):
    """Risk adjustment of benchmarks and targets (see ``DOMAIN.md`` step 5)."""

    adjust: bool = False
    growth_cap: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None
    renormalize: bool = False


# --- the contract ----------------------------------------------------------------------------


class _ContractBase(StrictModel):
    """Sections every contract kind shares."""

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str | None = None
    period: Period | None = None
    scope: Scope = Field(default_factory=Scope)
    settle_per: Literal["entity", "entity_group"] = "entity"
    attribution: Attribution = Field(default_factory=Attribution)
    cost: Cost = Field(default_factory=Cost)
    risk: RiskAdjustment = Field(default_factory=RiskAdjustment)
    quality_period: str | None = None

    def quality_period_for(self, job_period_start: dt.date) -> str:
        """The ``quality`` rows' period: ``quality_period``, else the period's start year."""
        if self.quality_period is not None:
            return self.quality_period
        return str((self.period.start if self.period else job_period_start).year)


class SharedSavingsContract(_ContractBase):
    kind: Literal["shared_savings"]
    terms: SharedSavingsTerms


class WithholdContract(_ContractBase):
    kind: Literal["withhold"]
    terms: WithholdTerms


class BonusPoolContract(_ContractBase):
    kind: Literal["bonus_pool"]
    terms: BonusPoolTerms


class PopulationPaymentContract(_ContractBase):
    kind: Literal["population_payment"]
    terms: PopulationPaymentTerms


class MarginShareContract(_ContractBase):
    kind: Literal["margin_share"]
    terms: MarginShareTerms


Contract = Annotated[
    SharedSavingsContract
    | WithholdContract
    | BonusPoolContract
    | PopulationPaymentContract
    | MarginShareContract,
    Field(discriminator="kind"),
]
"""A validated contract document; ``contract.kind`` says which ``terms`` model it holds."""

_ADAPTER: TypeAdapter[Contract] = TypeAdapter(Contract)


_UNION_TAGS = frozenset(
    {
        ("truncation", "amount"),
        ("truncation", "percentile"),
        ("benchmark", "pmpm"),
        ("benchmark", "baseline_pmpm"),
        ("benchmark", "baseline_years"),
        ("benchmark", "computed"),
        ("earn_back", "linear"),
        ("earn_back", "tiers"),
        ("target", "pmpm"),
        ("target", "trend"),
    }
)
_TYPE_NAMES = frozenset({"decimal", "str", "int", "bool", "date", "float", "none", "dict", "list"})


def _is_tag(part: str | int, previous: str | int | None) -> bool:
    """Whether a location part is a union member's tag that pydantic inserted, not a field.

    A tagged union member's tag follows the union's field (``benchmark.pmpm.pmpm``: the first
    ``pmpm`` is the tag); smart unions insert type names (``decimal``, ``literal['all']``).
    """
    if not isinstance(part, str):
        return False
    if part in KINDS or part in _TYPE_NAMES or "[" in part or "-" in part:
        return True
    return (previous, part) in _UNION_TAGS


def _format_errors(exc: ValidationError) -> tuple[list[str], str]:
    """One "path: message" part per invalid field, union alternatives joined with "or"."""
    by_field: dict[str, list[str]] = {}
    got: dict[str, str] = {}
    for err in exc.errors():
        loc: list[str] = []
        previous: str | int | None = None
        for part in err["loc"]:
            if not _is_tag(part, previous):
                loc.append(str(part))
            previous = part
        field = ".".join(loc) or "(document)"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            field, message = "kind", f"unknown kind {err['input'].get('kind')!r}; allowed: {', '.join(KINDS)}"
        elif err["type"] == "union_tag_not_found":
            field, message = "kind", f"missing; allowed: {', '.join(KINDS)}"
        elif err["type"] in (
            "literal_error",
            "decimal_parsing",
            "less_than_equal",
            "greater_than_equal",
            "greater_than",
            "less_than",
            "bool_parsing",
            "date_from_datetime_parsing",
            "int_parsing",
            "string_type",
            "decimal_type",
        ) and _is_scalar(err["input"]):
            got.setdefault(field, f" (got {err['input']!r})")
        messages = by_field.setdefault(field, [])
        if message not in messages:
            messages.append(message)
    parts = [f"{field}: " + ", or ".join(msgs) + got.get(field, "") for field, msgs in by_field.items()]
    return parts, next(iter(by_field), "(document)")


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 40


def parse_contract(doc: Any, source: str, index: int = 0) -> Contract:
    """Validate one contract document (a mapping) or raise :class:`ContractError`."""
    where = f"{source}: contract {index}"
    if not isinstance(doc, dict):
        raise ContractError(f"{where}: a contract document must be a mapping of fields", source=source)
    if isinstance(doc.get("id"), str):
        where += f" (id {doc['id']!r})"
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        parts, first = _format_errors(exc)
        raise ContractError(
            f"{where} is invalid: " + "; ".join(parts) + ".", field=first, source=source
        ) from exc


def parse_contracts(docs: list[dict[str, Any]], source: str) -> list[Contract]:
    """Validate a list of contract documents; ids must be unique.

    Raises :class:`ContractError` (one paragraph: the source, the contract's index and id, each
    invalid field's dotted path and the allowed values) at the first invalid document.
    """
    if not isinstance(docs, list):
        raise ContractError(f"{source}: contracts must be a list of contract documents", source=source)
    contracts = [parse_contract(doc, source, i) for i, doc in enumerate(docs)]
    seen: dict[str, int] = {}
    for i, contract in enumerate(contracts):
        if contract.id in seen:
            raise ContractError(
                f"{source}: contract {i}: id {contract.id!r} is already used by contract "
                f"{seen[contract.id]}; contract ids must be unique within a job.",
                field="id",
                source=source,
            )
        seen[contract.id] = i
    return contracts

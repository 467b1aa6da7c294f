"""Reduce and settle: shard outputs combined per contract x entity (x group), then settled.

Rules (the domain text leaves these to us; also in ``docs/pipeline.md``):

* An entity is settled when at least one member is attributed to it under the contract;
  an entity in scope with nobody attributed gets no statement.  Unattributed members (the
  ``entity_id`` null rows) count in no settlement; they stay visible in ``member_costs``.
* ``settle_per: entity``: one settlement per contract x entity, from the sums over all its
  employer groups; its ledger is split across the groups by member months.  ``entity_group``:
  one settlement per contract x entity x group.
* Actual expenditure = the truncated (and completed) cost of the attributed members.
* Risk: the entity's performance and baseline scores are member-month-weighted means of the
  members' scores, exact ratios of integer sums.
* Quality, from the ``quality`` rows of the contract's quality period: ``quality_score`` where
  given (the mean if an entity has several rows), else the mean of the measure ``score``s;
  ``met_standard`` is the AND of the given values, and true when a score exists but no
  ``met_standard`` is given.  An entity with no quality row is scored 0 and has not met the
  standard: an unreported result earns nothing that quality scales or gates.
* Premiums (``margin_share``): each group's premiums in the period's months are split across
  that group's members' cells by member months (largest remainder); an entity's premium is
  the sum of its cells.  Without a premiums table the terms' ``premium_pmpm`` applies.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa

from settle.engine.contracts.common import Settlement
from settle.engine.contracts.inputs import EntityAggregates, GroupWeight, PoolFunding
from settle.engine.contracts.models import BonusPoolContract, WithholdContract
from settle.engine.contracts.settle import settle_contract
from settle.engine.kernels.member_months import MEMBER_MONTH_UNITS
from settle.engine.kernels.risk import RISK_SCALE
from settle.engine.money import allocate
from settle.engine.pipeline.plan import ContractPlan

__all__ = [
    "CELL_KEYS",
    "NO_QUALITY_RESULT",
    "Quality",
    "SettlementBatch",
    "SettlementCells",
    "combine_cells",
    "mean_score",
    "member_months",
    "quality_by_entity",
    "settle_plans",
    "settlement_batches",
    "settlement_cells",
]


@dataclass(frozen=True)
class Quality:
    score: Decimal | None
    met: bool


NO_QUALITY_RESULT = Quality(Decimal(0), False)
"""An entity with no quality row for the period: scored 0, standard not met (earns nothing
that quality gates or scales)."""


def quality_by_entity(quality: pa.Table | None, period: str) -> dict[str, Quality]:
    """Each entity's quality result for ``period`` (rules in the module docstring)."""
    if quality is None or quality.num_rows == 0:
        return {}
    frame = pl.from_arrow(quality)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.filter(pl.col("period") == period)
    for column in ("quality_score", "score", "met_standard"):
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(column))
    rows = frame.group_by("entity_id").agg(
        pl.col("quality_score").cast(pl.Float64).drop_nulls().alias("composite"),
        pl.col("score").cast(pl.Float64).drop_nulls().alias("scores"),
        pl.col("met_standard").cast(pl.Boolean).drop_nulls().alias("met"),
    )
    result: dict[str, Quality] = {}
    for entity, composite, scores, met in rows.iter_rows():
        values = composite or scores
        score = sum((Decimal(str(v)) for v in values), Decimal(0)) / len(values) if values else None
        result[entity] = Quality(score, all(met) if met else score is not None)
    return result


def member_months(units: int) -> Decimal:
    """Member months of a count of member-month units (exact to ``Decimal``'s precision)."""
    return Decimal(units) / MEMBER_MONTH_UNITS


CELL_KEYS = ("contract_id", "entity_id", "group_id")
_CELL_SUMS = ("attributed_members", "member_month_units", "actual_cents", "rw", "rmm", "brw", "brmm")


@dataclass(frozen=True)
class SettlementCells:
    """What settlement needs from member costs, summed so that shards simply add up.

    ``cells``: per contract x entity (null: unattributed) x group, ``attributed_members``
    (distinct members), ``member_month_units``, ``actual_cents`` (truncated cost), and the
    risk sums ``rw``/``rmm`` (performance: score micro-units x member-month units, and the
    member-month units of scored members) and ``brw``/``brmm`` (baseline).  ``entity_members``:
    per contract x entity, distinct members over all groups (a member enrolled with two groups
    is one member of the entity).  Members are shard-local, so both are additive over shards.
    """

    cells: pl.DataFrame
    entity_members: pl.DataFrame


def settlement_cells(member_costs: pl.DataFrame) -> SettlementCells:
    """Reduce member-cost rows (any contracts, one shard or all) to :class:`SettlementCells`."""
    if member_costs.height == 0 or "member_id" not in member_costs.columns:
        return combine_cells([])
    names = member_costs.columns
    has_risk = "risk_weighted_units" in names and "risk_score_micro" in names
    mm = pl.col("member_month_units").cast(pl.Int128)
    sums = [
        pl.col("member_id").n_unique().cast(pl.Int64).alias("attributed_members"),
        pl.col("member_month_units").sum().cast(pl.Int64),
        pl.col("truncated_cost_cents").sum().cast(pl.Int64).alias("actual_cents"),
    ]
    if has_risk:
        sums += [
            pl.col("risk_weighted_units").cast(pl.Int128).sum().alias("rw"),
            mm.filter(pl.col("risk_score_micro").is_not_null()).sum().alias("rmm"),
            pl.col("baseline_risk_weighted_units").cast(pl.Int128).sum().alias("brw"),
            mm.filter(pl.col("baseline_risk_weighted_units").is_not_null()).sum().alias("brmm"),
        ]
    else:
        sums += [pl.lit(0, dtype=pl.Int128).alias(c) for c in ("rw", "rmm", "brw", "brmm")]
    cells = member_costs.group_by(*CELL_KEYS).agg(sums)
    members = (
        member_costs.filter(pl.col("entity_id").is_not_null())
        .group_by("contract_id", "entity_id")
        .agg(pl.col("member_id").n_unique().cast(pl.Int64).alias("attributed_members"))
    )
    return combine_cells([SettlementCells(cells, members)])


def combine_cells(parts: Sequence[SettlementCells]) -> SettlementCells:
    """Add up the cells of several shards (exact integer sums), sorted by key."""
    cell_schema: dict[str, pl.DataType] = {
        "contract_id": pl.String(),
        "entity_id": pl.String(),
        "group_id": pl.String(),
    }
    cell_schema |= {c: (pl.Int128() if c in ("rw", "rmm", "brw", "brmm") else pl.Int64()) for c in _CELL_SUMS}
    member_schema: dict[str, pl.DataType] = {
        "contract_id": pl.String(),
        "entity_id": pl.String(),
        "attributed_members": pl.Int64(),
    }
    cells = pl.concat(
        [
            pl.DataFrame(schema=cell_schema),
            *(p.cells.select(list(cell_schema)).cast(pl.Schema(cell_schema)) for p in parts),
        ]
    )
    members = pl.concat(
        [
            pl.DataFrame(schema=member_schema),
            *(p.entity_members.cast(pl.Schema(member_schema)) for p in parts),
        ]
    )
    return SettlementCells(
        cells.group_by(*CELL_KEYS).agg(pl.col(c).sum() for c in _CELL_SUMS).sort(*CELL_KEYS, nulls_last=True),
        members.group_by("contract_id", "entity_id")
        .agg(pl.col("attributed_members").sum())
        .sort("contract_id", "entity_id"),
    )


def _premiums(
    premiums: pa.Table | None, all_cells: pl.DataFrame, plan: ContractPlan
) -> dict[tuple[str, str], int]:
    """Premium cents per (entity, group) cell (rule in the module docstring)."""
    if premiums is None or premiums.num_rows == 0:
        return {}
    frame = pl.from_arrow(premiums)
    assert isinstance(frame, pl.DataFrame)
    period = plan.period
    by_group = (
        frame.filter(pl.col("month").is_between(period.start, period.end))
        .group_by("group_id")
        .agg(pl.col("premium_cents").sum())
    )
    cells = (
        all_cells.filter(pl.col("contract_id") == plan.contract_id)
        .select("group_id", "entity_id", "member_month_units")
        .sort("group_id", "entity_id", nulls_last=True)
    )
    members: dict[str, list[tuple[str | None, int]]] = {}
    for group_id, entity_id, units in cells.iter_rows():
        members.setdefault(group_id, []).append((entity_id, int(units)))
    result: dict[tuple[str, str], int] = {}
    for group_id, total in by_group.iter_rows():
        part = members.get(group_id)
        if not part:
            continue
        shares = allocate(int(total), [units for _, units in part])
        for (entity, _), share in zip(part, shares, strict=True):
            if entity is not None:
                result[(entity, group_id)] = result.get((entity, group_id), 0) + share
    return result


def _baseline_pmpms(baselines: pl.DataFrame, contract_id: str) -> dict[str, Decimal]:
    """Computed baseline PMPM per entity: lookback cost / lookback member months, exact dollars
    (the statement rounds it once when it publishes the figure)."""
    if baselines.height == 0 or "baseline_cost_cents" not in baselines.columns:
        return {}
    rows = (
        baselines.filter(pl.col("contract_id") == contract_id)
        .group_by("entity_id")
        .agg(pl.col("baseline_cost_cents").sum(), pl.col("baseline_member_month_units").sum())
    )
    return {
        entity: Decimal(int(cost)) / 100 / member_months(int(units))
        for entity, cost, units in rows.iter_rows()
        if units
    }


def settle_plans(
    plans: Sequence[ContractPlan],
    figures: SettlementCells,
    pool_bases: pl.DataFrame,
    baselines: pl.DataFrame,
    quality: pa.Table | None,
    premiums: pa.Table | None,
) -> list[Settlement]:
    """Every contract's settlements, in (contract, entity, group) order: every batch of
    :func:`settlement_batches` settled in turn."""
    batches = settlement_batches(plans, figures, pool_bases, baselines, quality, premiums)
    return [s for batch in batches for s in batch.settle()]


@dataclass(frozen=True)
class SettlementBatch:
    """Consecutive settlement units of one contract (whole entities), with exactly the figures
    settling them needs: settled here or in another process, they give the same settlements.
    ``cells``: the units' cells, sorted by entity, then group; the dictionaries hold the
    entries of these entities only.  ``premium_of`` is ``None`` when the contract has no
    premium from the premiums table at all (the terms' ``premium_pmpm`` applies), decided for
    the whole contract, not per batch: an entity of a contract with premiums whose groups have
    none has a premium of 0 in any batch."""

    plan: ContractPlan
    cells: pl.DataFrame
    members_of: dict[str, int]
    quality_of: dict[str, Quality]
    premium_of: dict[tuple[str, str], int] | None
    funded: dict[tuple[str, str], tuple[int, int]] | None
    baseline_of: dict[str, Decimal]

    @property
    def per_group(self) -> bool:
        return self.plan.contract.settle_per == "entity_group"

    @property
    def units(self) -> int:
        """Settlements this batch makes."""
        return self.cells.height if self.per_group else self.cells["entity_id"].n_unique()

    def settle(self) -> Iterator[Settlement]:
        """The batch's settlements, in (entity, group) order."""
        per_group = self.per_group
        # One entity's cells are consecutive (sorted); read a few at a time, not all at once.
        for entity_id, entity_rows in itertools.groupby(
            self.cells.iter_rows(named=True), key=lambda r: r["entity_id"]
        ):
            rows = list(entity_rows)
            for unit in [[r] for r in rows] if per_group else [rows]:
                yield _settle_unit(
                    self.plan,
                    entity_id,
                    unit,
                    self.funded,
                    self.quality_of,
                    self.premium_of,
                    per_group,
                    self.baseline_of.get(entity_id),
                    None if per_group else self.members_of.get(entity_id, 0),
                )


def settlement_batches(
    plans: Sequence[ContractPlan],
    figures: SettlementCells,
    pool_bases: pl.DataFrame,
    baselines: pl.DataFrame,
    quality: pa.Table | None,
    premiums: pa.Table | None,
    units: int | None = None,
) -> Iterator[SettlementBatch]:
    """Every contract's settlement units in :class:`SettlementBatch` es of about ``units``
    settlements each (whole entities; default: one batch per contract), in settlement order.

    The cells settled are the attributed entity x group cells plus, for pool kinds, every
    entity x group pool that was funded: money withheld or prefunded for an entity with no
    attributed member in that group must still be settled (earned or returned).  A cell with
    members but no funded pool settles a pool of zero.  Premiums are split over the whole
    contract's cells before the cells are batched, so a batch's premiums are the unbatched
    ones."""
    for plan in plans:
        cells = figures.cells.filter(
            (pl.col("contract_id") == plan.contract_id) & pl.col("entity_id").is_not_null()
        ).drop("contract_id")
        members_of = dict(
            figures.entity_members.filter(pl.col("contract_id") == plan.contract_id)
            .select("entity_id", "attributed_members")
            .iter_rows()
        )
        quality_of = quality_by_entity(quality, plan.quality_period)
        premium_of = _premiums(premiums, figures.cells, plan) or None
        pools = _pools_of(plan, pool_bases)
        funded: dict[tuple[str, str], tuple[int, int]] | None = None
        if pools is not None:
            cells = _with_pool_cells(cells, pools) if pools.height else cells
            funded = {
                (e, g): (int(b), int(d))
                for e, g, b, d in pools.select("entity_id", "group_id", "base_cents", "cent_days").iter_rows()
            }
        baseline_of = _baseline_pmpms(baselines, plan.contract_id)
        whole = SettlementBatch(plan, cells, members_of, quality_of, premium_of, funded, baseline_of)
        if units is None:
            yield whole
            continue
        for start, stop in _entity_slices(cells, units, whole.per_group):
            part = cells.slice(start, stop - start)
            entities = part["entity_id"].unique(maintain_order=True).to_list()
            pairs = list(part.select("entity_id", "group_id").iter_rows())
            yield SettlementBatch(
                plan,
                part,
                _only(members_of, entities),
                _only(quality_of, entities),
                None if premium_of is None else _only(premium_of, pairs),
                None if funded is None else _only(funded, pairs),
                _only(baseline_of, entities),
            )


def _only(values: dict[Any, Any], keys: list[Any]) -> dict[Any, Any]:
    """The entries of ``values`` under ``keys`` (looked up, not scanned: a contract's
    dictionaries are as large as its entities or cells, and there are many batches)."""
    return {k: values[k] for k in keys if k in values}


def _entity_slices(cells: pl.DataFrame, units: int, per_group: bool) -> list[tuple[int, int]]:
    """Row ranges of ``cells`` (sorted by entity) that start and end on an entity boundary and
    hold about ``units`` settlement units each (a unit is a cell when ``per_group``, else an
    entity)."""
    if cells.height == 0:
        return []
    entity = cells["entity_id"]
    # Row 0 differs from the missing row before it; the first start is 0 either way.
    starts = [*entity.ne_missing(entity.shift(1)).arg_true().to_list(), cells.height]
    slices: list[tuple[int, int]] = []
    begin, count = 0, 0
    for a, b in itertools.pairwise(starts):
        count += (b - a) if per_group else 1
        if count >= units:
            slices.append((begin, b))
            begin, count = b, 0
    if begin < cells.height:
        slices.append((begin, cells.height))
    return slices


def _pools_of(plan: ContractPlan, pool_bases: pl.DataFrame) -> pl.DataFrame | None:
    """The contract's funded pools (None for kinds without pools; possibly empty)."""
    if not isinstance(plan.contract, WithholdContract | BonusPoolContract):
        return None
    if pool_bases.height == 0 or "entity_id" not in pool_bases.columns:
        return pl.DataFrame(
            schema={
                "entity_id": pl.String,
                "group_id": pl.String,
                "base_cents": pl.Int64,
                "cent_days": pl.Int64,
            }
        )
    return pool_bases.filter(pl.col("contract_id") == plan.contract_id)


def _with_pool_cells(cells: pl.DataFrame, pools: pl.DataFrame) -> pl.DataFrame:
    """Add an empty cell (no members, no cost) for every funded pool without attributed members."""
    missing = pools.select("entity_id", "group_id").join(cells, on=["entity_id", "group_id"], how="anti")
    if missing.is_empty():
        return cells
    empty = missing.with_columns(
        *(
            pl.lit(0, dtype=cells.schema[c]).alias(c)
            for c in cells.columns
            if c not in ("entity_id", "group_id")
        )
    ).select(cells.columns)
    return pl.concat([cells, empty]).sort("entity_id", "group_id", nulls_last=True)


def _sum(rows: list[dict[str, Any]], column: str) -> int:
    return sum(int(r[column]) for r in rows if r[column] is not None)


def mean_score(weighted: int, units: int) -> Decimal | None:
    """An exact member-month-weighted mean score from integer sums (None without scored months)."""
    return None if units == 0 else Decimal(weighted) / (Decimal(units) * RISK_SCALE)


def _mean_score(rows: list[dict[str, Any]], weighted: str, units: str) -> Decimal | None:
    return mean_score(_sum(rows, weighted), _sum(rows, units))


def _settle_unit(
    plan: ContractPlan,
    entity_id: str,
    rows: list[dict[str, Any]],
    funded: dict[tuple[str, str], tuple[int, int]] | None,
    quality_of: dict[str, Quality],
    premium_of: dict[tuple[str, str], int] | None,
    per_group: bool,
    baseline_pmpm: Decimal | None,
    entity_members: int | None,
) -> Settlement:
    """One settlement unit: an entity's cells (all its groups, or one group's).  The unit's
    attributed members are the entity's distinct members (``entity_members``) for a whole
    entity, the cell's own count for one group."""
    groups = [str(r["group_id"]) for r in rows]
    q = quality_of.get(entity_id, NO_QUALITY_RESULT)
    premium = None if premium_of is None else sum(premium_of.get((entity_id, g), 0) for g in groups)
    weights = tuple(
        GroupWeight(str(r["group_id"]), member_months(int(r["member_month_units"]))) for r in rows
    )
    agg = EntityAggregates(
        entity_id=entity_id,
        member_months=member_months(_sum(rows, "member_month_units")),
        actual_cents=_sum(rows, "actual_cents"),
        attributed_members=_sum(rows, "attributed_members") if entity_members is None else entity_members,
        group_id=groups[0] if per_group else None,
        risk_score=_mean_score(rows, "rw", "rmm"),
        baseline_risk_score=_mean_score(rows, "brw", "brmm"),
        quality_score=q.score,
        met_quality_standard=q.met,
        premium_cents=premium,
        baseline_pmpm=baseline_pmpm,
        groups=() if per_group else weights,
    )
    funding = (
        []
        if funded is None
        else [
            PoolFunding(w.group_id, *funded.get((entity_id, w.group_id), (0, 0)), w.member_months)
            for w in sorted(weights, key=lambda w: w.group_id)
        ]
    )
    return settle_contract(plan.contract, agg, funding)

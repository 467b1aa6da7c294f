"""The synthetic book's fixed world: calendar, employer groups, contract entities, clinicians, facilities.

Built once per (seed, size) from its own random stream, before any member exists, so every
member block sees the same world whatever the chunk size.  Rules chosen here:

* **Employer groups**: ``groups`` of them (default ``clip(members / 1500, 5, 3000)``) with
  Zipf weights (exponent 1.05, ranks shuffled over the ids), a fee factor (lognormal, sigma 0.08,
  for network discounts) and a plan type.  Each group's first employer is a contiguous range
  of member numbers (sizes = weights x members, largest remainder), so a group's rows come out
  of the generator together and can be written straight to its files; members who change
  employer move to a group drawn by weight.
* **Contract entities**: ``entities`` (default ``clip(members / 8000, 3, 300)``) with Zipf
  weights (exponent 1.0) deciding how many clinicians join each; an efficiency factor per year
  (lookback lognormal sigma 0.07; performance year = lookback x lognormal(-0.005, 0.05)) so
  that some entities save against a trended baseline and some lose; a composite quality score
  per year (Beta(9, 2.5), ``met_standard`` = score >= 0.70; at least one entity meets the
  standard and one fails it in the performance year).
* **Clinicians** (valid Luhn NPIs): primary care (one per ~450 members; CMS specialties 08, 11,
  37, 50, 97, 01, 38, 89), specialists (one per ~700; 06, 20, 16, 07, 10, 18, 13, 26, 29, 46, 34,
  02, 90, 39, 66), ancillary (labs 69, radiology 30, therapy 65, pathology 22, anesthesia 05,
  emergency 93) and facilities.  70% of primary-care clinicians, 50% of specialists, 15% of
  ancillary clinicians and 30% of facilities belong to an entity; the rest are outside every
  entity.  Each entity gets at least one primary-care clinician; at least one primary-care
  clinician and one specialist are outside.
* **TINs** (nine digits, leading zeros possible): an entity has ``1 + min(5, clinicians // 30)``
  TINs; clinicians outside entities share practices of about four per TIN; each facility has
  its own TIN.
* **Roster**: one row per entity clinician (NPI, TIN, specialty, dates) plus a whole-TIN row
  (no NPI) per entity facility.  Most participate since before the lookback year; 7% join
  during the lookback or performance year and 5% terminate during the performance year.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from settle.engine.synth.arrow import (
    F64,
    I64,
    GroupedDraw,
    date_array,
    day_number,
    npi_with_check_digit,
    padded_ids,
    take_strings,
)
from settle.engine.synth.codes import (
    ANCILLARY_SPECIALTIES,
    PC_POOLS,
    PC_SPECIALTIES,
    SPECIALIST_SPECIALTIES,
)

__all__ = ["ANC", "FAC", "PCP", "SPEC", "World", "build_world", "month_start"]

PCP, SPEC, ANC, FAC = 0, 1, 2, 3

SPECIALTY_CODES: tuple[str, ...] = tuple(
    code for table in (PC_SPECIALTIES, SPECIALIST_SPECIALTIES, ANCILLARY_SPECIALTIES) for code, _ in table
)
_N_PC, _N_SP = len(PC_SPECIALTIES), len(SPECIALIST_SPECIALTIES)

_WORDS_A = (
    "Acme",
    "Summit",
    "Harbor",
    "Prairie",
    "Granite",
    "Cedar",
    "Lakeside",
    "Pioneer",
    "Beacon",
    "Riverside",
    "Northstar",
    "Keystone",
    "Evergreen",
    "Redwood",
    "Silverline",
    "Bluewater",
)
_WORDS_B = (
    "Manufacturing",
    "Logistics",
    "Foods",
    "Energy",
    "Software",
    "Retail",
    "Schools",
    "Construction",
    "Hospitality",
    "Financial",
    "Telecom",
    "Health System",
    "County",
    "Labs",
)
_REGIONS = ("North", "South", "East", "West", "Central", "Valley", "Metro", "Coastal", "Lakes", "Plains")
_ENTITY_KINDS = ("ACO", "Medical Group", "Health Partners", "Physicians Network", "Clinic System")


def month_start(year: int, month: int) -> int:
    """Day number of the first day of ``month`` of ``year`` (months may overflow past 12)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return day_number(dt.date(year, month, 1))


@dataclass(frozen=True)
class World:
    """Everything fixed before members are drawn."""

    year: int
    members: int
    years: I64  # [[lookback start, end], [performance start, end]] day numbers, inclusive
    extract_day: int  # last paid date in the book: performance end + 3 months
    month0: int  # month index (year * 12 + month - 1) of months[0]
    months: I64  # first day of every month from 9 years before the performance year to 2 after
    group_ids: pa.Array
    group_names: pa.Array
    group_plans: pa.Array
    group_weight: F64
    group_first: I64  # members group_first[g] .. group_first[g + 1] - 1 start with group g
    group_fee: F64
    group_draw: GroupedDraw
    entity_ids: pa.Array
    entity_factor: F64  # (entities, 2): lookback, performance
    quality: F64  # (entities, 2)
    prov_kind: I64
    prov_specialty: I64  # index into SPECIALTY_CODES
    prov_entity: I64  # -1 outside every entity
    prov_tin_index: I64
    prov_npi: pa.Array
    prov_tin: pa.Array
    pcp_by_pool: GroupedDraw
    pcp_by_tin: GroupedDraw
    spec_by_entity: GroupedDraw
    spec_all: GroupedDraw
    anc_all: GroupedDraw
    fac_by_entity: GroupedDraw
    fac_all: GroupedDraw
    roster: pa.Table
    quality_table: pa.Table

    @property
    def n_groups(self) -> int:
        return len(self.group_weight)

    @property
    def n_entities(self) -> int:
        return len(self.entity_ids)

    def group_of(self, gidx: I64) -> I64:
        """The first employer group of members with global index ``gidx``."""
        return (np.searchsorted(self.group_first, gidx, side="right") - 1).astype(np.int64)

    def month_day(self, index: I64) -> I64:
        """First day of month index ``index`` (year * 12 + month - 1)."""
        return self.months[index - self.month0]


def _zipf(n: int, exponent: float, rng: np.random.Generator) -> F64:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    return rng.permutation(w / w.sum())


def _draw(rng: np.random.Generator, weights: F64, n: int) -> I64:
    return GroupedDraw.build(np.zeros(len(weights)), weights, 1).draw(np.zeros(n), rng.random(n))


def _unique_numbers(rng: np.random.Generator, low: int, high: int, n: int) -> I64:
    return (rng.choice(high - low, size=n, replace=False) + low).astype(np.int64)


def build_world(rng: np.random.Generator, *, members: int, year: int, groups: int, entities: int) -> World:
    """Draw the world of a book of ``members`` members for performance year ``year``."""
    years = np.array(
        [
            [day_number(dt.date(year - 1, 1, 1)), day_number(dt.date(year - 1, 12, 31))],
            [day_number(dt.date(year, 1, 1)), day_number(dt.date(year, 12, 31))],
        ],
        dtype=np.int64,
    )
    extract = day_number(dt.date(year + 1, 3, 31))
    month0 = (year - 9) * 12
    months = np.array([month_start(year - 9, 1 + k) for k in range(12 * 12)], dtype=np.int64)

    group_weight = _zipf(groups, 1.05, rng)
    exact = group_weight * members
    sizes = np.floor(exact).astype(np.int64)
    short = members - int(sizes.sum())
    sizes[np.argsort(-(exact - sizes), kind="stable")[:short]] += 1
    group_fee = rng.lognormal(0.0, 0.08, groups)
    plans = pa.array(["PPO", "HMO", "HDHP"]).take(pa.array(_draw(rng, np.array([0.5, 0.3, 0.2]), groups)))
    names = pa.array(
        [
            f"{_WORDS_A[i % len(_WORDS_A)]} {_WORDS_B[(i // len(_WORDS_A)) % len(_WORDS_B)]}"
            f"{'' if i < len(_WORDS_A) * len(_WORDS_B) else f' {i}'}"
            for i in range(groups)
        ]
    )
    entity_weight = _zipf(entities, 1.0, rng)
    factor = np.empty((entities, 2))
    factor[:, 0] = rng.lognormal(0.0, 0.07, entities)
    factor[:, 1] = factor[:, 0] * rng.lognormal(-0.005, 0.05, entities)
    quality = np.round(rng.beta(9.0, 2.5, (entities, 2)), 4)
    if (quality[:, 1] >= 0.70).all():
        quality[int(np.argmin(quality[:, 1])), 1] = 0.6125
    if (quality[:, 1] < 0.70).all():
        quality[int(np.argmax(quality[:, 1])), 1] = 0.8450

    counts = {
        PCP: max(12, members // 450),
        SPEC: max(15, members // 700),
        ANC: max(6, members // 5000),
        FAC: max(3, members // 30000),
    }
    kind = np.concatenate([np.full(n, k, dtype=np.int64) for k, n in counts.items()])
    n_prov = len(kind)
    p_in = np.array([0.70, 0.50, 0.15, 0.30])[kind]
    inside = rng.random(n_prov) < p_in
    entity = np.where(inside, _draw(rng, entity_weight, n_prov), -1)
    first = {k: int(np.flatnonzero(kind == k)[0]) for k in counts}
    last = {k: int(np.flatnonzero(kind == k)[-1]) for k in counts}
    seeded = first[PCP] + np.arange(min(entities, counts[PCP] - 1))
    entity[seeded] = np.arange(len(seeded))  # every entity has a primary-care clinician
    entity[last[PCP]] = entity[last[SPEC]] = -1
    specialty = np.select(
        [kind == PCP, kind == SPEC, kind == ANC],
        [
            _draw(rng, np.array([w for _, w in PC_SPECIALTIES]), n_prov),
            _N_PC + _draw(rng, np.array([w for _, w in SPECIALIST_SPECIALTIES]), n_prov),
            _N_PC + _N_SP + _draw(rng, np.array([w for _, w in ANCILLARY_SPECIALTIES]), n_prov),
        ],
        -1,
    ).astype(np.int64)
    specialty[first[PCP] : first[PCP] + 3] = [SPECIALTY_CODES.index(c) for c in ("08", "37", "11")]
    weight = rng.lognormal(0.0, 0.5, n_prov)

    tin_index, n_tins = _assign_tins(rng, kind, entity, entities)
    tin_numbers = _unique_numbers(rng, 10**7, 10**9, n_tins)
    npi = padded_ids("", npi_with_check_digit(_unique_numbers(rng, 10**8, 3 * 10**8, n_prov)), 10)
    tin = padded_ids("", tin_numbers, 9).take(pa.array(tin_index))

    pcp = np.flatnonzero(kind == PCP)
    pool_rows = [
        (pool, p)
        for pool, codes in enumerate(PC_POOLS)
        for p in pcp
        if SPECIALTY_CODES[specialty[p]] in codes
    ]
    pool_g = np.array([r[0] for r in pool_rows], dtype=np.int64)
    pool_p = np.array([r[1] for r in pool_rows], dtype=np.int64)

    def by_entity(k: int) -> GroupedDraw:
        ids = np.flatnonzero((kind == k) & (entity >= 0))
        return GroupedDraw.build(entity[ids], weight[ids], entities, items=ids)

    def overall(k: int) -> GroupedDraw:
        ids = np.flatnonzero(kind == k)
        return GroupedDraw.build(np.zeros(len(ids)), weight[ids], 1, items=ids)

    entity_ids = padded_ids("E", np.arange(1, entities + 1), _width(entities, 3))
    roster = _roster(rng, year, months, month0, kind, entity, specialty, npi, tin, entity_ids)
    return World(
        year=year,
        members=members,
        years=years,
        extract_day=extract,
        month0=month0,
        months=months,
        group_ids=padded_ids("G", np.arange(1, groups + 1), _width(groups, 4)),
        group_names=names,
        group_plans=plans,
        group_weight=group_weight,
        group_first=np.r_[0, np.cumsum(sizes)].astype(np.int64),
        group_fee=group_fee,
        group_draw=GroupedDraw.build(np.zeros(groups), group_weight, 1),
        entity_ids=entity_ids,
        entity_factor=factor,
        quality=quality,
        prov_kind=kind,
        prov_specialty=specialty,
        prov_entity=entity,
        prov_tin_index=tin_index,
        prov_npi=npi,
        prov_tin=tin,
        pcp_by_pool=GroupedDraw.build(pool_g, weight[pool_p], len(PC_POOLS), items=pool_p),
        pcp_by_tin=GroupedDraw.build(tin_index[pcp], weight[pcp], n_tins, items=pcp),
        spec_by_entity=by_entity(SPEC),
        spec_all=overall(SPEC),
        anc_all=overall(ANC),
        fac_by_entity=by_entity(FAC),
        fac_all=overall(FAC),
        roster=roster,
        quality_table=_quality_table(year, entity_ids, quality),
    )


def _width(n: int, least: int) -> int:
    return max(least, len(str(n)))


def _assign_tins(rng: np.random.Generator, kind: I64, entity: I64, entities: int) -> tuple[I64, int]:
    """A TIN index per provider: entity TINs first, then outside practices, then one per facility."""
    tin = np.empty(len(kind), dtype=np.int64)
    clinician = kind != FAC
    per_entity = np.bincount(entity[clinician & (entity >= 0)], minlength=entities)
    n_entity_tins = 1 + np.minimum(5, per_entity // 30)
    offsets = np.concatenate(([0], np.cumsum(n_entity_tins)))
    ins = np.flatnonzero(clinician & (entity >= 0))
    e = entity[ins]
    tin[ins] = offsets[e] + (rng.random(len(ins)) * n_entity_tins[e]).astype(np.int64)
    outs = np.flatnonzero(clinician & (entity < 0))
    n_practices = max(1, math.ceil(len(outs) / 4))
    tin[outs] = offsets[-1] + rng.integers(0, n_practices, len(outs))
    facilities = np.flatnonzero(~clinician)
    base = offsets[-1] + n_practices
    tin[facilities] = base + np.arange(len(facilities))
    return tin, int(base + len(facilities))


def _roster(
    rng: np.random.Generator,
    year: int,
    months: I64,
    month0: int,
    kind: I64,
    entity: I64,
    specialty: I64,
    npi: pa.Array,
    tin: pa.Array,
    entity_ids: pa.Array,
) -> pa.Table:
    rows = np.flatnonzero(entity >= 0)
    n = len(rows)
    effective = months[(year - 1 - rng.integers(0, 6, n)) * 12 - month0]  # 1 January, 1 to 6 years back
    joiner = rng.random(n) < 0.07
    join_month = (year - 1) * 12 + 1 + rng.integers(0, 20, n)  # Feb of the lookback year .. Sep
    effective = np.where(joiner, months[join_month - month0], effective)
    leaver = (rng.random(n) < 0.05) & ~joiner
    leave_month = year * 12 + 3 + rng.integers(0, 9, n)  # ends Mar .. Nov of the performance year
    termination = months[leave_month - month0] - 1
    # The first primary-care clinician of each entity participates all along.
    pcp_rows = np.flatnonzero(kind[rows] == PCP)
    _, first = np.unique(entity[rows][pcp_rows], return_index=True)
    seeded = np.zeros(n, dtype=bool)
    seeded[pcp_rows[first]] = True
    effective = np.where(seeded, months[(year - 2) * 12 - month0], effective)
    leaver &= ~seeded
    facility = kind[rows] == FAC
    spec_codes = pa.array(list(SPECIALTY_CODES))
    return pa.table(
        {
            "npi": take_strings(npi, rows, null=facility),
            "tin": tin.take(pa.array(rows)),
            "entity_id": entity_ids.take(pa.array(entity[rows])),
            "specialty_code": take_strings(spec_codes, np.maximum(specialty[rows], 0), null=facility),
            "effective_date": date_array(effective),
            "termination_date": pa.array(
                np.where(leaver, termination, 0).astype(np.int32), mask=~leaver
            ).cast(pa.date32()),
        }
    )


def _quality_table(year: int, entity_ids: pa.Array, quality: F64) -> pa.Table:
    n = len(entity_ids)
    scores = np.concatenate([quality[:, 0], quality[:, 1]])
    return pa.table(
        {
            "entity_id": pa.concat_arrays([entity_ids, entity_ids]),
            "period": pa.array([str(year - 1)] * n + [str(year)] * n),
            "quality_score": pa.array(scores),
            "met_standard": pa.array(scores >= 0.70),
        }
    )

"""Pharmacy fills of one block of members.

Rules chosen here: fills per member and year are Poisson with mean 8.5 x enrolled share of the
year x age factor (0.35, 0.5, 0.9, 1.6, 2.4) x ``exp(0.7 h - 0.245)`` (at most 400).  The
dispensing date is uniform over the enrolled days; the fill is a specialty drug with
probability ``0.004 exp(h - 0.5)`` (at most 0.5), otherwise brand (20%) or generic; allowed is
lognormal around the tier's median (see :data:`~settle.engine.synth.codes.NDC_TIERS`) x the
medical trend; paid is allowed minus the tier's copay (never below zero) or, for specialty
drugs, 80% of allowed.  Paid 3-17 days after dispensing; 1.5% of fills are reversed 1-30 days
later by a line with the same claim id and negated amounts.  Fills and reversals paid after the
book's extract date are not in the book.  The prescriber is the member's primary-care clinician
(70%) or a specialist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from settle.engine.synth.arrow import I64, GroupedDraw, date_array, money_array, padded_ids
from settle.engine.synth.claims import CLAIM_ID_WIDTH, TREND, service_days
from settle.engine.synth.codes import NDC_TIERS
from settle.engine.synth.members import Members
from settle.engine.synth.world import World

__all__ = ["RX_SCHEMA", "Fills", "pharmacy_fills"]

_AGE = np.array([0.35, 0.5, 0.9, 1.6, 2.4])
_NDC = pa.array([ndc for tier in NDC_TIERS for ndc in tier[4]])
_NDC_DRAW = GroupedDraw.build(
    [t for t, tier in enumerate(NDC_TIERS) for _ in tier[4]], np.ones(len(_NDC)), len(NDC_TIERS)
)
_MEDIAN = np.array([tier[1] for tier in NDC_TIERS])
_SIGMA = np.array([tier[2] for tier in NDC_TIERS])
_COPAY = np.array([tier[3] for tier in NDC_TIERS])
RX_SCHEMA = pa.schema(
    [
        ("claim_id", pa.string()),
        ("claim_line_number", pa.int64()),
        ("member_id", pa.string()),
        ("dispensing_date", pa.date32()),
        ("paid_date", pa.date32()),
        ("paid_amount", pa.decimal128(12, 2)),
        ("allowed_amount", pa.decimal128(12, 2)),
        ("prescribing_provider_npi", pa.string()),
        ("ndc_code", pa.string()),
    ]
)


@dataclass(frozen=True)
class Fills:
    """A block's pharmacy rows with, per row, its group and member index; ordered like
    :class:`~settle.engine.synth.claims.ClaimLines` (the first ``n_main`` rows are the member's
    first employer's)."""

    table: pa.Table
    n_main: int
    group: I64
    gidx: I64
    paid_day: I64
    cost: I64  # allowed cents netted, per (group, dispensing year): shape (groups, 2)


def pharmacy_fills(
    world: World, m: Members, rng: np.random.Generator, *, paid_buckets: tuple[int, int] | None = None
) -> Fills:
    """All fills of the block's members in the lookback and performance years (``paid_buckets``:
    see :func:`~settle.engine.synth.claims.medical_lines`)."""
    days_in_year = (world.years[:, 1] - world.years[:, 0] + 1).astype(np.float64)
    lam = 8.5 * (m.days1 + m.days2) / days_in_year * _AGE[m.age_class][:, None] * np.exp(0.7 * m.h - 0.245)
    counts = np.minimum(rng.poisson(lam), 400)
    cell = np.repeat(np.arange(counts.size), counts.reshape(-1))
    member, year = cell // 2, cell % 2
    n = len(cell)
    day, group = service_days(world, m, member, year, rng.random(n))
    u = rng.random(n)
    p_specialty = np.minimum(0.5, 0.004 * np.exp(m.h[member, year] - 0.5))
    tier = np.where(u < p_specialty, 2, np.where(u < p_specialty + 0.2, 1, 0))
    ndc = _NDC_DRAW.draw(tier, rng.random(n))
    dollars = rng.lognormal(np.log(_MEDIAN[tier]), _SIGMA[tier]) * TREND[year]
    allowed = np.maximum(100, np.rint(dollars * 100.0)).astype(np.int64)
    copay = _COPAY[tier]
    paid_cents = np.where(copay >= 0, np.maximum(0, allowed - copay * 100), allowed * (100 + copay) // 100)
    paid = day + rng.integers(3, 18, n)
    spec = world.spec_all.draw(np.zeros(n), rng.random(n))
    prescriber = np.where(rng.random(n) < 0.7, m.pcp[member, year], spec)
    reversed_ = rng.random(n) < 0.015
    rev_paid = paid + rng.integers(1, 31, n)

    # Claim ids: the member's fills numbered in dispensing order (claims within a member sort by day).
    order = np.lexsort((day, member))
    seq = np.empty(n, dtype=np.int64)
    first = np.r_[0, np.flatnonzero(np.diff(member[order])) + 1]
    seq[order] = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    kept = np.flatnonzero(paid <= world.extract_day)
    rev = kept[reversed_[kept] & (rev_paid[kept] <= world.extract_day)]
    rows = np.concatenate([kept, rev])
    sign = np.concatenate([np.ones(len(kept), dtype=np.int64), -np.ones(len(rev), dtype=np.int64)])
    row_paid = np.concatenate([paid[kept], rev_paid[rev]])
    number = m.gidx[member[rows]] * 1000 + seq[rows]
    moved = group[rows] != m.g1[member[rows]]
    first_key = moved if paid_buckets is None else (row_paid - paid_buckets[0]) // paid_buckets[1]
    order = np.lexsort((row_paid, number, first_key))
    rows, sign, row_paid = rows[order], sign[order], row_paid[order]
    number, moved = number[order], moved[order]
    table = pa.table(
        {
            "claim_id": padded_ids("R", number, CLAIM_ID_WIDTH),
            "claim_line_number": pa.array(np.ones(len(rows), dtype=np.int64)),
            "member_id": m.ids.take(pa.array(member[rows])),
            "dispensing_date": date_array(day[rows]),
            "paid_date": date_array(row_paid),
            "paid_amount": money_array(sign * paid_cents[rows]),
            "allowed_amount": money_array(sign * allowed[rows]),
            "prescribing_provider_npi": world.prov_npi.take(pa.array(prescriber[rows])),
            "ndc_code": _NDC.take(pa.array(ndc[rows])),
        },
        schema=RX_SCHEMA,
    )
    g = group[rows]
    cost = np.bincount(
        g * 2 + year[rows], weights=(sign * allowed[rows]).astype(np.float64), minlength=2 * world.n_groups
    )
    return Fills(
        table=table,
        n_main=int((~moved).sum()),
        group=g,
        gidx=m.gidx[member[rows]],
        paid_day=row_paid,
        cost=np.rint(cost).astype(np.int64).reshape(world.n_groups, 2),
    )

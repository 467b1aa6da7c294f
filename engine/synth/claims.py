"""Medical claim lines of one block of members: visits, codes, amounts, paid dates, reversals.

Rules chosen here, per member and year of service (lookback and performance year), all scaled
by the share of the year the member is enrolled:

* **Claims** by kind, Poisson with these means at full enrollment: primary-care visits 2.6 x
  age factor (1.5, 0.8, 0.95, 1.15, 1.4) x ``(0.5 + 0.5 u)``; specialist visits 1.9, ancillary
  services (labs, imaging, therapy, anesthesia, emergency physicians) 4.8, facility outpatient
  claims 0.5 and inpatient stays 0.065, each x utilisation ``u = exp(0.65 h - 0.21)`` x age factor
  (0.75, 0.6, 0.95, 1.45, 1.9); plus a catastrophic stay with probability
  ``0.0055 exp(0.9 h - 0.405)`` x age factor.  Service dates are uniform over the enrolled days,
  so every claim falls inside an enrollment span (the claim's employer group is that span's).
* **Clinicians**: a primary-care visit goes to the member's own primary-care clinician (85%),
  a colleague on the same TIN (10%) or any clinician of the member's age pool (5%); a
  specialist visit stays inside the member's entity half of the time; facility claims likewise.
* **Lines per claim**: primary care 1 + Poisson(0.8), specialists 1 + Poisson(0.6), ancillary
  1 + Poisson(0.25), outpatient facility 2 + Poisson(1.6), inpatient 3 + Poisson(3) (capped).
  The first line of a visit is its E&M code; see :mod:`settle.engine.synth.codes`.
* **Allowed amounts**: fee x 1.2 x lognormal(0, 0.22) x group fee factor x entity efficiency factor x
  medical trend (4.5% from the lookback to the performance year) x ``exp(0.15 h)`` on facility
  claims.  An inpatient stay's total is lognormal (median $15,000, sigma 0.7); a catastrophic
  stay's is Pareto (minimum $60,000, shape 1.7, at most $2.5M); the total is split over its lines.
  Every amount is rounded to whole cents once, here; at least $1.00.
* **Paid amounts**: office E&M first lines pay allowed minus a $25 (primary care) or $45
  (specialist) copay; other lines pay 100/90/80/0% (professional) or 100/90/80% (facility) of
  allowed, in integer cents.
* **Paid dates**: service end + 5 + Gamma(2, 9) days (professional) or 10 + Gamma(2, 16) days
  (facility), one date per claim.  Lines paid after the book's extract date (performance year end
  + 3 months) are not in the book (claims incurred but not yet paid).
* **Reversals**: 2.1% of lines are reversed by a later line of the same claim id and line number
  with negated amounts (paid 10 + Gamma(2, 15) days after the original); a quarter of those are
  replaced by a third line (paid 1-7 days after the reversal, allowed x U(0.6, 1.1)).  Reversals
  and replacements paid after the extract date are not in the book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from settle.engine.synth.arrow import (
    F64,
    I64,
    GroupedDraw,
    constant,
    date_array,
    money_array,
    padded_ids,
    take_strings,
)
from settle.engine.synth.codes import (
    ANCILLARY_POS,
    CODE_FEES,
    CODE_GROUPS,
    CODE_LIST,
    G_ANC,
    G_IP,
    G_OP_ANC,
    G_OP_HEAD,
    G_PCP_ANC,
    G_SPEC_EM,
    G_SPEC_PROC,
    N_CODE_GROUPS,
    PC_SPECIALTIES,
    SPECIALIST_SPECIALTIES,
)
from settle.engine.synth.members import Members
from settle.engine.synth.world import World

__all__ = ["CLAIM_ID_WIDTH", "MEDICAL_SCHEMA", "TREND", "ClaimLines", "medical_lines", "service_days"]

PCP_VISIT, SPEC_VISIT, ANCILLARY, OUTPATIENT, INPATIENT, CATASTROPHIC = range(6)
_RATE = np.array([2.6, 1.9, 4.8, 0.5, 0.065])
_CAP = np.array([60, 60, 120, 30, 10])
_AGE_UTIL = np.array([0.75, 0.6, 0.95, 1.45, 1.9])
_PCP_AGE = np.array([1.5, 0.8, 0.95, 1.15, 1.4])
_EXTRA_LINES = np.array([0.8, 0.6, 0.25, 1.6, 3.0, 3.0])
_BASE_LINES = np.array([1, 1, 1, 2, 3, 3])
_LINE_CAP = np.array([6, 5, 4, 10, 15, 15])
TREND = np.array([1.0, 1.045])
CLAIM_ID_WIDTH = 12
_ANC_BASE = len(PC_SPECIALTIES) + len(SPECIALIST_SPECIALTIES)

_CODE_DRAW = GroupedDraw.build([g for g, _ in CODE_GROUPS], [w for _, w in CODE_GROUPS], N_CODE_GROUPS)
_FEES = 1.2 * np.array(CODE_FEES)  # the table's fees are typical; this book's network pays a little more
_CODES = pa.array(list(CODE_LIST))
_EMPTY_CODE = np.array([c == "" for c in CODE_LIST])
_POS = pa.array(["11", "02", "10", *ANCILLARY_POS])
_TYPES = pa.array(["professional", "institutional"])
_MONEY = pa.decimal128(12, 2)
MEDICAL_SCHEMA = pa.schema(
    [
        ("claim_id", pa.string()),
        ("claim_line_number", pa.int64()),
        ("claim_type", pa.string()),
        ("member_id", pa.string()),
        ("claim_start_date", pa.date32()),
        ("claim_end_date", pa.date32()),
        ("paid_date", pa.date32()),
        ("paid_amount", _MONEY),
        ("allowed_amount", _MONEY),
        ("rendering_npi", pa.string()),
        ("rendering_tin", pa.string()),
        ("billing_tin", pa.string()),
        ("hcpcs_code", pa.string()),
        ("place_of_service_code", pa.string()),
        ("data_source", pa.string()),
    ]
)


@dataclass(frozen=True)
class ClaimLines:
    """A block's claim lines (source column names) with, per row, its group and member index.

    Rows are ordered by (moved, claim id, line number, paid date): the first ``n_main`` rows
    belong to the member's first employer group, the rest (``moved``) to the group the member
    moved to.  (For the feed layout, by paid-date bucket first; ``n_main`` is then only a count.)
    """

    table: pa.Table
    n_main: int
    group: I64
    gidx: I64
    paid_day: I64
    cost: I64  # allowed cents netted, per (group, service year): shape (groups, 2)
    reversals: int
    replacements: int


def service_days(world: World, m: Members, member: I64, year: I64, u: F64) -> tuple[I64, I64]:
    """A service day uniform over the member's enrolled days of the year, and its span's group."""
    d1, d2 = m.days1[member, year], m.days2[member, year]
    offset = (u * (d1 + d2)).astype(np.int64)
    ys = world.years[year, 0]
    first = np.maximum(m.s1[member], ys) + offset
    second = np.maximum(m.s2[member], ys) + offset - d1
    in_first = offset < d1
    return np.where(in_first, first, second), np.where(in_first, m.g1[member], m.g2[member])


def _claim_counts(m: Members, rng: np.random.Generator, days_in_year: F64) -> I64:
    """Claims per (member, year, kind): shape (n, 2, 6)."""
    exposure = (m.days1 + m.days2) / days_in_year
    util = np.exp(0.65 * m.h - 0.21125)
    age = _AGE_UTIL[m.age_class][:, None]
    lam = np.empty((m.n, 2, 5))
    lam[:, :, PCP_VISIT] = _RATE[0] * exposure * _PCP_AGE[m.age_class][:, None] * (0.5 + 0.5 * util)
    for kind in (SPEC_VISIT, ANCILLARY, OUTPATIENT, INPATIENT):
        lam[:, :, kind] = _RATE[kind] * exposure * util * age
    counts = np.empty((m.n, 2, 6), dtype=np.int64)
    counts[:, :, :5] = np.minimum(rng.poisson(lam), _CAP)
    p_cat = np.minimum(0.5, 0.0055 * exposure * np.exp(0.9 * m.h - 0.405) * age)
    counts[:, :, CATASTROPHIC] = rng.random((m.n, 2)) < p_cat
    return counts


def _providers(world: World, m: Members, member: I64, year: I64, kind: I64, rng: np.random.Generator) -> I64:
    n = len(member)
    u1, u2 = rng.random(n), rng.random(n)
    own = m.pcp[member, year]
    entity = m.entity[member, year]
    colleague = world.pcp_by_tin.draw(world.prov_tin_index[own], u2)
    anyone = world.pcp_by_pool.draw(m.pool[member], u2)
    pcp = np.where(u1 < 0.85, own, np.where(u1 < 0.95, colleague, anyone))
    in_entity = (u1 < 0.5) & (entity >= 0)
    spec = np.where(in_entity, world.spec_by_entity.draw(np.maximum(entity, 0), u2), -1)
    spec = np.where(spec < 0, world.spec_all.draw(np.zeros(n), u2), spec)
    fac = np.where(in_entity, world.fac_by_entity.draw(np.maximum(entity, 0), u2), -1)
    fac = np.where(fac < 0, world.fac_all.draw(np.zeros(n), u2), fac)
    anc = world.anc_all.draw(np.zeros(n), u2)
    return np.select([kind == PCP_VISIT, kind == SPEC_VISIT, kind == ANCILLARY], [pcp, spec, anc], fac)


def medical_lines(
    world: World, m: Members, rng: np.random.Generator, *, paid_buckets: tuple[int, int] | None = None
) -> ClaimLines:
    """All medical claim lines of the block's members, for the lookback and performance years.

    With ``paid_buckets = (first day, days per bucket)`` the rows are ordered by paid-date bucket
    first instead of by ``moved`` (the feed layout spills them by that bucket).
    """
    days_in_year = (world.years[:, 1] - world.years[:, 0] + 1).astype(np.float64)
    counts = _claim_counts(m, rng, days_in_year)
    cell = np.repeat(np.arange(counts.size), counts.reshape(-1))
    member, year, kind = cell // 12, (cell // 6) % 2, cell % 6
    n_claims = len(cell)
    day, group = service_days(world, m, member, year, rng.random(n_claims))
    stay = np.where(kind == CATASTROPHIC, 3 + rng.poisson(6.0, n_claims), 1 + rng.poisson(3.0, n_claims))
    end = np.where(kind >= INPATIENT, day + stay - 1, day)
    provider = _providers(world, m, member, year, kind, rng)
    institutional = kind >= OUTPATIENT
    entity = m.entity[member, year]
    entity_factor = np.where(entity >= 0, world.entity_factor[np.maximum(entity, 0), year], 1.0)
    severity = np.where(institutional, np.exp(0.15 * m.h[member, year]), 1.0)
    factor = world.group_fee[group] * entity_factor * TREND[year] * severity
    stay_total = np.where(
        kind == CATASTROPHIC,
        np.minimum(2.5e6, 60000.0 * (1.0 - rng.random(n_claims)) ** (-1 / 1.7)),
        rng.lognormal(np.log(15000.0), 0.7, n_claims),
    )
    lag = np.where(institutional, 10 + rng.gamma(2.0, 16.0, n_claims), 5 + rng.gamma(2.0, 9.0, n_claims))
    paid = end + np.rint(lag).astype(np.int64)
    share = np.where(
        institutional,
        rng.choice([1000, 900, 800], n_claims, p=[0.3, 0.2, 0.5]),
        rng.choice([1000, 900, 800, 0], n_claims, p=[0.45, 0.1, 0.35, 0.1]),
    )
    u_pos = rng.random(n_claims)
    office = np.where(u_pos < 0.88, 0, np.where(u_pos < 0.94, 1, 2))
    anc_index = np.maximum(world.prov_specialty[provider] - _ANC_BASE, 0)
    pos = np.where(kind == ANCILLARY, 3 + anc_index, office)

    # Claim ids: the member's claims numbered in service-date order.
    order = np.lexsort((kind, day, member))
    seq = np.empty(n_claims, dtype=np.int64)
    first_of_member = np.r_[0, np.flatnonzero(np.diff(member[order])) + 1]
    run_start = np.repeat(first_of_member, np.diff(np.r_[first_of_member, n_claims]))
    seq[order] = np.arange(n_claims) - run_start
    claim_number = m.gidx[member] * 1000 + seq

    n_lines = _BASE_LINES[kind] + np.minimum(rng.poisson(_EXTRA_LINES[kind]), _LINE_CAP[kind])
    claim = np.repeat(np.arange(n_claims), n_lines)
    starts = np.r_[0, np.cumsum(n_lines)[:-1]]
    line_no = np.arange(len(claim)) - np.repeat(starts, n_lines) + 1
    lk = kind[claim]
    head = line_no == 1
    code_group = np.select(
        [lk == PCP_VISIT, lk == SPEC_VISIT, lk == ANCILLARY, lk == OUTPATIENT],
        [
            np.where(head, m.age_band[member[claim]], G_PCP_ANC),
            np.where(head, G_SPEC_EM, G_SPEC_PROC),
            G_ANC + anc_index[claim],
            np.where(head, G_OP_HEAD, G_OP_ANC),
        ],
        G_IP,
    )
    code = _CODE_DRAW.draw(code_group, rng.random(len(claim)))
    jitter = rng.lognormal(0.0, 0.22, len(claim))
    weight = rng.exponential(1.0, len(claim))
    stay_share = weight / np.add.reduceat(weight, starts)[claim] if len(claim) else weight
    dollars = np.where(lk >= INPATIENT, stay_total[claim] * stay_share, _FEES[code] * jitter) * factor[claim]
    allowed = np.maximum(100, np.rint(dollars * 100.0)).astype(np.int64)
    copay = np.where(head & (lk == PCP_VISIT), 2500, np.where(head & (lk == SPEC_VISIT), 4500, -1))
    paid_cents = np.where(copay >= 0, np.maximum(0, allowed - copay), allowed * share[claim] // 1000)
    keep = paid[claim] <= world.extract_day
    lines = np.flatnonzero(keep)
    return _assemble(
        world,
        m,
        rng,
        member,
        claim_number,
        institutional,
        day,
        end,
        paid,
        provider,
        pos,
        group,
        year,
        lines,
        claim,
        line_no,
        code,
        allowed,
        paid_cents,
        paid_buckets,
    )


def _assemble(
    world: World,
    m: Members,
    rng: np.random.Generator,
    member: I64,
    claim_number: I64,
    institutional: np.ndarray,
    day: I64,
    end: I64,
    paid: I64,
    provider: I64,
    pos: I64,
    group: I64,
    year: I64,
    lines: I64,
    claim: I64,
    line_no: I64,
    code: I64,
    allowed: I64,
    paid_cents: I64,
    paid_buckets: tuple[int, int] | None,
) -> ClaimLines:
    """Add reversals and replacements, order the rows and build the Arrow table."""
    c = claim[lines]
    n = len(lines)
    reversed_ = rng.random(n) < 0.021
    rev_paid = paid[c] + 10 + np.rint(rng.gamma(2.0, 15.0, n)).astype(np.int64)
    replaced = rng.random(n) < 0.25
    rep_paid = rev_paid + rng.integers(1, 8, n)
    rep_factor = rng.uniform(0.6, 1.1, n)
    rev = np.flatnonzero(reversed_ & (rev_paid <= world.extract_day))
    rep = rev[(replaced[rev]) & (rep_paid[rev] <= world.extract_day)]
    rep_allowed = np.maximum(100, np.rint(allowed[lines[rep]] * rep_factor[rep])).astype(np.int64)
    rep_paid_cents = paid_cents[lines[rep]] * rep_allowed // allowed[lines[rep]]

    row_line = np.concatenate([lines, lines[rev], lines[rep]])
    row_paid = np.concatenate([paid[c], rev_paid[rev], rep_paid[rep]])
    row_allowed = np.concatenate([allowed[lines], -allowed[lines[rev]], rep_allowed])
    row_paid_cents = np.concatenate([paid_cents[lines], -paid_cents[lines[rev]], rep_paid_cents])
    rc = claim[row_line]
    moved = group[rc] != m.g1[member[rc]]
    first_key = moved if paid_buckets is None else (row_paid - paid_buckets[0]) // paid_buckets[1]
    order = np.lexsort((row_paid, line_no[row_line], claim_number[rc], first_key))
    row_line, row_paid, rc = row_line[order], row_paid[order], rc[order]
    row_allowed, row_paid_cents = row_allowed[order], row_paid_cents[order]
    prov = provider[rc]
    pos_null = institutional[rc]
    tins = world.prov_tin.take(pa.array(prov))
    table = pa.table(
        {
            "claim_id": padded_ids("C", claim_number[rc], CLAIM_ID_WIDTH),
            "claim_line_number": pa.array(line_no[row_line]),
            "claim_type": _TYPES.take(pa.array(institutional[rc].astype(np.int64))),
            "member_id": m.ids.take(pa.array(member[rc])),
            "claim_start_date": date_array(day[rc]),
            "claim_end_date": date_array(end[rc]),
            "paid_date": date_array(row_paid),
            "paid_amount": money_array(row_paid_cents),
            "allowed_amount": money_array(row_allowed),
            "rendering_npi": world.prov_npi.take(pa.array(prov)),
            "rendering_tin": tins,
            "billing_tin": tins,
            "hcpcs_code": take_strings(_CODES, code[row_line], null=_EMPTY_CODE[code[row_line]]),
            "place_of_service_code": take_strings(_POS, pos[rc], null=pos_null),
            "data_source": constant("synthetic", len(rc)),
        },
        schema=MEDICAL_SCHEMA,
    )
    g = group[rc]
    cost = np.bincount(g * 2 + year[rc], weights=row_allowed.astype(np.float64), minlength=2 * world.n_groups)
    return ClaimLines(
        table=table,
        n_main=int((~moved).sum()),
        group=g,
        gidx=m.gidx[member[rc]],
        paid_day=row_paid,
        cost=np.rint(cost).astype(np.int64).reshape(world.n_groups, 2),
        reversals=len(rev),
        replacements=len(rep),
    )

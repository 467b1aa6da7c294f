"""Members of one block of the synthetic book: who they are, when they are enrolled, their health.

Rules chosen here (the lookback year is the year before the performance year):

* **Age** (at 1 January of the lookback year): 0-17 24%, 18-26 10%, 27-44 28%, 45-64 34%,
  65-74 4%; 51% female.
* **Enrollment**: 78% enrolled since before the lookback year, the rest join on the first of a
  month between February of the lookback year and December of the performance year; 12% leave
  at the end of a month up to the end of the performance year, the others stay enrolled until
  31 December of the year after it.  Of members enrolled at least two months of the two years,
  4% change employer on the first of a month (two spans, two groups, no gap) and 1% of those
  enrolled four months or more have a one- to two-month gap with the same employer (two spans).
  A member never has overlapping spans.
* **Health**: a latent score per year, ``h_lookback ~ N(0, 1)`` and ``h_performance = 0.8 h_lookback
  + 0.6 N(0, 1)``; it drives utilisation, cost and the risk score (so risk is correlated with cost).
* **Risk score** per enrolled member-year (period label = the year): age factor (0.55, 0.65, 0.95,
  1.55, 2.10 for 0-17, 18-34, 35-49, 50-64, 65+) x ``exp(0.5 h - 0.125)`` x lognormal noise
  (sigma 0.15, mean one), rounded to four decimals.
* **Primary-care relationship**: each member has a primary-care clinician per year, drawn from
  the clinicians serving the member's age pool (children, adults, 65+) weighted by panel size;
  8% change clinician between the lookback and the performance year.  The member's entity for
  the year is that clinician's entity (or none).
* **Voluntary alignment**: 3% of members enrolled in the performance year designate a
  clinician (85% their own primary-care clinician), signed between 1 July two years before the
  performance year and 31 December of the lookback year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from settle.engine.synth.arrow import F64, I64, Bools, constant, date_array, padded_ids, take_strings
from settle.engine.synth.world import World

__all__ = [
    "ALIGNMENT_SCHEMA",
    "ELIGIBILITY_SCHEMA",
    "RISK_SCHEMA",
    "Members",
    "alignment_table",
    "eligibility_table",
    "make_members",
    "risk_table",
]

_AGE_BANDS = np.array([[0, 18], [18, 27], [27, 45], [45, 65], [65, 75]])
_AGE_SHARE = np.array([0.24, 0.10, 0.28, 0.34, 0.04])
_AGE_RISK = np.array([0.55, 0.65, 0.95, 1.55, 2.10])
MEMBER_ID_WIDTH = 9

ELIGIBILITY_SCHEMA = pa.schema(
    [
        ("member_id", pa.string()),
        ("group_id", pa.string()),
        ("group_name", pa.string()),
        ("enrollment_start_date", pa.date32()),
        ("enrollment_end_date", pa.date32()),
        ("birth_date", pa.date32()),
        ("gender", pa.string()),
        ("payer", pa.string()),
        ("payer_type", pa.string()),
        ("plan", pa.string()),
        ("data_source", pa.string()),
    ]
)
RISK_SCHEMA = pa.schema([("member_id", pa.string()), ("period", pa.string()), ("risk_score", pa.float64())])
ALIGNMENT_SCHEMA = pa.schema([("member_id", pa.string()), ("npi", pa.string()), ("signed_date", pa.date32())])


@dataclass(frozen=True)
class Members:
    """One block of members; per-year arrays have shape (n, 2): lookback, performance."""

    gidx: I64
    ids: pa.Array
    age: I64
    age_class: I64  # 0: <18, 1: 18-34, 2: 35-49, 3: 50-64, 4: 65+
    age_band: I64  # preventive-code band 0..6: <1, 1-4, 5-11, 12-17, 18-39, 40-64, 65+
    pool: I64  # primary-care pool: 0 children, 1 adults, 2 65+
    birth: I64
    female: Bools
    s1: I64
    e1: I64
    g1: I64
    s2: I64  # second span (employer change or re-enrollment); s2 > e2 when absent
    e2: I64
    g2: I64
    h: F64
    pcp: I64
    entity: I64
    days1: I64  # days of span 1 within each year
    days2: I64

    @property
    def n(self) -> int:
        return len(self.gidx)

    @property
    def has2(self) -> Bools:
        return self.s2 <= self.e2


def _overlap(start: I64, end: I64, lo: int, hi: int) -> I64:
    days: I64 = np.maximum(0, np.minimum(end, hi) - np.maximum(start, lo) + 1)
    return days


def make_members(world: World, rng: np.random.Generator, first: int, n: int) -> Members:
    """Members ``first .. first + n - 1`` of the book (global indices), drawn from ``rng``."""
    y = world.year
    gidx = np.arange(first, first + n, dtype=np.int64)
    band = _choice(rng, _AGE_SHARE, n)
    low, high = _AGE_BANDS[band, 0], _AGE_BANDS[band, 1]
    age = low + (rng.random(n) * (high - low)).astype(np.int64)
    lb_start = int(world.years[0, 0])
    birth = lb_start - np.rint((age + rng.random(n)) * 365.25).astype(np.int64) - 1
    age_class = np.digitize(age, [18, 35, 50, 65])
    age_band = np.digitize(age, [1, 5, 12, 18, 40, 65])
    pool = np.digitize(age, [18, 65])
    female = rng.random(n) < 0.51

    lb_m, py_last = (y - 1) * 12, y * 12 + 11
    continuing = rng.random(n) < 0.78
    start_m = np.where(continuing, lb_m - rng.integers(1, 96, n), lb_m + rng.integers(1, 24, n))
    leaves = rng.random(n) < 0.12
    lo = np.maximum(start_m, lb_m)
    end_m = np.where(leaves, lo + (rng.random(n) * (py_last - lo + 1)).astype(np.int64), py_last + 12)
    start = world.month_day(start_m)
    end = world.month_day(end_m + 1) - 1
    hi = np.minimum(end_m, py_last)
    g1 = world.group_of(gidx)

    u_switch, u_month, u_gap = rng.random(n), rng.random(n), rng.integers(1, 3, n)
    g_new = world.group_draw.draw(np.zeros(n), rng.random(n))
    switch = (u_switch < 0.04) & (hi - lo >= 1) & (world.n_groups > 1)
    gap = (u_switch >= 0.04) & (u_switch < 0.04 + 0.01 * 0.96) & (hi - lo >= 3)
    switch_m = lo + 1 + (u_month * (hi - lo)).astype(np.int64)
    gap_a = lo + 1 + (u_month * np.maximum(hi - lo - 2, 1)).astype(np.int64)
    gap_b = np.minimum(gap_a + u_gap, hi)
    e1 = np.where(switch, world.month_day(switch_m) - 1, np.where(gap, world.month_day(gap_a) - 1, end))
    s2 = np.where(switch, world.month_day(switch_m), np.where(gap, world.month_day(gap_b), 0))
    e2 = np.where(switch | gap, end, -1)
    g_new = np.where(g_new == g1, (g1 + 1) % world.n_groups, g_new)
    g2 = np.where(switch, g_new, g1)

    h = np.empty((n, 2))
    h[:, 0] = rng.standard_normal(n)
    h[:, 1] = 0.8 * h[:, 0] + 0.6 * rng.standard_normal(n)
    pcp = np.empty((n, 2), dtype=np.int64)
    pcp[:, 0] = world.pcp_by_pool.draw(pool, rng.random(n))
    redraw = world.pcp_by_pool.draw(pool, rng.random(n))
    pcp[:, 1] = np.where(rng.random(n) < 0.08, redraw, pcp[:, 0])
    days1 = np.empty((n, 2), dtype=np.int64)
    days2 = np.empty((n, 2), dtype=np.int64)
    for k in range(2):
        ys, ye = int(world.years[k, 0]), int(world.years[k, 1])
        days1[:, k] = _overlap(start, e1, ys, ye)
        days2[:, k] = _overlap(s2, e2, ys, ye)
    return Members(
        gidx=gidx,
        ids=padded_ids("M", gidx + 1, MEMBER_ID_WIDTH),
        age=age,
        age_class=age_class,
        age_band=age_band,
        pool=pool,
        birth=birth,
        female=female,
        s1=start,
        e1=e1,
        g1=g1,
        s2=s2,
        e2=e2,
        g2=g2,
        h=h,
        pcp=pcp,
        entity=world.prov_entity[pcp],
        days1=days1,
        days2=days2,
    )


def _choice(rng: np.random.Generator, weights: F64, n: int) -> I64:
    """``n`` draws of an index with the given weights."""
    cum = np.cumsum(weights / weights.sum())
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int64)


def eligibility_table(world: World, m: Members) -> tuple[pa.Table, I64, I64]:
    """One row per enrollment span (member order); also each row's group and (block) member index."""
    second = np.flatnonzero(m.has2)
    member = np.concatenate([np.arange(m.n), second])
    which = np.concatenate([np.zeros(m.n, dtype=np.int64), np.ones(len(second), dtype=np.int64)])
    order = np.lexsort((which, member))
    member, which = member[order], which[order]
    start = np.where(which == 0, m.s1[member], m.s2[member])
    end = np.where(which == 0, m.e1[member], m.e2[member])
    group = np.where(which == 0, m.g1[member], m.g2[member])
    n = len(member)
    table = pa.table(
        {
            "member_id": m.ids.take(pa.array(member)),
            "group_id": world.group_ids.take(pa.array(group)),
            "group_name": world.group_names.take(pa.array(group)),
            "enrollment_start_date": date_array(start),
            "enrollment_end_date": date_array(end),
            "birth_date": date_array(m.birth[member]),
            "gender": take_strings(pa.array(["male", "female"]), m.female[member].astype(np.int64)),
            "payer": constant("Synthetic Health Plan", n),
            "payer_type": constant("commercial", n),
            "plan": world.group_plans.take(pa.array(group)),
            "data_source": constant("synthetic", n),
        },
        schema=ELIGIBILITY_SCHEMA,
    )
    return table, group, member


def risk_table(world: World, m: Members, rng: np.random.Generator) -> pa.Table:
    """One risk score per member and enrolled year, correlated with the year's health score."""
    noise = rng.lognormal(-0.01125, 0.15, (m.n, 2))
    score = _AGE_RISK[m.age_class][:, None] * np.exp(0.5 * m.h - 0.125) * noise
    score = np.maximum(0.05, np.round(score, 4))
    enrolled = (m.days1 + m.days2) > 0
    member, year = np.nonzero(enrolled)  # row-major: member order, lookback first
    labels = pa.array([str(world.year - 1), str(world.year)])
    return pa.table(
        {
            "member_id": m.ids.take(pa.array(member)),
            "period": labels.take(pa.array(year)),
            "risk_score": pa.array(score[member, year]),
        },
        schema=RISK_SCHEMA,
    )


def alignment_table(world: World, m: Members, rng: np.random.Generator) -> pa.Table:
    """Voluntary alignment: a designated clinician for a few members enrolled in the performance year."""
    chosen = (rng.random(m.n) < 0.03) & ((m.days1[:, 1] + m.days2[:, 1]) > 0)
    other = world.pcp_by_pool.draw(m.pool, rng.random(m.n))
    npi = np.where(rng.random(m.n) < 0.85, m.pcp[:, 1], other)
    lo = world.month_day(np.array([(world.year - 2) * 12 + 6]))[0]
    hi = int(world.years[0, 1])
    signed = lo + (rng.random(m.n) * (hi - lo + 1)).astype(np.int64)
    rows = np.flatnonzero(chosen)
    return pa.table(
        {
            "member_id": m.ids.take(pa.array(rows)),
            "npi": world.prov_npi.take(pa.array(npi[rows])),
            "signed_date": date_array(signed[rows]),
        },
        schema=ALIGNMENT_SCHEMA,
    )

"""Attribution: each member to at most one contract entity per contract (pipeline step 3).

The algorithm, steps and fallbacks in the order they apply:

1. **Population.**  Members with at least one enrolled day in the period in a group in the
   contract's scope.  Every one of them gets exactly one output row; nobody else is looked at.
2. **Window.**  ``prospective``: the ``lookback_months`` calendar months before the period
   (``add_months(start, -N)`` .. ``start - 1 day``); ``retrospective``: the period itself.
   A line counts if its service date (``claim_line_start_date``, else ``claim_start_date``)
   is in the window and its paid date is no later than the window's end + ``runout_months``.
3. **Qualifying lines.**  Only lines whose ``hcpcs_code`` is on the primary-care list (the
   shipped list or the contract's override) count, in both steps and for both methods.
4. **Netting.**  Lines are netted per (``claim_id``, ``claim_line_number``) by summing the
   allowed amount; a line that has a negative row and nets to <= 0 is a reversed service and
   does not count (a $0 line that was never reversed does count as a visit).  The netted
   line's member, date, NPI, TIN and code are the smallest among its non-negative rows (all
   rows agree in well-formed data; the rule only makes the result independent of row order).
5. **Who billed.**  NPI = ``rendering_npi``, else ``billing_npi``; TIN = ``rendering_tin``,
   else ``billing_tin``, else the smallest TIN the roster lists for the ``billing_npi``.
6. **Which entity.**  A line belongs to an in-scope entity whose roster covers it on the
   service date (``effective_date <= date <= termination_date``, null termination = open):
   an NPI row matching NPI and TIN first, else a whole-TIN row (null ``npi``) matching the
   TIN; among several, the smallest ``entity_id``.  Rows of entities outside the scope do
   not match.  A line matching no entity competes for its non-participating TIN
   (``tin:<TIN>``), else its NPI (``npi:<NPI>``), else ``unknown``: each competes on its own.
7. **Specialty.**  The matched roster row's ``specialty_code`` (if the chosen entity has
   several rows covering the line, the smallest code among them, nulls last); else the NPI's specialty
   anywhere in the roster (latest ``effective_date``, then the smallest code); else unknown.
8. **Steps.**  Step 1 lines: clinicians with a primary-care specialty *or an unknown one*
   (a clinician we cannot classify is not allowed to hand the member to a specialist).
   Step 2 lines: specialties on the specialist list.  Other specialties never count.  A
   member with any step-1 line is decided in step 1 on step-1 lines only; else in step 2.
9. **Plurality.**  Per member x competitor: ``plurality_primary_care`` sums the netted
   allowed cents; ``plurality_visits`` counts distinct service dates.  The largest wins; ties
   go to the most recent qualifying service date, then to a non-participant over an entity
   (an entity must *beat* each non-participating TIN), then to the smallest competitor id.
   A member won by a non-participant is unattributed (``entity_id`` null).
10. **Voluntary alignment** (if ``use_voluntary_alignment`` and the table is given) overrides
    claims: the member's latest designation signed on or before the window's last day (ties:
    smallest NPI) counts if that NPI has an NPI row in an in-scope entity's roster covering
    that day (smallest ``entity_id`` if several).  Whole-TIN rows cannot cover a designation:
    the designation names no TIN.

Output, one row per population member (:data:`ATTRIBUTION_COLUMNS` order): ``member_id``,
``entity_id`` (null = unattributed), ``step`` (``voluntary`` | ``step1`` | ``step2``; null
when no qualifying line and no designation), ``winner`` / ``winner_is_entity``,
``winner_allowed_cents``, ``winner_visits``, ``winner_last_service_date``, ``runner_up``,
``runner_up_allowed_cents``, ``runner_up_visits``, ``designated_npi``.  For a voluntary
alignment the winner is the designated entity and the claim figures are null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import polars as pl

from settle.engine.job import Period
from settle.engine.kernels.codes import code_lists
from settle.engine.kernels.frames import Frame, add_months, column_names, lazy, service_date
from settle.engine.kernels.rules import AttributionMethod, AttributionRules, AttributionWindow, Scope
from settle.engine.keys import key_hash, repeated_values

__all__ = [
    "ATTRIBUTION_COLUMNS",
    "attribute",
    "attribution_population",
    "attribution_window",
    "entity_matches",
    "roster_lines",
    "with_tin_from_billing_npi",
]

ATTRIBUTION_COLUMNS = (
    "member_id",
    "entity_id",
    "step",
    "winner",
    "winner_is_entity",
    "winner_allowed_cents",
    "winner_visits",
    "winner_last_service_date",
    "runner_up",
    "runner_up_allowed_cents",
    "runner_up_visits",
    "designated_npi",
)

_LINE = ["claim_id", "claim_line_number"]
_NULL_STR = pl.lit(None, dtype=pl.String)
# Polars 2.1's streaming engine panics ("assertion failed: i < self.len()", in its string
# views) on some shards in this kernel's string expressions (``pl.format`` of the step, the
# voluntary-alignment join): seen on the 5M benchmark book in process, and on Ray before the
# cluster pinned its map step to the in-memory engine.  The in-memory engine computes the same
# result, and faster here (a 1M shard: 0.69-0.72 s against 0.88-0.90 s), so the kernel asks
# for it whoever calls it.
_ENGINE: Literal["in-memory"] = "in-memory"


def attribution_window(period: Period, rules: AttributionRules) -> tuple[dt.date, dt.date]:
    """First and last service day (inclusive) of the claims that attribute."""
    if rules.window is AttributionWindow.RETROSPECTIVE:
        return period.start, period.end
    return add_months(period.start, -rules.lookback_months), period.start - dt.timedelta(days=1)


def attribution_population(eligibility: Frame, period: Period, scope: Scope) -> pl.LazyFrame:
    """Distinct members with an enrolled day in the period in a group in scope."""
    lf = lazy(eligibility).filter(
        (pl.col("enrollment_start_date") <= period.end) & (pl.col("enrollment_end_date") >= period.start)
    )
    if scope.groups is not None:
        lf = lf.filter(pl.col("group_id").is_in(sorted(scope.groups)))
    return lf.select("member_id").unique()


def _opt(names: list[str], column: str) -> pl.Expr:
    return pl.col(column) if column in names else _NULL_STR


def roster_lines(roster: Frame) -> pl.LazyFrame:
    """The roster's columns the matching needs, with null npi/specialty/termination columns
    added where the table lacks them."""
    names = column_names(roster)
    return lazy(roster).select(
        pl.col("entity_id"),
        pl.col("tin"),
        _opt(names, "npi").alias("npi"),
        _opt(names, "specialty_code").alias("specialty_code"),
        pl.col("effective_date"),
        (pl.col("termination_date") if "termination_date" in names else pl.lit(None, dtype=pl.Date)).alias(
            "termination_date"
        ),
    )


def _covers(day: pl.Expr) -> pl.Expr:
    return (pl.col("effective_date") <= day) & (
        pl.col("termination_date").is_null() | (day <= pl.col("termination_date"))
    )


def _netted_lines(
    claims: Frame,
    population: pl.LazyFrame,
    window: tuple[dt.date, dt.date],
    paid_cutoff: dt.date,
    codes: frozenset[str],
) -> pl.LazyFrame:
    names = column_names(claims)
    raw = (
        lazy(claims)
        .select(
            *_LINE,
            "member_id",
            service_date(names).alias("service_date"),
            "paid_date",
            "allowed_cents",
            pl.coalesce(_opt(names, "rendering_npi"), _opt(names, "billing_npi")).alias("npi"),
            pl.coalesce(_opt(names, "rendering_tin"), _opt(names, "billing_tin")).alias("tin"),
            _opt(names, "billing_npi").alias("billing_npi"),
            _opt(names, "hcpcs_code").alias("hcpcs_code"),
        )
        .filter(
            pl.col("service_date").is_between(window[0], window[1])
            & (pl.col("paid_date") <= paid_cutoff)
            & pl.col("hcpcs_code").is_in(sorted(codes))
        )
        .join(population, on="member_id", how="semi")
    )
    original = pl.col("allowed_cents") >= 0
    attrs = ("member_id", "service_date", "npi", "tin", "billing_npi")
    columns = [*_LINE, "allowed_cents", *attrs]
    rows = raw.collect(engine=_ENGINE)
    # Most lines have one row: they need no grouping (a lone negative row nets to < 0 and is
    # dropped, as the grouped rule would; a lone row of zero or more is kept with its own
    # figures either way).  Only keys whose hash repeats are grouped: that is every key with
    # several rows, and a lone row that shares a hash with another key comes out the same.
    hashes = rows.select(key_hash(_LINE)).to_series()
    repeated = hashes.is_in(repeated_values(hashes).implode())
    single = rows.filter(~repeated).lazy().filter(pl.col("allowed_cents") >= 0).select(columns)
    grouped = (
        rows.filter(repeated)
        .lazy()
        .group_by(_LINE)
        .agg(
            pl.col("allowed_cents").sum(),
            (pl.col("allowed_cents") < 0).any().alias("_reversed"),
            *(pl.col(a).filter(original).min() for a in attrs),
        )
        .filter(~(pl.col("_reversed") & (pl.col("allowed_cents") <= 0)))
        .select(columns)
    )
    return pl.concat([single, grouped])


def with_tin_from_billing_npi(lines: pl.LazyFrame, roster: pl.LazyFrame) -> pl.LazyFrame:
    """Fill a line's missing TIN with the smallest TIN the roster lists for its billing NPI
    (step 5 of the module docstring); drops ``billing_npi``."""
    npi_tin = (
        roster.filter(pl.col("npi").is_not_null())
        .group_by("npi")
        .agg(pl.col("tin").min().alias("_npi_tin"))
        .rename({"npi": "billing_npi"})
    )
    return (
        lines.join(npi_tin, on="billing_npi", how="left")
        .with_columns(pl.coalesce(pl.col("tin"), pl.col("_npi_tin")).alias("tin"))
        .drop("_npi_tin", "billing_npi")
    )


def entity_matches(
    lines: pl.LazyFrame, scoped: pl.LazyFrame, key: Sequence[str] = tuple(_LINE)
) -> pl.LazyFrame:
    """Per line (``key``, default (``claim_id``, ``claim_line_number``), with ``service_date``,
    ``npi``, ``tin``): the in-scope entity whose roster covers it on the service date (step 6
    of the module docstring) and the matched row's specialty: one match per ``key`` value;
    lines matching no entity are absent.  Where each row is one line (netted lines), a row
    index is the cheapest key (hashing an integer, not a claim id); payment lines, several
    rows a claim line, keep the default.

    The choice per line is the first match in (precedence, ``entity_id``, ``specialty_code``
    nulls last) order: a sort and a first-per-key, cheaper than a sort inside a group-by
    (one 1.9 M-line shard's 150,000 matches: 15 against 20 ms, keyed by a row index)."""
    key = list(key)
    keep = [*key, "entity_id", "specialty_code", "_precedence"]
    by_npi = (
        lines.join(scoped.filter(pl.col("npi").is_not_null()), on=["tin", "npi"], how="inner")
        .filter(_covers(pl.col("service_date")))
        .with_columns(pl.lit(0, dtype=pl.Int8).alias("_precedence"))
        .select(keep)
    )
    by_tin = (
        lines.join(scoped.filter(pl.col("npi").is_null()).drop("npi"), on="tin", how="inner")
        .filter(_covers(pl.col("service_date")))
        .with_columns(pl.lit(1, dtype=pl.Int8).alias("_precedence"))
        .select(keep)
    )
    return (
        pl.concat([by_npi, by_tin])
        .sort([*key, "_precedence", "entity_id", "specialty_code"], nulls_last=True)
        .unique(key, keep="first", maintain_order=True)
        .select(*key, "entity_id", pl.col("specialty_code").alias("_matched_specialty"))
    )


def _npi_specialty(roster: pl.LazyFrame) -> pl.LazyFrame:
    return (
        roster.filter(pl.col("npi").is_not_null() & pl.col("specialty_code").is_not_null())
        .group_by("npi")
        .agg(
            pl.col("specialty_code")
            .sort_by([pl.col("effective_date"), pl.col("specialty_code")], descending=[True, False])
            .first()
            .alias("_npi_specialty")
        )
    )


def _competing_lines(
    lines: pl.LazyFrame, roster: pl.LazyFrame, scoped: pl.LazyFrame, rules: AttributionRules
) -> pl.LazyFrame:
    """Qualifying lines with their competitor, whether it is an entity, and their step."""
    lists = code_lists(rules)
    specialty = pl.coalesce(pl.col("_matched_specialty"), pl.col("_npi_specialty"))
    step = (
        pl.when(specialty.is_null() | specialty.is_in(sorted(lists.primary_care_specialties)))
        .then(1)
        .when(specialty.is_in(sorted(lists.specialist_specialties)))
        .then(2)
        .otherwise(None)
    )
    competitor = (
        pl.when(pl.col("entity_id").is_not_null())
        .then(pl.col("entity_id"))
        .when(pl.col("tin").is_not_null())
        .then(pl.lit("tin:") + pl.col("tin"))
        .when(pl.col("npi").is_not_null())
        .then(pl.lit("npi:") + pl.col("npi"))
        .otherwise(pl.lit("unknown"))
    )
    # Netted lines are one row per claim line: a row index names a line, and the matches
    # join back on it (an integer) rather than on the claim id and line number.
    indexed = lines.with_row_index("_line")
    return (
        indexed.join(entity_matches(indexed, scoped, key=("_line",)), on="_line", how="left")
        .join(_npi_specialty(roster), on="npi", how="left")
        .with_columns(
            step.alias("_step"),
            competitor.alias("competitor"),
            pl.col("entity_id").is_not_null().alias("is_entity"),
        )
        .filter(pl.col("_step").is_not_null())
        .filter(pl.col("_step") == pl.col("_step").min().over("member_id"))
        .select("member_id", "competitor", "is_entity", "_step", "service_date", "allowed_cents")
    )


def _ranked(competing: pl.LazyFrame, method: AttributionMethod) -> pl.LazyFrame:
    """Per member x competitor totals, ranked: ``_rank`` 0 is the winner, 1 the runner-up."""
    totals = competing.group_by("member_id", "competitor").agg(
        pl.col("is_entity").first(),
        pl.col("_step").first(),
        pl.col("allowed_cents").sum(),
        pl.col("service_date").n_unique().cast(pl.Int64).alias("visits"),
        pl.col("service_date").max().alias("last_date"),
    )
    measure = "allowed_cents" if method is AttributionMethod.PLURALITY_PRIMARY_CARE else "visits"
    # Sorted by member, each member's rows are one run: its first row is the winner, the next
    # one the runner-up (from neighbouring rows, where a window over the member hashed every
    # member id: a shard's 89,000 totals, 1 against 31 ms).
    first = pl.col("member_id").ne_missing(pl.col("member_id").shift(1))
    return (
        totals.sort(
            ["member_id", measure, "last_date", "is_entity", "competitor"],
            descending=[False, True, True, False, False],
        )
        .with_columns(first.alias("_first"))
        .filter(pl.col("_first") | pl.col("_first").shift(1, fill_value=False))
        .with_columns(pl.when(pl.col("_first")).then(0).otherwise(1).alias("_rank"))
        .drop("_first")
    )


def _voluntary(
    alignment: Frame, population: pl.LazyFrame, scoped: pl.LazyFrame, day: dt.date
) -> pl.LazyFrame:
    latest = (
        lazy(alignment)
        .join(population, on="member_id", how="semi")
        .filter(pl.col("signed_date") <= day)
        .group_by("member_id")
        .agg(
            pl.col("npi")
            .sort_by([pl.col("signed_date"), pl.col("npi")], descending=[True, False])
            .first()
            .alias("designated_npi")
        )
    )
    on_roster = (
        scoped.filter(pl.col("npi").is_not_null() & _covers(pl.lit(day)))
        .group_by("npi")
        .agg(pl.col("entity_id").min().alias("_va_entity"))
    )
    return latest.join(on_roster, left_on="designated_npi", right_on="npi", how="inner")


def attribute(
    medical_claim: Frame,
    roster: Frame,
    eligibility: Frame,
    period: Period,
    rules: AttributionRules | None = None,
    scope: Scope | None = None,
    voluntary_alignment: Frame | None = None,
) -> pl.DataFrame:
    """Attribute every member of the contract's population (see the module for the rules).

    Works on one shard of members: all the claims, spans and designations of a member must
    be in the same shard; the roster is given whole."""
    rules = rules or AttributionRules()
    scope = scope or Scope()
    window = attribution_window(period, rules)
    population = attribution_population(eligibility, period, scope).collect(engine=_ENGINE).lazy()
    full_roster = roster_lines(roster).collect(engine=_ENGINE).lazy()
    scoped = (
        full_roster
        if scope.entities is None
        else full_roster.filter(pl.col("entity_id").is_in(sorted(scope.entities)))
    )
    netted = _netted_lines(
        medical_claim,
        population,
        window,
        add_months(window[1], period.runout_months),
        code_lists(rules).primary_care_codes,
    )
    # Materialised once: the plan below reads the lines twice (matches and the lines themselves).
    lines = with_tin_from_billing_npi(netted, full_roster).collect(engine=_ENGINE).lazy()
    ranked = (
        _ranked(_competing_lines(lines, full_roster, scoped, rules), rules.method)
        .collect(engine=_ENGINE)
        .lazy()
    )
    winners = ranked.filter(pl.col("_rank") == 0).select(
        "member_id",
        pl.col("competitor").alias("winner"),
        pl.col("is_entity").alias("winner_is_entity"),
        pl.col("allowed_cents").alias("winner_allowed_cents"),
        pl.col("visits").alias("winner_visits"),
        pl.col("last_date").alias("winner_last_service_date"),
        pl.format("step{}", pl.col("_step")).alias("step"),
    )
    runners = ranked.filter(pl.col("_rank") == 1).select(
        "member_id",
        pl.col("competitor").alias("runner_up"),
        pl.col("allowed_cents").alias("runner_up_allowed_cents"),
        pl.col("visits").alias("runner_up_visits"),
    )
    result = (
        population.join(winners, on="member_id", how="left")
        .join(runners, on="member_id", how="left")
        .with_columns(
            pl.when(pl.col("winner_is_entity"))
            .then(pl.col("winner"))
            .otherwise(_NULL_STR)
            .alias("entity_id"),
            _NULL_STR.alias("designated_npi"),
        )
    )
    if rules.use_voluntary_alignment and voluntary_alignment is not None:
        result = _apply_voluntary(result, _voluntary(voluntary_alignment, population, scoped, window[1]))
    return result.select(ATTRIBUTION_COLUMNS).sort("member_id").collect(engine=_ENGINE)


def _apply_voluntary(result: pl.LazyFrame, voluntary: pl.LazyFrame) -> pl.LazyFrame:
    va = pl.col("_va_entity").is_not_null()

    def claims_only(column: str, dtype: pl.DataType) -> pl.Expr:
        return pl.when(va).then(pl.lit(None, dtype=dtype)).otherwise(pl.col(column)).alias(column)

    return (
        result.drop("designated_npi")
        .join(voluntary, on="member_id", how="left")
        .with_columns(
            pl.when(va).then(pl.col("_va_entity")).otherwise(pl.col("entity_id")).alias("entity_id"),
            pl.when(va).then(pl.lit("voluntary")).otherwise(pl.col("step")).alias("step"),
            pl.when(va).then(pl.col("_va_entity")).otherwise(pl.col("winner")).alias("winner"),
            pl.when(va).then(pl.lit(True)).otherwise(pl.col("winner_is_entity")).alias("winner_is_entity"),
            claims_only("winner_allowed_cents", pl.Int64()),
            claims_only("winner_visits", pl.Int64()),
            claims_only("winner_last_service_date", pl.Date()),
            claims_only("runner_up", pl.String()),
            claims_only("runner_up_allowed_cents", pl.Int64()),
            claims_only("runner_up_visits", pl.Int64()),
            pl.when(va).then(pl.col("designated_npi")).otherwise(_NULL_STR).alias("designated_npi"),
        )
    )

"""Table checks: rules that look at more than one row, or at another table.

They run on the rows of one canonical table that passed the row checks
(:mod:`settle.engine.validate_rows`), all at once, because a row's fate depends on its
neighbours.  The other tables they need (the eligibility members, the roster's NPIs) are
arguments, so the same checks run on a shard as on a whole book, provided a shard keeps all
lines of a claim together (the cluster shards claims by member, which does).  In order, a row
fails with the first of:

1. ``duplicate_line``: the row repeats the key of another row; of each group of equal keys
   the first by (``_source_file``, ``_row_number``) is kept and the later ones are rejected,
   so the choice never depends on the order files were listed or shards were sent.  Keys:
   claims: (``claim_id``, ``claim_line_number``, ``paid_date``, ``paid_cents``,
   ``allowed_cents``), so a void-and-replace sequence (+100, -100, +120 on later paid dates)
   is not a duplicate; risk scores: (``member_id``, ``period``); quality: (``entity_id``,
   ``period``, ``measure_id``); premiums: (``group_id``, ``month``, ``member_id``).
2. ``negative_allowed_without_original``: a claim line with a negative paid or allowed amount
   when no line of the same (``claim_id``, ``claim_line_number``) is positive (no negative
   amount and at least one positive one); lines of zero are neither.  The original need not
   be paid earlier; it must have passed the row checks.
3. ``missing_member``: a claim (medical or pharmacy) whose ``member_id`` has no accepted
   eligibility row at all (when the members are given).
4. ``unknown_npi``: a medical claim line that cannot be tied to any TIN: no
   ``rendering_tin``, no ``billing_tin``, and neither ``rendering_npi`` nor ``billing_npi`` is
   on the roster (any date; when the roster is given).  Lines of clinicians outside every
   entity that carry a TIN are legitimate: they compete in attribution.

Each check selects its (few) failing rows; the full table is scanned a handful of times and
never sorted, so the cost stays linear in the number of lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import polars as pl
import pyarrow as pa

from settle.engine.keys import key_hash, repeated_values
from settle.engine.money import cents_to_str_expr
from settle.engine.rejects import REJECTS_SCHEMA, RejectReason
from settle.engine.validate_rows import Check, describe

__all__ = ["DUPLICATE_KEYS", "IdSet", "check_table", "check_table_frame", "id_set", "table_check_columns"]

DUPLICATE_KEYS: dict[str, tuple[str, ...]] = {
    "medical_claim": ("claim_id", "claim_line_number", "paid_date", "paid_cents", "allowed_cents"),
    "pharmacy_claim": ("claim_id", "claim_line_number", "paid_date", "paid_cents", "allowed_cents"),
    "risk_scores": ("member_id", "period"),
    "quality": ("entity_id", "period", "measure_id"),
    "premiums": ("group_id", "month", "member_id"),
}
_CLAIMS = ("medical_claim", "pharmacy_claim")
_LINE = ("claim_id", "claim_line_number")
_LINE_HASH = "__line"

IdSet: TypeAlias = pl.Series
"""A set of identifiers (distinct, non-null strings) for the cross-table checks."""

# A check's selector returns the failing rows (with ``__i`` and, optionally, ``__detail``).
_Selector = Callable[[pl.DataFrame], pl.DataFrame]


def id_set(values: pa.Array | pa.ChunkedArray | pl.Series | Sequence[str]) -> IdSet:
    """Distinct non-null identifiers from any column-like value."""
    series = values if isinstance(values, pl.Series) else pl.Series("id", values, dtype=pl.String)
    return series.cast(pl.String).drop_nulls().unique()


def table_check_columns(table: str) -> frozenset[str]:
    """The canonical columns the table checks of ``table`` read (provenance aside): kept
    through validation whatever its caller keeps, and never dropped early
    (:mod:`~settle.engine.validate_precheck`).  A rule that reads another column adds it here."""
    columns = set(DUPLICATE_KEYS.get(table, ()))
    if table in _CLAIMS:
        columns |= {*_LINE, "paid_cents", "allowed_cents", "member_id"}
    if table == "medical_claim":
        columns |= {"rendering_tin", "billing_tin", "rendering_npi", "billing_npi"}
    return frozenset(columns)


def check_table(
    accepted: pa.Table, table: str, *, members: IdSet | None = None, roster_npis: IdSet | None = None
) -> tuple[pa.Table, pa.Table]:
    """Split rows that passed the row checks into those that pass the table checks, and rejects."""
    df = pl.from_arrow(accepted)
    assert isinstance(df, pl.DataFrame)
    good, bad = check_table_frame(df, table, members=members, roster_npis=roster_npis)
    return good.to_arrow().cast(accepted.schema), bad.to_arrow().cast(REJECTS_SCHEMA)


def check_table_frame(
    df: pl.DataFrame, table: str, *, members: IdSet | None = None, roster_npis: IdSet | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`check_table` on a Polars frame of canonical rows."""
    rules = _rules(table, members, roster_npis)
    empty = pl.from_arrow(REJECTS_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    if not rules or df.height == 0:
        return df, empty
    indexed = df.with_row_index("__i")
    if table in _CLAIMS:  # the claim-line key's hash, which two checks read (see _line_hash)
        indexed = indexed.with_columns(key_hash(_LINE).alias(_LINE_HASH))
    found = []
    for k, (_, select) in enumerate(rules):
        hits = select(indexed)
        if hits.height:
            detail = hits["__detail"] if "__detail" in hits.columns else pl.lit(None, dtype=pl.String)
            found.append(hits.select("__i", pl.lit(k, dtype=pl.Int32).alias("__k"), detail.alias("__detail")))
    if not found:
        return df, empty
    first = pl.concat(found).sort("__i", "__k").unique("__i", keep="first", maintain_order=True)
    failed = indexed.join(first, on="__i", how="inner", maintain_order="left")
    passed = np.ones(df.height, dtype=np.bool_)
    passed[first["__i"].to_numpy()] = False
    return df.filter(pl.Series(passed)), describe(failed, table, [check for check, _ in rules])


def _line_hash(df: pl.DataFrame) -> pl.Expr:
    """``key_hash(_LINE)``: the column computed once per table where there is one."""
    return pl.col(_LINE_HASH) if _LINE_HASH in df.columns else key_hash(_LINE)


def _rules(table: str, members: IdSet | None, npis: IdSet | None) -> list[tuple[Check, _Selector]]:
    rules: list[tuple[Check, _Selector]] = []
    keys = DUPLICATE_KEYS.get(table)
    if keys:
        rules.append(_duplicates(keys))
    if table in _CLAIMS:
        rules += _negative_without_original()
        if members is not None:
            rules.append(_missing_member(members))
    if table == "medical_claim" and npis is not None:
        rules.append(_unknown_npi(npis))
    return rules


def _check(reason: RejectReason, column: str, detail: str, value: pl.Expr, per_row: bool = False) -> Check:
    """A table check: the failing rows are selected by its selector, so ``flag`` is unused."""
    return Check(reason, column, detail, pl.lit(True), value, pl.col("__detail") if per_row else None)


def _duplicates(keys: tuple[str, ...]) -> tuple[Check, _Selector]:
    same = ", ".join(k.replace("_cents", "_amount") for k in keys)

    def select(df: pl.DataFrame) -> pl.DataFrame:
        # Equal keys have equal hashes: only rows sharing a hash are compared exactly.
        if keys[: len(_LINE)] == _LINE:  # extends the claim-line hash (keys.key_hash)
            hashes = df.select(_line_hash(df) ^ key_hash(keys[len(_LINE) :], 1 + len(_LINE))).to_series()
        else:
            hashes = df.select(key_hash(keys)).to_series()
        repeats = repeated_values(hashes)
        if repeats.len() == 0:
            return df.clear()
        candidates = df.filter(hashes.is_in(repeats.implode()))
        repeated = candidates.filter(pl.struct(keys).is_duplicated()).sort("_source_file", "_row_number")
        return repeated.with_columns(
            pl.concat_str(
                [
                    pl.lit("repeats row "),
                    pl.col("_row_number").first().over(keys).cast(pl.String),
                    pl.lit(" of "),
                    pl.col("_source_file").first().over(keys).cast(pl.String),
                    pl.lit(f" (same {same})"),
                ]
            ).alias("__detail"),
            pl.struct(keys).is_first_distinct().alias("__first"),
        ).filter(~pl.col("__first"))

    check = _check(
        RejectReason.DUPLICATE_LINE,
        keys[0],
        f"repeats an earlier row with the same {same}",
        pl.col(keys[0]).cast(pl.String),
        per_row=True,
    )
    return check, select


def _negative_without_original() -> list[tuple[Check, _Selector]]:
    """Two checks of one rule, so the column named is the negative amount (allowed first)."""
    paid, allowed = pl.col("paid_cents"), pl.col("allowed_cents")
    negative = (paid < 0) | (allowed < 0)
    positive = ~negative & ((paid > 0) | (allowed > 0))

    cache: dict[int, pl.DataFrame] = {}

    def orphans(df: pl.DataFrame) -> pl.DataFrame:
        if id(df) not in cache:
            cache.clear()
            cache[id(df)] = _orphans(df, negative, positive)
        return cache[id(df)]

    detail = "a negative line with no positive line of the same claim_id and claim_line_number"
    reason = RejectReason.NEGATIVE_ALLOWED_WITHOUT_ORIGINAL
    return [
        (
            _check(reason, "allowed_amount", detail, cents_to_str_expr(allowed)),
            lambda df: orphans(df).filter(allowed < 0),
        ),
        (
            _check(reason, "paid_amount", detail, cents_to_str_expr(paid)),
            lambda df: orphans(df).filter(allowed >= 0),
        ),
    ]


def _orphans(df: pl.DataFrame, negative: pl.Expr, positive: pl.Expr) -> pl.DataFrame:
    """Negative lines of ``df`` with no positive line of the same claim line (the columns the
    rule reads and ``__i``: a selector's rows are named by their index)."""
    line_hash = _line_hash(df)
    df = df.select("__i", *_LINE, "paid_cents", "allowed_cents", line_hash.alias(_LINE_HASH))
    neg = df.filter(negative)
    if neg.height == 0:
        return neg
    # Positive lines whose claim-line hash is one of the negatives' (a superset), then exactly.
    wanted = neg[_LINE_HASH].unique().implode()
    originals = df.filter(positive & pl.col(_LINE_HASH).is_in(wanted)).select(_LINE).unique()
    return neg.join(originals, on=list(_LINE), how="anti", nulls_equal=True)


def _missing_member(members: IdSet) -> tuple[Check, _Selector]:
    known = members.implode()
    check = _check(
        RejectReason.MISSING_MEMBER, "member_id", "member_id has no eligibility row", pl.col("member_id")
    )
    return check, lambda df: df.filter(~pl.col("member_id").is_in(known))


def _unknown_npi(npis: IdSet) -> tuple[Check, _Selector]:
    listed = npis.implode()
    # Only lines without a TIN are looked up on the roster: the lookups of text NPIs were most
    # of this check's time, and a claim line with a TIN (nearly every line) needs none.
    untied = pl.col("rendering_tin").is_null() & pl.col("billing_tin").is_null()
    on_roster = pl.col("rendering_npi").is_in(listed).fill_null(False) | pl.col("billing_npi").is_in(
        listed
    ).fill_null(False)
    check = _check(
        RejectReason.UNKNOWN_NPI,
        "rendering_npi",
        "no rendering_tin or billing_tin, and neither rendering_npi nor billing_npi is on the roster",
        pl.col("rendering_npi"),
    )
    return check, lambda df: df.filter(untied).filter(~on_roster)

"""Row checks: parse one raw batch into its canonical table and reject malformed rows.

Each row is judged on its own, so a batch can be checked as soon as it is read.  The checks
apply in this order, and a rejected row carries the first one it fails:

1. ``missing_value``: each required column, in schema order; then the table's own
   requirements (a quality row needs ``measure_id`` with ``score``, or ``quality_score``);
2. malformed cells, each column in schema order (required and optional alike):
   ``bad_code`` (ids with a format, flags), ``bad_date``, ``bad_amount``, ``bad_number``;
   a premium ``month`` that is not the first of a month is ``bad_date``;
3. ``conflicting_values``: a quality row holding both a measure score and a composite;
4. ``amount_out_of_range``: any money too large for int64 cents; a claim line's
   ``paid_amount`` or ``allowed_amount`` above :attr:`Limits.max_line_cents` in absolute value
   (default $10,000,000); ``score_out_of_range``: quality ``score``/``quality_score`` outside
   [0, 1], a negative ``risk_score``;
5. ``end_before_start``: ``enrollment_end_date`` < ``enrollment_start_date``,
   ``termination_date`` < ``effective_date``, ``claim_end_date`` < ``claim_start_date``.

Rules chosen where the domain text is silent: a claim line whose paid amount exceeds its
allowed amount, or whose amounts have opposite signs, is accepted (interest and coordination
of benefits produce such lines, and rejecting them would drop real payments from withhold
pools); an unparseable optional cell rejects the row, as a required one does (strict parsing:
a value is never silently dropped).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import polars as pl
import pyarrow as pa

from settle.engine.errors import SettleSystemError
from settle.engine.rejects import REJECTS_SCHEMA, RejectReason
from settle.engine.schemas import CODE_FORMATS, PROVENANCE_FIELDS, TABLES, Column, canonical_schema
from settle.engine.unscaled_decimals import restore_decimals, unscaled_money_scales
from settle.engine.validate_parse import (
    ColumnParser,
    canonical_dictionary_columns,
    canonical_identifier_columns,
    canonical_text_columns,
    parser_for,
)

__all__ = [
    "PRECHECKED_KEY",
    "SPANS",
    "Check",
    "Limits",
    "check_rows",
    "check_rows_frame",
    "describe",
    "first_failure",
    "prechecked_in",
    "stratifier_columns",
]

_CLAIMS = ("medical_claim", "pharmacy_claim")
# Schema metadata of a raw batch: the columns the partition stage found no row could fail on
# and dropped (comma-separated; settle.engine.validate_precheck).
PRECHECKED_KEY = b"settle.prechecked"
_NULL = pl.lit(None, dtype=pl.String)  # the value of a missing-value reject: the cell was empty
_PROV = [f.name for f in PROVENANCE_FIELDS]


@dataclass(frozen=True)
class Limits:
    """Configurable bounds of the row checks."""

    max_line_cents: int = 1_000_000_000  # $10,000,000 per claim line, in absolute value


@dataclass(frozen=True)
class Check:
    """One rule: rows where ``flag`` is true fail with ``reason`` at ``column``."""

    reason: RejectReason
    column: str | None
    detail: str
    flag: pl.Expr
    value: pl.Expr
    detail_expr: pl.Expr | None = None  # a per-row detail, when the rule can say more


_PARSE_REASON = {
    "id": RejectReason.BAD_CODE,
    "bool": RejectReason.BAD_CODE,
    "date": RejectReason.BAD_DATE,
    "money": RejectReason.BAD_AMOUNT,
    "int": RejectReason.BAD_NUMBER,
    "float": RejectReason.BAD_NUMBER,
}


def _parse_detail(c: Column) -> str:
    name = c.source_name
    if c.kind == "id":
        return f"{name} is not {CODE_FORMATS[c.format or '']}"
    return {
        "bool": f"{name} is not true or false",
        "date": f"{name} is not a calendar date written YYYY-MM-DD",
        "money": f"{name} is not a decimal dollar amount in whole cents",
        "int": f"{name} is not a whole number",
        "float": f"{name} is not a finite number",
    }[c.kind]


def check_rows(
    raw: pa.Table, table: str, *, stratifiers: Sequence[str] = (), limits: Limits = Limits()
) -> tuple[pa.Table, pa.Table]:
    """Split a raw batch (as :mod:`settle.engine.readers` yields it) into its accepted rows, in
    the canonical schema (every column of the table; absent optional ones null), and rejects."""
    good, bad = check_rows_frame(raw, table, stratifiers=stratifiers, limits=limits)
    schema = canonical_schema(table, extra=stratifier_columns(table, stratifiers))
    return good.to_arrow().cast(schema), bad.to_arrow().cast(REJECTS_SCHEMA)


def prechecked_in(raw: pa.Table | pa.Schema) -> frozenset[str]:
    """The columns a raw batch's schema says were dropped as prechecked (:data:`PRECHECKED_KEY`)."""
    schema = raw if isinstance(raw, pa.Schema) else raw.schema
    listed = (schema.metadata or {}).get(PRECHECKED_KEY)
    return frozenset(listed.decode().split(",")) if listed else frozenset()


def stratifier_columns(table: str, stratifiers: Sequence[str]) -> tuple[str, ...]:
    """The declared stratifiers a table keeps beyond its own columns (eligibility only)."""
    if table != "eligibility":
        return ()
    own = {c.name for c in TABLES[table].columns}
    return tuple(s for s in stratifiers if s not in own)


def check_rows_frame(
    raw: pa.Table,
    table: str,
    *,
    stratifiers: Sequence[str] = (),
    limits: Limits = Limits(),
    keep: Collection[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`check_rows` as Polars frames (accepted rows in canonical column order, rejects).

    ``keep``: the canonical columns the accepted rows carry (default: all).  The others are
    checked all the same (the partition stage drops most of them before they get here, where
    no row can fail on them: :mod:`settle.engine.validate_precheck`)."""
    spec = TABLES[table]
    extra = stratifier_columns(table, stratifiers)
    # Decimals given as their unscaled integers (the cluster's spill): amounts read as cents
    # directly, any other back to its decimal first (settle.engine.unscaled_decimals).
    unscaled = unscaled_money_scales(raw, {c.source_name for c in spec.columns if c.kind == "money"})
    raw = restore_decimals(raw, keep=unscaled)
    # A dictionary-encoded text column (the partition stage's code columns) is checked as the
    # text it stands for; its format on its dictionary's values, not on every cell.
    coded = canonical_dictionary_columns(
        raw, {c.source_name: c for c in spec.columns if c.source_name in raw.column_names}
    )
    kept = [c for c in spec.columns if keep is None or c.name in keep]
    # Columns dropped because no row could fail on them: checked as absent and optional.
    dropped = prechecked_in(raw)
    if dropped & {c.name for c in kept}:
        raise SettleSystemError(
            f"{table}: a batch without {', '.join(sorted(dropped))} (prechecked) was validated "
            "by a caller that keeps them"
        )
    columns = [replace(c, required=False) if c.name in dropped else c for c in spec.columns]
    # Raw columns under private names, so canonical names never clash with source names.
    df = frame_with_text_codes(raw)
    renamed = []
    for i, c in enumerate(spec.columns):
        src = c.source_name
        col = pl.col(src) if src in df.columns else pl.lit(None)
        if src in df.columns and isinstance(df.schema[src], (pl.Categorical, pl.Enum)):
            col = col.cast(pl.String)
        renamed.append(col.alias(f"__r{i}"))
    strat = [(pl.col(s) if s in df.columns else pl.lit(None)).cast(pl.String).alias(s) for s in extra]
    df = df.select(*renamed, *strat, *_PROV)
    raw_names = {f"__r{i}": c for i, c in enumerate(spec.columns) if c.source_name not in coded}
    plain_ids = canonical_identifier_columns(
        raw, {c.source_name: c for c in spec.columns if c.source_name in raw.column_names}
    )
    as_is = canonical_text_columns(df, raw_names) | {
        f"__r{i}" for i, c in enumerate(spec.columns) if c.source_name in coded | plain_ids
    }
    parsers = [
        parser_for(
            c,
            f"__r{i}",
            df.schema[f"__r{i}"],
            canonical=f"__r{i}" in as_is,
            unscaled=unscaled.get(c.source_name),
        )
        for i, c in enumerate(spec.columns)
    ]

    lf = df.lazy().with_columns(p.prep().alias(f"__p{i}") for i, p in enumerate(parsers))
    stage2 = [p.value(pl.col(f"__p{i}")).alias(f"__v{i}") for i, p in enumerate(parsers)]
    for i, p in enumerate(parsers):
        overflow = p.overflow(pl.col(f"__p{i}"))
        if overflow is not None:
            stage2.append(overflow.alias(f"__o{i}"))
    lf = lf.with_columns(stage2)
    checks = _checks(table, columns, parsers, lf.collect_schema().names(), limits)
    flags = [ch.flag.fill_null(False).alias(f"__f{k}") for k, ch in enumerate(checks)]
    # One pass flags the failing rows; which check each failed first is worked out on those only.
    checked = lf.with_columns(pl.any_horizontal(flags).alias("__bad")).collect()

    canonical = [pl.col(f"__v{i}").alias(c.name) for i, c in enumerate(spec.columns) if c in kept]
    failed = checked["__bad"]
    if not failed.any():
        return checked.select(*canonical, *extra, *_PROV), _empty_rejects_frame()
    good = checked.filter(~failed).select(*canonical, *extra, *_PROV)
    bad = checked.filter(failed).with_columns(flags).with_columns(first_failure(len(checks)))
    return good, describe(bad, table, checks)


def frame_with_text_codes(raw: pa.Table) -> pl.DataFrame:
    """``raw`` as a Polars frame, its ``dictionary<int32, string>`` columns (the partition
    stage's code columns; not the provenance ``_source_file``) decoded to text: each chunk's
    dictionary taken by its indices in Polars.  A gather of string views costs a third of
    converting the dictionary to a Categorical and casting that to text (one 1.9 M-line
    partition, one thread, NPIs: 8 ms against 7 + 36 ms); nulls stay null."""
    decoded: dict[str, pl.Series] = {}
    for field in raw.schema:
        if field.name in _PROV or not pa.types.is_dictionary(field.type):
            continue
        if not pa.types.is_string(field.type.value_type) or not pa.types.is_int32(field.type.index_type):
            continue
        chunks = [
            # The int32 indices seen as uint32 (zero copy; never negative in a valid array).
            pl.Series(field.name, chunk.dictionary).gather(pl.Series(chunk.indices.view(pa.uint32())))
            for chunk in raw.column(field.name).chunks
        ]
        decoded[field.name] = (
            pl.concat(chunks, rechunk=False) if chunks else pl.Series(field.name, [], pl.String)
        )
    rest = pl.from_arrow(raw.drop_columns(list(decoded)) if decoded else raw)
    assert isinstance(rest, pl.DataFrame)
    if not decoded:
        return rest
    return rest.with_columns(decoded.values()).select(raw.column_names)


def first_failure(n: int) -> pl.Expr:
    """``__k``: the number of the first check (of flags ``__f0 .. __f{n-1}``) a row fails."""
    first: pl.Expr = pl.lit(None, dtype=pl.Int32)
    for k in reversed(range(n)):
        first = pl.when(pl.col(f"__f{k}")).then(pl.lit(k, dtype=pl.Int32)).otherwise(first)
    return first.alias("__k")


def describe(bad: pl.DataFrame, table: str, checks: Sequence[Check]) -> pl.DataFrame:
    """The reject rows of ``bad``, whose ``__k`` names the check each row failed first."""
    idx = pl.col("__k")
    value: pl.Expr = pl.lit(None, dtype=pl.String)
    for k in reversed(range(len(checks))):
        value = pl.when(idx == k).then(checks[k].value.cast(pl.String)).otherwise(value)

    def lookup(attr: str) -> pl.Expr:
        mapping = {k: getattr(ch, attr) for k, ch in enumerate(checks)}
        return idx.replace_strict(mapping, default=None, return_dtype=pl.String)

    detail = lookup("detail")
    for k in reversed(range(len(checks))):
        extra = checks[k].detail_expr
        if extra is not None:
            detail = pl.when(idx == k).then(extra).otherwise(detail)
    return bad.select(
        pl.lit(table).alias("table"),
        pl.col("_source_file").cast(pl.String).alias("source_file"),
        pl.col("_row_number").alias("row_number"),
        lookup("column").alias("column"),
        idx.replace_strict({k: str(ch.reason) for k, ch in enumerate(checks)}, return_dtype=pl.String).alias(
            "reason"
        ),
        detail.alias("detail"),
        value.alias("value"),
    )


def _empty_rejects_frame() -> pl.DataFrame:
    frame = pl.from_arrow(REJECTS_SCHEMA.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _checks(
    table: str, columns: Sequence[Column], parsers: Sequence[ColumnParser], present: list[str], limits: Limits
) -> list[Check]:
    idx = {c.name: i for i, c in enumerate(columns)}

    def p(name: str) -> pl.Expr:
        return pl.col(f"__p{idx[name]}")

    def v(name: str) -> pl.Expr:
        return pl.col(f"__v{idx[name]}")

    def text(name: str) -> pl.Expr:
        return parsers[idx[name]].text()

    out: list[Check] = []
    # 1. missing values
    for c in columns:
        if c.required:
            out.append(
                Check(
                    RejectReason.MISSING_VALUE,
                    c.source_name,
                    f"{c.source_name} is empty",
                    p(c.name).is_null(),
                    _NULL,
                )
            )
    if table == "quality":
        measure, score, comp = p("measure_id").is_not_null(), p("score").is_not_null(), p("quality_score")
        out += [
            Check(
                RejectReason.MISSING_VALUE,
                "score",
                "measure_id is given without a score",
                measure & ~score,
                _NULL,
            ),
            Check(
                RejectReason.MISSING_VALUE,
                "measure_id",
                "score is given without a measure_id",
                score & ~measure,
                _NULL,
            ),
            Check(
                RejectReason.MISSING_VALUE,
                "quality_score",
                "neither measure_id with score nor quality_score is given",
                ~measure & ~score & comp.is_null(),
                _NULL,
            ),
        ]
    # 2. malformed cells
    for i, c in enumerate(columns):
        if c.kind == "text" or (c.kind == "id" and c.format is None):
            continue
        flag = p(c.name).is_not_null() & v(c.name).is_null()
        if f"__o{i}" in present:
            flag = flag & ~pl.col(f"__o{i}").fill_null(False)
        out.append(Check(_PARSE_REASON[c.kind], c.source_name, _parse_detail(c), flag, text(c.name)))
    if table == "premiums":
        out.append(
            Check(
                RejectReason.BAD_DATE,
                "month",
                "month is not the first day of a month",
                v("month").dt.day() != 1,
                text("month"),
            )
        )
    # 3. conflicts
    if table == "quality":
        out.append(
            Check(
                RejectReason.CONFLICTING_VALUES,
                "quality_score",
                "a row holds both a measure score and a composite quality_score",
                p("quality_score").is_not_null() & (p("measure_id").is_not_null() | p("score").is_not_null()),
                text("quality_score"),
            )
        )
    # 4. ranges
    for i, c in enumerate(columns):
        if c.kind != "money":
            continue
        too_big = pl.col(f"__o{i}") if f"__o{i}" in present else pl.lit(False)
        detail = f"{c.source_name} is too large to hold in cents"
        if table in _CLAIMS:
            too_big = too_big | (v(c.name).abs() > limits.max_line_cents)
            detail = f"{c.source_name} exceeds {_dollars(limits.max_line_cents)} in absolute value"
        out.append(Check(RejectReason.AMOUNT_OUT_OF_RANGE, c.source_name, detail, too_big, text(c.name)))
    for name in ("score", "quality_score") if table == "quality" else ():
        out.append(
            Check(
                RejectReason.SCORE_OUT_OF_RANGE,
                name,
                f"{name} is outside [0, 1]",
                (v(name) < 0) | (v(name) > 1),
                text(name),
            )
        )
    if table == "risk_scores":
        out.append(
            Check(
                RejectReason.SCORE_OUT_OF_RANGE,
                "risk_score",
                "risk_score is negative",
                v("risk_score") < 0,
                text("risk_score"),
            )
        )
    # 5. spans
    for start, end in SPANS.get(table, ()):
        out.append(
            Check(
                RejectReason.END_BEFORE_START, end, f"{end} is before {start}", v(end) < v(start), text(end)
            )
        )
    return out


SPANS: dict[str, tuple[tuple[str, str], ...]] = {  # (start, end) column pairs: end >= start
    "eligibility": (("enrollment_start_date", "enrollment_end_date"),),
    "roster": (("effective_date", "termination_date"),),
    "medical_claim": (("claim_start_date", "claim_end_date"),),
}


def _dollars(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return f"${whole:,}.{frac:02d}"

"""Small helpers every kernel shares: frame conversion, calendar arithmetic, exact rounding.

Kernels accept a :data:`Frame` (a ``pyarrow.Table``, a Polars ``DataFrame`` or ``LazyFrame``)
and return Polars ``DataFrame`` objects (``.to_arrow()`` gives Arrow).  Exact integer
arithmetic that could pass 2**63 (cents times a weight) is done in Polars ``Int128``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from typing import TypeAlias

import polars as pl
import pyarrow as pa

__all__ = [
    "Frame",
    "add_months",
    "column_names",
    "div_round_half_even",
    "lazy",
    "service_date",
]

Frame: TypeAlias = pa.Table | pl.DataFrame | pl.LazyFrame


def lazy(frame: Frame) -> pl.LazyFrame:
    """``frame`` as a Polars lazy frame (zero-copy from Arrow where the types allow)."""
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    converted = pl.from_arrow(frame)
    assert isinstance(converted, pl.DataFrame)
    return converted.lazy()


def column_names(frame: Frame) -> list[str]:
    """The column names of ``frame`` (no data is read)."""
    if isinstance(frame, pl.LazyFrame):
        return frame.collect_schema().names()
    if isinstance(frame, pl.DataFrame):
        return frame.columns
    return list(frame.column_names)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clamped to the month's last day
    (2025-12-31 + 2 months = 2026-02-28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def div_round_half_even(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator`` rounded half to even, in exact integer arithmetic.

    Both are cast to ``Int128``; the denominator must be positive.  Floor division and a
    non-negative remainder (Polars' ``//`` and ``%`` floor like Python's) give ``q`` and ``r``;
    the result is ``q + 1`` when ``2r > d`` or when ``2r == d`` and ``q`` is odd.
    """
    n = numerator.cast(pl.Int128)
    d = denominator.cast(pl.Int128)
    q = n // d
    twice_r = (n % d) * 2
    up = (twice_r > d) | ((twice_r == d) & (q % 2 == 1))
    return q + up.cast(pl.Int128)


def service_date(names: Iterable[str]) -> pl.Expr:
    """A medical claim line's service date: ``claim_line_start_date`` where present and not
    null, else ``claim_start_date``."""
    if "claim_line_start_date" in set(names):
        return pl.coalesce(pl.col("claim_line_start_date"), pl.col("claim_start_date"))
    return pl.col("claim_start_date")

"""Simple interest, actual/365, on pools funded by many payments.

A payment paid on day ``p`` earns interest for ``days = (through - p).days`` days: counted
from the day after the paid date through the settlement (or return) date inclusive, so a
payment paid the day before settlement earns one day.  A payment paid on or after ``through``
earns nothing (``days`` is clamped at 0).

A pool's interest is ``rate × Σ(amount_i × days_i) / 365``.  Because a pool's contribution is
``pool_rate × paid_i``, the kernels need only the payments' **cent-days**
``Σ(paid_cents_i × days_i)`` (an exact integer):

    interest dollars = interest_rate × pool_rate × cent_days / 365 / 100

which the statement rounds to the cent once (half-to-even).  :func:`cent_days` computes the
cent-days of an Arrow column of payments without a Python loop.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["cent_days", "interest_days", "simple_interest_dollars"]

DAYS_IN_YEAR = Decimal(365)


def interest_days(paid_date: dt.date, through: dt.date) -> int:
    """Days of interest for a payment paid on ``paid_date`` (day after it through ``through``)."""
    return max((through - paid_date).days, 0)


def cent_days(
    paid_cents: pa.Array | pa.ChunkedArray, paid_dates: pa.Array | pa.ChunkedArray, through: dt.date
) -> int:
    """Σ paid_cents × interest days over the payments (exact integer; nulls count as 0)."""
    if len(paid_cents) != len(paid_dates):
        raise ValueError("paid_cents and paid_dates must have the same length")
    if len(paid_cents) == 0:
        return 0
    through_scalar = pa.scalar(through, pa.date32())
    days = pc.days_between(pc.cast(paid_dates, pa.date32()), through_scalar)
    days = pc.max_element_wise(days, pa.scalar(0, pa.int64()))
    products = pc.multiply_checked(pc.cast(paid_cents, pa.int64()), pc.cast(days, pa.int64()))
    total = pc.sum(products).as_py()
    return int(total or 0)


def simple_interest_dollars(annual_rate: Decimal, pool_rate: Decimal, payments_cent_days: int) -> Decimal:
    """Exact interest in dollars on a pool funded at ``pool_rate`` of payments with these cent-days."""
    return annual_rate * pool_rate * Decimal(payments_cent_days) / DAYS_IN_YEAR / 100

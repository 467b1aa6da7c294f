"""The MSSP sliding minimum savings rate (MSR) by number of assigned beneficiaries.

``min_savings_rate: mssp_sliding`` (and ``min_loss_rate: mssp_sliding``) look the rate up in
CMS's table (42 CFR 425.604(b)); inside each band the rate falls on a straight line from the
band's low-end rate (at its first count) to its high-end rate (at its last count):

    rate(N) = r_low - (r_low - r_high) * (N - n_low) / (n_high - n_low)

The bands from 5,000 up are those of ``DOMAIN.md``.  Below 5,000 (the domain text is silent)
Settle uses the rest of CMS's published table, which the 2014 and 2018 public use files
confirm to nine digits (e.g. N = 605 gives 11.4635271%, N = 3,498 gives 4.7259630%):
1–499: 12.2%; 500–999: 12.2→8.7%; 1,000–2,999: 8.7→5.0%; 3,000–4,999: 5.0→3.9%.  60,000 and
more: 2.0%.  Zero beneficiaries take the first band's 12.2%.

The interpolated rate is a quotient; the statement publishes it rounded to ``RATE_PLACES``.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["MSSP_SLIDING_BANDS", "mssp_sliding_rate"]

MSSP_SLIDING_BANDS: tuple[tuple[int, int | None, Decimal, Decimal], ...] = tuple(
    (lo, hi, Decimal(r_lo), Decimal(r_hi))
    for lo, hi, r_lo, r_hi in (
        (0, 499, "0.122", "0.122"),
        (500, 999, "0.122", "0.087"),
        (1_000, 2_999, "0.087", "0.050"),
        (3_000, 4_999, "0.050", "0.039"),
        (5_000, 5_999, "0.039", "0.036"),
        (6_000, 6_999, "0.036", "0.034"),
        (7_000, 7_999, "0.034", "0.032"),
        (8_000, 8_999, "0.032", "0.031"),
        (9_000, 9_999, "0.031", "0.030"),
        (10_000, 14_999, "0.030", "0.027"),
        (15_000, 19_999, "0.027", "0.025"),
        (20_000, 49_999, "0.025", "0.022"),
        (50_000, 59_999, "0.022", "0.020"),
        (60_000, None, "0.020", "0.020"),
    )
)
"""(first count, last count or None, rate at the first count, rate at the last count)."""


def mssp_sliding_rate(assigned: int) -> Decimal:
    """The exact (unrounded) sliding MSR for ``assigned`` beneficiaries."""
    if assigned < 0:
        raise ValueError("the number of assigned beneficiaries must not be negative")
    for lo, hi, r_lo, r_hi in MSSP_SLIDING_BANDS:
        if hi is None or assigned <= hi:
            if hi is None or r_lo == r_hi:
                return r_lo
            return r_lo - (r_lo - r_hi) * Decimal(assigned - lo) / Decimal(hi - lo)
    raise AssertionError("unreachable: the last band is open-ended")  # pragma: no cover

"""Money: dollars in, integer cents inside, one rounding rule, exact allocation.

Rules (also in ``docs/contracts.md``):

* Money enters as decimal dollars (text, ``Decimal`` or an Arrow decimal) and is held as
  integer cents (``int`` in Python, ``int64`` in Arrow).  Floats never hold money that is
  summed or settled.
* Intermediate figures of a settlement are exact ``Decimal`` values; a figure is rounded to
  the cent **once**, half-to-even, where a statement step publishes it
  (:func:`round_cents`).
* When one amount is split across parties, :func:`allocate` uses the largest-remainder
  method so the parts add up exactly to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import polars as pl

__all__ = [
    "CENT",
    "allocate",
    "cents_to_decimal",
    "cents_to_str",
    "cents_to_str_expr",
    "dollars_to_cents",
    "round_cents",
]

CENT = Decimal("0.01")
_DOLLARS = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def dollars_to_cents(text: str | Decimal | int) -> int:
    """Parse a decimal-dollar amount strictly into integer cents.

    Accepts ``"12"``, ``"-12.5"``, ``"12.50"``, ``"12.5000"`` (extra decimals only when they are
    zeros).  Rejects thousands separators, currency signs, exponents and fractions of a cent
    with :class:`ValueError`, because silently rounding an input amount hides a data problem.
    """
    if isinstance(text, int):
        return text * 100
    if isinstance(text, Decimal):
        value = text
    else:
        stripped = text.strip()
        if not _DOLLARS.match(stripped):
            raise ValueError(f"not a decimal dollar amount: {text!r}")
        try:
            value = Decimal(stripped)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
            raise ValueError(f"not a decimal dollar amount: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"amount has a fraction of a cent: {text!r}")
    return int(cents)


def round_cents(dollars: Decimal) -> int:
    """Round an exact dollar figure to integer cents, half to even (the one rounding rule)."""
    return int((dollars * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def cents_to_decimal(cents: int) -> Decimal:
    """Integer cents as exact decimal dollars (``12345`` -> ``Decimal('123.45')``)."""
    return Decimal(cents).scaleb(-2)


def cents_to_str(cents: int) -> str:
    """Integer cents as a dollar string with two decimals (``-5`` -> ``'-0.05'``)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def cents_to_str_expr(cents: pl.Expr) -> pl.Expr:
    """:func:`cents_to_str` column-wise: integer cents as dollar text with two decimals."""
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    magnitude = cents.abs()
    whole = (magnitude // 100).cast(pl.String)
    frac = (magnitude % 100).cast(pl.String).str.zfill(2)
    return pl.concat_str([sign, whole, pl.lit("."), frac])


def allocate(total: int, weights: Sequence[int | Decimal]) -> list[int]:
    """Split ``total`` cents across parties in proportion to ``weights`` (largest remainder).

    Each party first gets the floor of its exact share; the cents left over go one each to the
    parties with the largest fractional remainders, ties to the earlier party.  The parts
    always add up to ``total`` exactly.  Negative totals are split as the mirror image of the
    positive split, so ``allocate(-t, w) == [-x for x in allocate(t, w)]``.  Weights must be
    non-negative; if they are all zero the total is split equally (largest remainder again).
    """
    if not weights:
        if total != 0:
            raise ValueError("cannot allocate a non-zero total across no parties")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("allocation weights must be non-negative")
    if total < 0:
        return [-part for part in allocate(-total, weights)]
    ints = _as_integers(weights)
    weight_sum = sum(ints)
    if weight_sum == 0:
        ints = [1] * len(ints)
        weight_sum = len(ints)
    # Exact integer arithmetic: share_i = total * w_i / W = floor_i + rem_i / W.
    floors = [total * w // weight_sum for w in ints]
    remainders = [total * w % weight_sum for w in ints]
    left = total - sum(floors)
    order = sorted(range(len(ints)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def _as_integers(weights: Sequence[int | Decimal]) -> list[int]:
    """Scale weights by a common power of ten so every one is an exact integer."""
    places = 0
    for w in weights:
        if isinstance(w, Decimal):
            exponent = w.normalize().as_tuple().exponent
            if isinstance(exponent, int) and exponent < 0:
                places = max(places, -exponent)
    scale = 10**places
    return [int(Decimal(w) * scale) for w in weights]

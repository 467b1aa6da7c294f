"""Array helpers of the synthetic generator: exact money, dates, padded ids, NPIs, weighted draws.

Everything here is vectorised (numpy in, Arrow out) and exact:

* money is built from **integer cents** straight into ``decimal128`` buffers (no float ever
  reaches the stored value);
* dates are ``int`` day numbers since 1970-01-01 turned into ``date32``;
* identifiers are zero-padded decimal strings built by Arrow compute kernels;
* NPIs carry a valid Luhn check digit (prefix ``80840``, as CMS defines it);
* :class:`GroupedDraw` draws one item per sample from a weighted list chosen by the sample's
  group (a member's age pool, a clinician's TIN, an entity) with one ``searchsorted``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EPOCH",
    "F64",
    "I64",
    "Bools",
    "GroupedDraw",
    "constant",
    "date_array",
    "day_number",
    "money_array",
    "npi_with_check_digit",
    "padded_ids",
    "take_strings",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01 (the ``date32`` value of ``d``)."""
    return (d - EPOCH).days


def date_array(days: npt.NDArray[np.integer]) -> pa.Array:
    """A ``date32`` array from day numbers."""
    values = np.ascontiguousarray(days, dtype=np.int32)
    return pa.Array.from_buffers(pa.date32(), len(values), [None, pa.py_buffer(values)])


def money_array(cents: npt.NDArray[np.integer], precision: int = 12) -> pa.Array:
    """A ``decimal128(precision, 2)`` array of dollars whose unscaled values are ``cents``.

    The 16-byte little-endian two's-complement values are written directly: exact, no float.
    """
    c = np.ascontiguousarray(cents, dtype=np.int64)
    if len(c) and int(np.abs(c).max()) >= 10**precision:
        raise ValueError(f"an amount does not fit decimal128({precision}, 2)")
    words = np.empty((len(c), 2), dtype=np.int64)
    words[:, 0] = c
    words[:, 1] = c >> 63  # sign extension of the high word
    return pa.Array.from_buffers(pa.decimal128(precision, 2), len(c), [None, pa.py_buffer(words)])


def constant(value: str, n: int) -> pa.Array:
    """A string array of ``n`` copies of ``value``."""
    return pa.repeat(value, n).cast(pa.string())


def padded_ids(prefix: str, numbers: npt.NDArray[np.integer], width: int) -> pa.Array:
    """``prefix`` + ``numbers`` zero-padded to ``width`` digits, as an Arrow string array."""
    digits = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    padded = pc.utf8_lpad(digits, width=width, padding="0")
    if not prefix:
        return padded
    return pc.binary_join_element_wise(prefix, padded, "")


def npi_with_check_digit(base9: npt.NDArray[np.integer]) -> I64:
    """Ten-digit NPIs: the nine-digit ``base9`` followed by its Luhn check digit.

    CMS computes the digit over ``80840`` + the nine digits; the prefix contributes a constant 24
    to the Luhn sum.  Digits are doubled from the rightmost of the nine, every other one.
    """
    b = np.asarray(base9, dtype=np.int64)
    total = np.full(b.shape, 24, dtype=np.int64)
    rest = b.copy()
    for position in range(9):  # position 0 = rightmost digit of the nine
        digit = rest % 10
        rest //= 10
        if position % 2 == 0:
            doubled = digit * 2
            total += doubled // 10 + doubled % 10
        else:
            total += digit
    check = (10 - total % 10) % 10
    return b * 10 + check


def take_strings(values: pa.Array, index: npt.NDArray[np.integer], null: Bools | None = None) -> pa.Array:
    """``values[index]`` as an Arrow array; positions where ``null`` is true are null."""
    idx = pa.array(np.asarray(index, dtype=np.int64), mask=null)
    return values.take(idx)


@dataclass(frozen=True)
class GroupedDraw:
    """Weighted draws of an item within a group, for many samples at once.

    Items are sorted by group; ``cum`` holds ``group + normalised cumulative weight`` so that the
    item for a sample in group ``g`` with uniform ``u`` is the first whose value exceeds
    ``g + u``.  A sample whose group has no item gets ``-1``.
    """

    items: I64
    cum: F64
    counts: I64

    @classmethod
    def build(
        cls, groups: npt.ArrayLike, weights: npt.ArrayLike, n_groups: int, items: npt.ArrayLike | None = None
    ) -> GroupedDraw:
        g = np.asarray(groups, dtype=np.int64)
        w = np.asarray(weights, dtype=np.float64)
        ids = np.arange(len(g), dtype=np.int64) if items is None else np.asarray(items, dtype=np.int64)
        if len(g) != len(w) or len(g) != len(ids):
            raise ValueError("groups, weights and items must have the same length")
        if len(w) and (w < 0).any():
            raise ValueError("weights must not be negative")
        order = np.argsort(g, kind="stable")
        g, w, ids = g[order], w[order], ids[order]
        counts = np.bincount(g, minlength=n_groups).astype(np.int64)
        totals = np.bincount(g, weights=w, minlength=n_groups)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        running = np.cumsum(w)
        before = np.concatenate(([0.0], running))[starts][g]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(totals[g] > 0, (running - before) / totals[g], 1.0)
        last = starts + counts - 1
        frac[last[counts > 0]] = 1.0
        return cls(items=ids, cum=(g + frac).astype(np.float64), counts=counts)

    def draw(self, groups: npt.ArrayLike, u: npt.ArrayLike) -> I64:
        g = np.asarray(groups, dtype=np.int64)
        if len(self.items) == 0:
            return np.full(g.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.cum, g + np.asarray(u, dtype=np.float64), side="right")
        pos = np.minimum(pos, len(self.items) - 1)
        out = self.items[pos]
        empty = self.counts[g] == 0
        return np.where(empty, -1, out).astype(np.int64)

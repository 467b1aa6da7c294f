"""Strict, vectorised parsing of one raw column into its canonical type (Polars expressions).

Each canonical column kind has one parser.  A parser sees the raw column as the reader left it
(text from CSV; text or a typed column from Parquet) and produces, in two stages,

1. ``prep``: the raw cell made comparable: text is stripped of surrounding white space and an
   empty cell becomes null; typed cells are left as they are;
2. ``value``: the canonical value, **null whenever the cell is present but does not parse**,
   so "present and null" is exactly "malformed".  Money also yields an ``overflow`` flag for
   amounts too large to hold in int64 cents (reported as out of range, not as malformed).

Parse rules (also in ``docs/inputs.md``):

* ``id``: any non-empty text; an integer column becomes its decimal string (zero-padded to
  the code's width for fixed-width numeric codes: NPI 10, TIN 9, place of service 2,
  specialty 2); an integral float likewise.  Formats: NPI ``^\\d{10}$``; TIN ``^\\d{9}$``
  after removing hyphens (``12-3456789``, ``123-45-6789``); HCPCS 5 letters or digits (upper-cased);
  place of service 2 digits and specialty 2 letters or digits (a single digit gets a leading
  zero, upper-cased); claim type ``professional`` or ``institutional`` (lower-cased).
* ``date``: text exactly ``YYYY-MM-DD`` naming a real calendar day; Parquet ``date32``,
  ``date64`` and ``timestamp`` (the calendar date, in the timestamp's own time zone).
* ``money``: text ``[+-]digits[.digits]`` (no thousands separators, currency signs or
  exponents; digits past the cent only when they are zeros); decimals exactly (also when
  given as their unscaled integers, :mod:`settle.engine.unscaled_decimals`); integers as
  whole dollars; floats when ``x * 100`` is within 0.0001 of a whole number of cents.
* ``int``: text ``[+-]digits``; integer columns; integral floats and decimals.
* ``float``: decimal text with an optional exponent; any numeric column; never NaN or infinite.
* ``bool``: ``true/false``, ``t/f``, ``yes/no``, ``y/n``, ``1/0`` (any case); boolean columns;
  integer columns holding 0 or 1.
* ``text``: any text (stripped); typed columns are written as text.

Fast path (same results): a text id column whose every cell in a batch is already in its
canonical form (:func:`canonical_text_columns`: NPI, TIN, HCPCS, place of service, specialty
matching their format, claim type lower-case and known) is taken as it is, without stripping,
case folding, hyphen removal or padding; these cost ~0.35 s per million claim lines and change
nothing in clean feeds.  One malformed or non-canonical cell sends its whole column of the
batch through the full parse.  A dictionary-encoded column (the partition stage's code
columns) is judged by its dictionary's values instead (:func:`canonical_dictionary_columns`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from settle.engine.schemas import Column

# Schema metadata: the dictionary columns whose every value the writer found canonical (below).
CANONICAL_KEY = b"settle.canonical"

__all__ = [
    "CANONICAL_KEY",
    "MAX_WHOLE_DOLLAR_DIGITS",
    "ColumnParser",
    "canonical_dictionary_columns",
    "canonical_identifier_columns",
    "canonical_text_columns",
    "declared_canonical",
    "parser_for",
]

_DATE = r"^\d{4}-\d{2}-\d{2}$"
# Digits, an optional point, digits after the cent only when they are zeros.
_MONEY = r"^[+-]?(\d+(\.(\d{0,2}0*)?)?|\.\d{1,2}0*)$"
_INT = r"^[+-]?\d{1,18}$"
_FLOAT = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_CLAIM_TYPES = ["professional", "institutional"]  # canonical claim types (lower case)
MAX_WHOLE_DOLLAR_DIGITS = 15  # 10**15 dollars = 10**17 cents < 2**63
_FLOAT_CENT_TOLERANCE = 1e-4
_DECIMAL_DOLLAR_LIMIT = Decimal(10**MAX_WHOLE_DOLLAR_DIGITS)  # first amount out of range
_WIDTH = {"npi": 10, "tin": 9, "pos": 2, "specialty": 2}
_FORMAT_RE = {
    "npi": r"^\d{10}$",
    "tin": r"^\d{9}$",
    "hcpcs": r"^[0-9A-Z]{5}$",
    "pos": r"^\d{2}$",
    "specialty": r"^[0-9A-Z]{2}$",
}


@dataclass(frozen=True)
class ColumnParser:
    """How to turn one raw column into its canonical column (see the module docstring)."""

    column: Column
    raw: str
    dtype: pl.DataType
    canonical: bool = False  # every cell of the batch is already canonical (see module doc)
    unscaled: int | None = None  # money given as a decimal's unscaled int64, of this scale

    @property
    def is_text(self) -> bool:
        return self.dtype == pl.String

    def prep(self) -> pl.Expr:
        """Stage 1: stripped text (empty -> null), or the typed raw value."""
        col = pl.col(self.raw)
        if self.canonical:
            return col
        if self.is_text:
            return col.str.strip_chars().replace("", None)
        return col

    def value(self, p: pl.Expr) -> pl.Expr:
        """Stage 2: the canonical value from the prepared cell; null when malformed."""
        kind = self.column.kind
        if isinstance(self.dtype, pl.Null):
            return pl.lit(None, dtype=_POLARS[kind])
        return {
            "id": self._id,
            "text": self._text,
            "date": self._date,
            "money": self._money,
            "int": self._int,
            "float": self._float,
            "bool": self._bool,
        }[kind](p)

    def overflow(self, p: pl.Expr) -> pl.Expr | None:
        """Stage 2 (money only): the amount is well formed but too large for int64 cents."""
        if self.column.kind != "money" or isinstance(self.dtype, pl.Null) or self.unscaled is not None:
            return None
        if self.is_text or self._fine_decimal:
            text = p if self.is_text else p.cast(pl.String)
            valid, whole_digits, _ = _money_parts(text)
            return valid & (whole_digits > MAX_WHOLE_DOLLAR_DIGITS)
        if self._short_decimal:
            return None
        if isinstance(self.dtype, pl.Decimal):  # exactly: 999999999999999.99 is 1e15 as a float
            return p.abs() >= pl.lit(_DECIMAL_DOLLAR_LIMIT)
        return p.cast(pl.Float64).abs() >= 10.0**MAX_WHOLE_DOLLAR_DIGITS

    def text(self) -> pl.Expr:
        """The raw cell as text, for the ``value`` column of a reject."""
        col = pl.col(self.raw)
        if self.unscaled:  # the decimal's text, as Polars writes a decimal: "-0.05", "7.00"
            unit = 10**self.unscaled
            sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
            fraction = (col.abs() % unit).cast(pl.String).str.zfill(self.unscaled)
            return pl.concat_str([sign, (col.abs() // unit).cast(pl.String), pl.lit("."), fraction])
        return col if self.is_text else col.cast(pl.String)

    # --- one method per kind --------------------------------------------------------------

    def _as_code_text(self, p: pl.Expr) -> pl.Expr:
        """Typed ids as text: integers (zero-padded to a fixed code width), integral floats."""
        if self.is_text:
            return p
        width = _WIDTH.get(self.column.format or "")
        if self.dtype.is_integer():
            text = p.cast(pl.String)
        elif self.dtype.is_float():
            text = pl.when(p.is_finite() & (p == p.floor())).then(
                p.cast(pl.Int64, strict=False).cast(pl.String)
            )
        else:
            text = p.cast(pl.String)
        return text.str.zfill(width) if width else text

    def _id(self, p: pl.Expr) -> pl.Expr:
        if self.canonical:
            return p
        text = self._as_code_text(p)
        fmt = self.column.format
        if fmt is None:
            return text
        if fmt == "claim_type":
            lower = text.str.to_lowercase()
            return pl.when(lower.is_in(_CLAIM_TYPES)).then(lower)
        if fmt == "tin":
            text = text.str.replace_all("-", "", literal=True)
        elif fmt == "pos":
            text = text.str.zfill(2)
        elif fmt in ("hcpcs", "specialty"):
            text = text.str.to_uppercase()
            if fmt == "specialty":
                text = pl.when(text.str.contains(r"^\d$")).then(text.str.zfill(2)).otherwise(text)
        return pl.when(text.str.contains(_FORMAT_RE[fmt])).then(text)

    def _text(self, p: pl.Expr) -> pl.Expr:
        return p if self.is_text else p.cast(pl.String)

    def _date(self, p: pl.Expr) -> pl.Expr:
        if self.is_text:
            return pl.when(p.str.contains(_DATE)).then(p.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
        if isinstance(self.dtype, pl.Datetime):
            return p.dt.date()
        return p.cast(pl.Date)

    @property
    def _fine_decimal(self) -> bool:
        """A decimal with digits past the cent: parsed as text (rare; exact either way)."""
        return isinstance(self.dtype, pl.Decimal) and (self.dtype.scale or 0) > 2

    @property
    def _short_decimal(self) -> bool:
        """A decimal of at most two places whose whole part has too few digits to overflow
        int64 cents (``decimal(12, 2)``, say): no amount of it needs the range check."""
        if not isinstance(self.dtype, pl.Decimal) or self._fine_decimal or self.dtype.precision is None:
            return False
        return self.dtype.precision - (self.dtype.scale or 0) <= MAX_WHOLE_DOLLAR_DIGITS

    def _money(self, p: pl.Expr) -> pl.Expr:
        if self.unscaled is not None:  # exact: at most 15 whole digits (unscaled_money_scales)
            return p * 10 ** (2 - self.unscaled) if self.unscaled < 2 else p
        if self._short_decimal:
            return (p * 100).cast(pl.Int64)
        if isinstance(self.dtype, pl.Decimal) and not self._fine_decimal:
            small = p.abs() < pl.lit(_DECIMAL_DOLLAR_LIMIT)
            return pl.when(small).then((p * 100).cast(pl.Int64, strict=False))
        if self.is_text or self._fine_decimal:
            text = p if self.is_text else p.cast(pl.String)
            valid, whole_digits, cents = _money_parts(text)
            return pl.when(valid & (whole_digits <= MAX_WHOLE_DOLLAR_DIGITS)).then(cents).cast(pl.Int64)
        if self.dtype.is_integer():
            small = p.cast(pl.Float64).abs() < 10.0**MAX_WHOLE_DOLLAR_DIGITS
            return pl.when(small).then(p.cast(pl.Int64, strict=False) * 100)
        scaled = p.cast(pl.Float64) * 100.0
        whole_cents = scaled.round(0)
        ok = scaled.is_finite() & ((scaled - whole_cents).abs() <= _FLOAT_CENT_TOLERANCE)
        ok = ok & (scaled.abs() < 10.0 ** (MAX_WHOLE_DOLLAR_DIGITS + 2))
        return pl.when(ok).then(whole_cents.cast(pl.Int64, strict=False))

    def _int(self, p: pl.Expr) -> pl.Expr:
        if self.is_text:
            return pl.when(p.str.contains(_INT)).then(p.str.to_integer(strict=False))
        if self.dtype.is_integer():
            return p.cast(pl.Int64, strict=False)
        as_float = p.cast(pl.Float64)
        integral = as_float.is_finite() & (as_float == as_float.floor()) & (as_float.abs() < 2.0**62)
        return pl.when(integral).then(as_float.cast(pl.Int64, strict=False))

    def _float(self, p: pl.Expr) -> pl.Expr:
        value = (
            pl.when(p.str.contains(_FLOAT)).then(p.cast(pl.Float64, strict=False))
            if self.is_text
            else p.cast(pl.Float64, strict=False)
        )
        return pl.when(value.is_finite()).then(value)

    def _bool(self, p: pl.Expr) -> pl.Expr:
        if self.is_text:
            lower = p.str.to_lowercase()
            return pl.when(lower.is_in(_TRUE)).then(True).when(lower.is_in(_FALSE)).then(False)
        if self.dtype == pl.Boolean:
            return p
        return pl.when(p == 1).then(True).when(p == 0).then(False)


def _money_parts(text: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(well formed, number of whole-dollar digits, cents) of dollar text.

    The point is removed and the digits read as one integer, scaled by the number of decimals:
    ``12.5`` -> 125 x 10 = 1250 cents.  Decimals past the cent (zeros, by the shape check) are
    cut first.  Cents are meaningful only where the text is well formed.
    """
    dot = text.str.find(".", literal=True)
    length = text.str.len_bytes()
    decimals = pl.when(dot.is_null()).then(0).otherwise(length - dot - 1)
    cut = pl.when(decimals > 2).then(text.str.slice(0, dot + 3)).otherwise(text)
    digits = cut.str.replace(".", "", literal=True).str.to_integer(strict=False)
    kept = pl.min_horizontal(decimals, 2)
    cents = pl.when(kept == 0).then(digits * 100).when(kept == 1).then(digits * 10).otherwise(digits)
    signed = text.str.starts_with("-") | text.str.starts_with("+")
    whole_digits = pl.coalesce(dot, length) - signed.cast(pl.UInt32)
    return text.str.contains(_MONEY), whole_digits, cents


_POLARS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "text": pl.String(),
    "date": pl.Date(),
    "money": pl.Int64(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
}


def parser_for(
    column: Column, raw: str, dtype: pl.DataType, *, canonical: bool = False, unscaled: int | None = None
) -> ColumnParser:
    """The parser of ``column`` for a raw column named ``raw`` of Polars type ``dtype``
    (``canonical``: every cell is known to be canonical already, :func:`canonical_text_columns`;
    ``unscaled``: a money column given as the unscaled ``int64`` values of a decimal of this
    scale, :func:`~settle.engine.unscaled_decimals.unscaled_money_scales`)."""
    return ColumnParser(column, raw, dtype, canonical, unscaled)


def _canonical_form(fmt: str, col: pl.Expr) -> pl.Expr:
    """Whether a text cell is already exactly what the full parse would make of it."""
    if fmt == "claim_type":
        return col.is_in(_CLAIM_TYPES)
    return col.str.contains(_FORMAT_RE[fmt])


def canonical_dictionary_columns(raw: pa.Table, columns: dict[str, Column]) -> set[str]:
    """The dictionary-encoded text columns of ``raw`` (of ``columns``: raw name -> column, every
    name a column of ``raw``) with a format, or labels (kind ``text``), whose every
    **dictionary value** is already canonical (:func:`canonical_text_columns` for text
    columns; a label is canonical when stripping white space leaves it unchanged and not empty).

    The partition stage hands code columns over as dictionaries; their values are the distinct
    codes (about 4,000 NPIs in a 1.75 M-line partition), so the check costs nothing next to
    casting every cell to text and hashing it (0.17 s a partition, one thread).  A dictionary
    may hold values no row uses: such a value can only send a clean column through the full
    parse, never let a malformed one through.  The patterns run in Arrow (RE2, whose ``\\d``
    is ASCII only): stricter than Polars' Unicode ``\\d``, so never canonical where the full
    parse would change a value.

    A column named in the table's schema metadata under :data:`CANONICAL_KEY` is taken as
    canonical without looking: the cluster's partition stage checks each task's whole
    dictionary of a code column once and says so in the pieces it writes (every dictionary a
    piece's batches carry is a subset of it), since at 10M members a partition's batches carry
    1.7 M NPIs between them, concatenated from 56 pieces, where its task dictionaries hold
    38,700.  Raw input batches never carry the key (``settle.engine.readers`` drops the schema
    metadata of what it reads)."""
    declared = set(declared_canonical(raw.schema))
    found = set()
    for raw_name, c in columns.items():
        if c.kind != "text" and (c.kind != "id" or c.format not in _CANONICAL_FORMATS):
            continue
        column = raw.column(raw_name)
        if not pa.types.is_dictionary(column.type) or not pa.types.is_string(column.type.value_type):
            continue
        if raw_name in declared:
            found.add(raw_name)
            continue
        seen: set[int] = set()
        ok = True
        for chunk in column.chunks:
            dictionary = chunk.dictionary
            if id(dictionary) in seen or len(dictionary) == 0:
                continue
            seen.add(id(dictionary))
            if c.kind == "text":  # a label: already stripped (Polars' rule, as in prep) and not empty
                values = pl.Series(dictionary.cast(pa.string()))
                good = ((values.str.strip_chars() == values) & (values != "")).to_arrow()
            elif c.format == "claim_type":
                good = pc.is_in(dictionary, value_set=pa.array(_CLAIM_TYPES))
            else:
                good = pc.match_substring_regex(dictionary, _FORMAT_RE[c.format or ""])
            if dictionary.null_count or not pc.all(good).as_py():
                ok = False
                break
        if ok:
            found.add(raw_name)
    return found


def canonical_identifier_columns(raw: pa.Table, columns: dict[str, Column]) -> set[str]:
    """The text columns of ``raw`` holding identifiers without a format (claim, member, group
    ids: of ``columns``, raw name -> column) whose every non-null cell is already what the full
    parse makes of it: not empty, and starting and ending with a printable ASCII character
    other than a space, so that stripping white space changes nothing.

    Judged from the bytes alone (each cell's first and last byte, read through the offsets),
    without building a stripped copy of the column: one 1.9 M-line partition, one thread,
    about 5 ms a column against 45 ms for stripping every cell.  A cell that starts or ends
    with any other byte (a space, a tab, the first byte of a multi-byte character, which may
    be Unicode white space) sends the column through the full parse."""
    found = set()
    for raw_name, c in columns.items():
        if c.kind != "id" or c.format is not None:
            continue
        column = raw.column(raw_name)
        if column.type != pa.string() or len(column) == 0:
            continue
        if all(_printable_ends(chunk) for chunk in column.chunks):
            found.add(raw_name)
    return found


def _printable_ends(chunk: pa.StringArray) -> bool:
    """Whether every non-null cell of ``chunk`` is not empty and its first and last bytes are
    printable ASCII other than a space (0x21-0x7e)."""
    if len(chunk) == chunk.null_count:
        return True
    _, offset_buffer, data_buffer = chunk.buffers()
    if data_buffer is None:
        return False  # every non-null cell is empty: missing, for the full parse
    offsets = np.frombuffer(offset_buffer, dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    ends = None if chunk.null_count else _uniform_ends(offsets, data)
    if ends is None:
        starts, stops = offsets[:-1], offsets[1:]
        if chunk.null_count:
            valid = chunk.is_valid().to_numpy(zero_copy_only=False)
            starts, stops = starts[valid], stops[valid]
        if bool((stops <= starts).any()):
            return False  # an empty cell: missing, for the full parse
        ends = data[starts], data[stops - 1]
    first, last = ends
    return bool(((first - np.uint8(0x21)) < 0x5E).all() and ((last - np.uint8(0x21)) < 0x5E).all())


def _uniform_ends(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The first and last bytes of every cell where the cells are all of one byte length, not
    zero (ids of one format): their bytes are an n x length matrix in place, whose first and
    last columns are strided views, where the general path gathers them through the offsets
    (one 1M partition's claim ids, 1.86 M cells: 16 -> 5 ms).  ``None`` when lengths differ."""
    n = len(offsets) - 1
    width = int(offsets[1] - offsets[0])
    if width <= 0 or int(offsets[-1] - offsets[0]) != n * width:
        return None
    if not bool((np.diff(offsets) == width).all()):
        return None
    start = int(offsets[0])
    cells = data[start : start + n * width].reshape(n, width)
    return cells[:, 0], cells[:, width - 1]


def canonical_text_columns(frame: pl.DataFrame, columns: dict[str, Column]) -> set[str]:
    """The raw text columns (of ``columns``: raw name -> column) with a format whose every
    non-null cell is already canonical, found in one pass over ``frame``.

    Each column's distinct values are checked rather than every cell: codes repeat (a shard of
    1.4 M claim lines holds about 800 NPIs, 100 TINs and 100 HCPCS codes), and one hash pass
    plus a regular expression per distinct value is about three times cheaper than the
    expression on every cell (0.30 -> 0.10 s for the five code columns of 1.4 M lines)."""
    checks = [
        _canonical_form(c.format, pl.col(raw).unique()).all().alias(raw)
        for raw, c in columns.items()
        if c.kind == "id" and c.format in _CANONICAL_FORMATS and frame.schema[raw] == pl.String
    ]
    if not checks or frame.height == 0:
        return set()
    found = frame.select(checks).row(0, named=True)
    return {raw for raw, ok in found.items() if ok}


_CANONICAL_FORMATS = frozenset({*_FORMAT_RE, "claim_type"})


def declared_canonical(schema: pa.Schema) -> list[str]:
    """The columns a table's schema declares canonical (:data:`CANONICAL_KEY`)."""
    raw = (schema.metadata or {}).get(CANONICAL_KEY, b"")
    return [name for name in raw.decode().split(",") if name]

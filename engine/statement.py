"""Statements: the ordered, named steps from a settlement's inputs to its final amount.

A :class:`Statement` is what an actuary reads to follow one settlement (one contract × entity,
or contract × entity × employer group) by hand.  Each :class:`Step` has a machine name, a
human label (the formula in words), a figure and the figure's unit.

**Rounding happens here and only here** (:class:`StatementBuilder`), so the rules are applied
in one place (also written in ``docs/contracts.md``):

* a money figure is computed exactly (``Decimal`` dollars) and rounded half-to-even to the
  cent **once**, when its step is published (:meth:`StatementBuilder.money`, through
  :func:`settle.engine.money.round_cents`); later steps use the published cents, so every
  figure on a statement can be recomputed by hand from the figures above it;
* a money figure that is an exact sum, difference, minimum or maximum of published cents is
  published as it is (:meth:`StatementBuilder.cents`), no rounding needed;
* a rate that is a quotient (a savings rate G/B, a risk ratio, an interpolated minimum savings
  rate, an earned fraction) is rounded half-to-even to :data:`RATE_PLACES` decimal places when
  published (:meth:`StatementBuilder.ratio`), and the published value is what later steps use;
* a rate given in the terms, or an exact product of such rates (a final sharing rate = sharing
  rate × quality score), is published exactly (:meth:`StatementBuilder.rate`).

Statements render as JSON (:meth:`Statement.to_json`), CSV rows (:func:`statements_to_csv`) and
a plain-text table (:meth:`Statement.to_text`).  Money figures are printed as dollars with two
decimals; in JSON they are also given in integer cents.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, NamedTuple

import pyarrow as pa

from settle.engine.money import cents_to_str, round_cents

__all__ = [
    "PAYMENT_STREAMS",
    "RATE_PLACES",
    "STATEMENT_STEPS_SCHEMA",
    "Direction",
    "Statement",
    "StatementBuilder",
    "Step",
    "Unit",
    "statements_to_csv",
]

RATE_PLACES = 10
"""Decimal places to which a quotient rate is rounded (half-to-even) when it is published."""

_RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)

Unit = Literal[
    "usd", "usd_pmpm", "rate", "score", "ratio", "count", "member_months", "flag", "date", "days", "text"
]
"""``usd``: money in cents (printed as dollars); ``usd_pmpm``: dollars per member month, in
cents; ``rate``/``score``/``ratio``: decimals; ``count``/``member_months``/``days``: numbers;
``flag``: true/false; ``date``: ISO date text; ``text``: a word (e.g. which rule applied)."""

Direction = Literal["payer_to_entity", "entity_to_payer", "none"]

PAYMENT_STREAMS = {
    "ssp": "Shared savings percent (one-sided, no quality gate)",
    "ssq": "Shared savings gated on quality",
    "ssl": "Shared savings loss percent (two-sided)",
    "tcoc": "Total cost of care",
    "ccf": "Care coordination fee",
    "ccf-with-risk": "Care coordination fee with risk adjustment",
    "p4p": "Pay for performance",
    "qip": "Quality incentive payment",
}
"""HL7 Da Vinci VBPR payment-stream codes (CodeSystem ``payment-stream``) used by Settle."""

Figure = int | Decimal | bool | str


class Step(NamedTuple):
    """One named step of a statement.  Money (``usd``, ``usd_pmpm``) is integer cents.

    A named tuple rather than a frozen dataclass: equally immutable, and about five times
    cheaper to make (a settlement of 46,000 statements makes 880,000 steps)."""

    name: str
    label: str
    value: Figure
    unit: Unit

    def display(self) -> str:
        """The figure as printed: dollars with two decimals for money, exact text otherwise."""
        return _display(self.value, self.unit)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label, "unit": self.unit}
        if self.unit in ("usd", "usd_pmpm") and isinstance(self.value, int):
            out["value"] = cents_to_str(self.value)
            out["cents"] = self.value
        elif isinstance(self.value, bool | int):
            out["value"] = self.value
        else:
            out["value"] = self.display()
        return out


def _display(v: Figure, unit: str) -> str:
    """:meth:`Step.display` of a value and its unit."""
    if unit in ("usd", "usd_pmpm") and isinstance(v, int) and not isinstance(v, bool):
        return cents_to_str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return _decimal_text(v)
    return str(v)


def _decimal_text(value: Decimal) -> str:
    """Plain positional text of a decimal, without exponent or trailing zeros after the point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Statement:
    """A settlement's statement: who, what, the steps, and the signed final amount.

    ``amount_cents`` is positive when paid to the entity, negative when owed by it.
    """

    contract_id: str
    kind: str
    entity_id: str
    group_id: str | None
    period: str | None
    payment_stream: str
    steps: tuple[Step, ...]
    amount_cents: int

    @property
    def direction(self) -> Direction:
        if self.amount_cents > 0:
            return "payer_to_entity"
        if self.amount_cents < 0:
            return "entity_to_payer"
        return "none"

    def step(self, name: str) -> Step:
        """The step called ``name`` (KeyError if the statement has none)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def value(self, name: str) -> Figure:
        return self.step(name).value

    def as_dict(self) -> dict[str, Any]:
        return {
            "contract_id": self.contract_id,
            "kind": self.kind,
            "entity_id": self.entity_id,
            "group_id": self.group_id,
            "period": self.period,
            "payment_stream": self.payment_stream,
            "amount": cents_to_str(self.amount_cents),
            "amount_cents": self.amount_cents,
            "direction": self.direction,
            "steps": [s.as_dict() for s in self.steps],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def to_text(self) -> str:
        """A plain-text table: one line per step, then the final amount and its direction."""
        who = self.entity_id + (f" / group {self.group_id}" if self.group_id else "")
        head = f"Statement: contract {self.contract_id} ({self.kind}, {self.payment_stream}), entity {who}"
        if self.period:
            head += f", period {self.period}"
        rows = [(str(i), s.label, s.display(), s.unit) for i, s in enumerate(self.steps, 1)]
        rows.append(
            (
                "",
                "Final amount (" + self.direction.replace("_", " ") + ")",
                cents_to_str(self.amount_cents),
                "usd",
            )
        )
        widths = [max(len(r[c]) for r in [*rows, ("#", "step", "figure", "unit")]) for c in range(4)]
        lines = [head, ""]
        header = ("#", "step", "figure", "unit")
        lines.append(
            f"{header[0]:>{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]}"
        )
        lines.append("-" * (sum(widths) + 6 + 2))
        for r in rows:
            lines.append(f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
        return "\n".join(lines) + "\n"


CSV_COLUMNS = (
    "contract_id",
    "kind",
    "entity_id",
    "group_id",
    "period",
    "payment_stream",
    "step_number",
    "step",
    "label",
    "value",
    "unit",
    "amount",
    "direction",
)


def _step_rows(statements: Iterable[Statement]) -> Iterable[tuple[Any, ...]]:
    """One row per step (columns :data:`CSV_COLUMNS`), the statement's final amount repeated."""
    for st in statements:
        for i, s in enumerate(st.steps, 1):
            yield (
                st.contract_id,
                st.kind,
                st.entity_id,
                st.group_id,
                st.period,
                st.payment_stream,
                i,
                s.name,
                s.label,
                s.display(),
                s.unit,
                cents_to_str(st.amount_cents),
                st.direction,
            )


def statements_to_csv(statements: Iterable[Statement]) -> str:
    """Statements as CSV text: one row per step, with the statement's final amount repeated."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _step_rows(statements):
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


STATEMENT_STEPS_SCHEMA = pa.schema(
    [pa.field(c, pa.int32() if c == "step_number" else pa.string()) for c in CSV_COLUMNS]
    + [pa.field("amount_cents", pa.int64())]
)


@dataclass
class StatementBuilder:
    """Collects a statement's steps; the one place where figures are rounded (see module doc)."""

    contract_id: str
    kind: str
    entity_id: str
    group_id: str | None
    period: str | None
    payment_stream: str
    steps: list[Step] = field(default_factory=list)
    _names: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def _add(self, name: str, label: str, value: Figure, unit: Unit) -> None:
        if name in self._names:
            raise ValueError(f"step {name!r} published twice")
        self._names.add(name)
        self.steps.append(Step(name, label, value, unit))

    def money(self, name: str, label: str, dollars: Decimal, unit: Unit = "usd") -> int:
        """Publish an exact dollar figure rounded half-to-even to the cent; return the cents."""
        cents = round_cents(dollars)
        self._add(name, label, cents, unit)
        return cents

    def cents(self, name: str, label: str, cents: int, unit: Unit = "usd") -> int:
        """Publish a figure already in exact cents (a sum, difference, min or max of cents)."""
        self._add(name, label, int(cents), unit)
        return int(cents)

    def ratio(self, name: str, label: str, exact: Decimal, unit: Unit = "ratio") -> Decimal:
        """Publish a quotient rounded half-to-even to RATE_PLACES places; return what was published."""
        published = exact.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_EVEN)
        self._add(name, label, published, unit)
        return published

    def rate(self, name: str, label: str, exact: Decimal, unit: Unit = "rate") -> Decimal:
        """Publish an exact rate (given in terms, or an exact product of given rates)."""
        self._add(name, label, exact, unit)
        return exact

    def number(self, name: str, label: str, value: int | Decimal, unit: Unit = "count") -> int | Decimal:
        """Publish a count, member months or days, exactly."""
        self._add(name, label, value, unit)
        return value

    def flag(self, name: str, label: str, value: bool) -> bool:
        self._add(name, label, value, "flag")
        return value

    def text(self, name: str, label: str, value: str, unit: Unit = "text") -> str:
        self._add(name, label, value, unit)
        return value

    def build(self, amount_cents: int) -> Statement:
        return Statement(
            self.contract_id,
            self.kind,
            self.entity_id,
            self.group_id,
            self.period,
            self.payment_stream,
            tuple(self.steps),
            amount_cents,
        )

"""What-if: settle a shared-savings contract from aggregates a user types in.

``settle whatif CONTRACT AGGREGATES [-o OUT.csv]`` reads AGGREGATES (CSV or Parquet, one row
per entity) with :func:`read_aggregates`, settles it with :func:`whatif` and writes the result
with :func:`write_whatif`.  The contract document needs only ``id``, ``kind`` and ``terms``
(every other section has defaults); the kind must be ``shared_savings``.

AGGREGATES columns (names as in issue 5; money in decimal dollars, never fractions of a cent):

=======================  ========  ==========================================================
column                   required  meaning
=======================  ========  ==========================================================
entity_id                yes       the entity (unique per file)
attributed_members       yes       attributed (assigned) members, an integer ≥ 0
member_months            yes       member months ≥ 0 (may be fractional)
benchmark_expenditure    yes       B, dollars > 0
actual_expenditure       yes       A, dollars ≥ 0
quality_score            yes       0–1 (may be empty when the terms' quality_mode is not scale)
met_quality_standard     yes       true/false (also 1/0, yes/no, t/f)
min_savings_rate         no        per-row MSR overriding the terms (a fraction, e.g. 0.02)
min_loss_rate            no        per-row MLR overriding the terms
loss_relief              no        dollars removed from a shared loss after the caps
loss_cap_amount          no        dollars; the shared loss is at most this
=======================  ========  ==========================================================

An empty optional cell means "use the terms".  A malformed file, row or cell raises
:class:`AggregatesError` naming the file, the row (1-based record number, header not
counted) and the column.

Output (:func:`whatif`), one row per input row in input order: ``entity_id``,
``attributed_members``, ``member_months``, ``benchmark_expenditure``, ``actual_expenditure``,
``gross_savings``, ``savings_rate``, ``min_savings_rate``, ``threshold_met`` (the savings
threshold, or for a two-sided contract the loss threshold, was met), ``final_sharing_rate``,
``loss_rate`` (null unless a loss was shared), ``earned_savings``, ``owed_losses``,
``settlement_amount`` (dollars: + paid to the entity, − owed by it), ``settlement_cents``,
``direction``, ``payment_stream``.  Money columns are ``decimal128(20, 2)``; rates are
``decimal128(24, 10)`` (the statement's published figures; a rate given with more than ten
decimals is shown rounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from settle.engine.contracts.common import Settlement
from settle.engine.contracts.inputs import EntityAggregates, Overrides
from settle.engine.contracts.models import SharedSavingsContract, parse_contract
from settle.engine.contracts.shared_savings import settle_shared_savings
from settle.engine.errors import AggregatesError, ContractError
from settle.engine.money import cents_to_decimal, dollars_to_cents

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "aggregates_from_table",
    "read_aggregates",
    "whatif",
    "whatif_settlements",
    "write_whatif",
]

REQUIRED_COLUMNS = (
    "entity_id",
    "attributed_members",
    "member_months",
    "benchmark_expenditure",
    "actual_expenditure",
    "quality_score",
    "met_quality_standard",
)
OPTIONAL_COLUMNS = ("min_savings_rate", "min_loss_rate", "loss_relief", "loss_cap_amount")

MONEY = pa.decimal128(20, 2)
RATE = pa.decimal128(24, 10)
_RATE_Q = Decimal(1).scaleb(-10)
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


def read_aggregates(path: str | Path) -> pa.Table:
    """Read an AGGREGATES file (``.parquet``/``.pq`` as Parquet, anything else as CSV).

    CSV cells are read as text (parsed strictly by :func:`aggregates_from_table`).  Raises
    :class:`AggregatesError` if the file cannot be read or lacks a required column."""
    p = Path(path)
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            table = pq.read_table(p)
        else:
            with p.open("rb") as fh:
                head = fh.readline().decode("utf-8-sig").strip()
            names = [n.strip().strip('"') for n in head.split(",")]
            table = pacsv.read_csv(
                p,
                read_options=pacsv.ReadOptions(use_threads=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=True
                ),
            )
    except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
        raise AggregatesError(f"{p}: cannot read the aggregates file: {exc}") from exc
    table = table.rename_columns([c.lstrip("\ufeff").strip() for c in table.column_names])
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise AggregatesError(
            f"{p}: missing required column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}"
            f"; optional: {', '.join(OPTIONAL_COLUMNS)}."
        )
    return table


def aggregates_from_table(table: pa.Table, source: str = "aggregates") -> list[EntityAggregates]:
    """Parse and validate every row into :class:`EntityAggregates` (errors name row and column)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise AggregatesError(f"{source}: missing required column(s) {', '.join(missing)}.")
    columns = {
        c: table.column(c).to_pylist()
        for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
        if c in table.column_names
    }
    out: list[EntityAggregates] = []
    seen: dict[str, int] = {}
    for i in range(table.num_rows):
        row = i + 1
        cell = _Cells(columns, i, row, source)
        entity = cell.text("entity_id")
        if entity in seen:
            raise AggregatesError(
                f"{source}, row {row}, column entity_id: entity {entity!r} repeats row "
                f"{seen[entity]}; one row per entity."
            )
        seen[entity] = row
        benchmark = cell.cents("benchmark_expenditure")
        if benchmark is None or benchmark <= 0:
            raise cell.error("benchmark_expenditure", "must be a positive dollar amount")
        actual = cell.cents("actual_expenditure")
        if actual is None:
            raise cell.error("actual_expenditure", "is required")
        relief = cell.cents("loss_relief")
        out.append(
            EntityAggregates(
                entity_id=entity,
                attributed_members=cell.integer("attributed_members"),
                member_months=cell.decimal("member_months", required=True, low=Decimal(0)) or Decimal(0),
                benchmark_cents=benchmark,
                actual_cents=actual,
                quality_score=cell.decimal("quality_score", low=Decimal(0), high=Decimal(1)),
                met_quality_standard=cell.boolean("met_quality_standard"),
                overrides=Overrides(
                    min_savings_rate=cell.decimal("min_savings_rate", low=Decimal(0), high=Decimal(1)),
                    min_loss_rate=cell.decimal("min_loss_rate", low=Decimal(0), high=Decimal(1)),
                    loss_relief_cents=relief or 0,
                    loss_cap_cents=cell.cents("loss_cap_amount"),
                ),
            )
        )
    return out


class _Cells:
    """Strict parsing of one row's cells; every error names the source, row and column."""

    def __init__(self, columns: dict[str, list[Any]], index: int, row: int, source: str) -> None:
        self.columns, self.index, self.row, self.source = columns, index, row, source

    def error(self, column: str, problem: str) -> AggregatesError:
        return AggregatesError(f"{self.source}, row {self.row}, column {column}: {problem}.")

    def raw(self, column: str) -> Any:
        values = self.columns.get(column)
        value = None if values is None else values[self.index]
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def text(self, column: str) -> str:
        value = self.raw(column)
        if value is None:
            raise self.error(column, "is empty")
        return str(value)

    def decimal(
        self, column: str, *, required: bool = False, low: Decimal | None = None, high: Decimal | None = None
    ) -> Decimal | None:
        value = self.raw(column)
        if value is None:
            if required:
                raise self.error(column, "is empty")
            return None
        if isinstance(value, bool):
            raise self.error(column, f"{value!r} is not a number")
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        except InvalidOperation:
            raise self.error(column, f"{value!r} is not a number") from None
        if not number.is_finite():
            raise self.error(column, f"{value!r} is not a finite number")
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.error(column, f"{value!r} must be {bounds}")
        return number

    def integer(self, column: str) -> int:
        number = self.decimal(column, required=True, low=Decimal(0))
        assert number is not None
        if number != number.to_integral_value():
            raise self.error(column, f"{number} is not a whole number")
        return int(number)

    def cents(self, column: str) -> int | None:
        number = self.decimal(column)
        if number is None:
            return None
        try:
            return dollars_to_cents(number)
        except ValueError:
            raise self.error(column, f"{number} has a fraction of a cent") from None

    def boolean(self, column: str) -> bool:
        value = self.raw(column)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        text = str(value).lower() if value is not None else ""
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.error(column, f"{value!r} is not true or false")


def _contract(contract_doc: dict[str, Any], source: str) -> SharedSavingsContract:
    contract = parse_contract(contract_doc, source)
    if not isinstance(contract, SharedSavingsContract):
        raise ContractError(
            f"{source}: contract {contract.id!r} is of kind {contract.kind}; what-if settles kind "
            "shared_savings only.",
            field="kind",
            source=source,
        )
    return contract


def whatif_settlements(
    contract_doc: dict[str, Any],
    aggregates: pa.Table,
    *,
    source: str = "aggregates",
    contract_source: str = "contract",
) -> list[Settlement]:
    """The full settlements (statements and ledger entries) of a what-if, in row order."""
    contract = _contract(contract_doc, contract_source)
    return [settle_shared_savings(contract, agg) for agg in aggregates_from_table(aggregates, source)]


def whatif(
    contract_doc: dict[str, Any],
    aggregates: pa.Table,
    *,
    source: str = "aggregates",
    contract_source: str = "contract",
) -> pa.Table:
    """Settle every row of ``aggregates`` under the contract; one output row per entity."""
    return _to_table(
        whatif_settlements(contract_doc, aggregates, source=source, contract_source=contract_source)
    )


def _money(cents: Any) -> Decimal | None:
    return None if cents is None else cents_to_decimal(int(cents))


def _rate(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(_RATE_Q, rounding=ROUND_HALF_EVEN)


def _to_table(settlements: Sequence[Settlement]) -> pa.Table:
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "entity_id",
            "attributed_members",
            "member_months",
            "benchmark_expenditure",
            "actual_expenditure",
            "gross_savings",
            "savings_rate",
            "min_savings_rate",
            "threshold_met",
            "final_sharing_rate",
            "loss_rate",
            "earned_savings",
            "owed_losses",
            "settlement_amount",
            "settlement_cents",
            "direction",
            "payment_stream",
        )
    }
    for s in settlements:
        st = s.statement
        steps = {step.name: step.value for step in st.steps}
        rows["entity_id"].append(st.entity_id)
        rows["attributed_members"].append(steps["attributed_members"])
        rows["member_months"].append(str(steps["member_months"]))
        rows["benchmark_expenditure"].append(_money(steps["benchmark_expenditure"]))
        rows["actual_expenditure"].append(_money(steps["actual_expenditure"]))
        rows["gross_savings"].append(_money(steps["gross_savings"]))
        rows["savings_rate"].append(_rate(steps["savings_rate"]))
        rows["min_savings_rate"].append(_rate(steps["min_savings_rate"]))
        rows["threshold_met"].append(bool(steps["threshold_met"]) or bool(steps.get("loss_threshold_met")))
        rows["final_sharing_rate"].append(_rate(steps["final_sharing_rate"]))
        rows["loss_rate"].append(_rate(steps.get("loss_rate")))
        rows["earned_savings"].append(_money(steps.get("earned_savings", 0)))
        rows["owed_losses"].append(_money(steps.get("owed_losses", 0)))
        rows["settlement_amount"].append(_money(st.amount_cents))
        rows["settlement_cents"].append(st.amount_cents)
        rows["direction"].append(st.direction)
        rows["payment_stream"].append(st.payment_stream)
    types: dict[str, pa.DataType] = {
        "entity_id": pa.string(),
        "attributed_members": pa.int64(),
        "member_months": pa.string(),
        "threshold_met": pa.bool_(),
        "settlement_cents": pa.int64(),
        "direction": pa.string(),
        "payment_stream": pa.string(),
    }
    for name in ("savings_rate", "min_savings_rate", "final_sharing_rate", "loss_rate"):
        types[name] = RATE
    return pa.table({k: pa.array(v, types.get(k, MONEY)) for k, v in rows.items()})


def write_whatif(table: pa.Table, path: str | Path) -> None:
    """Write a what-if result: Parquet for ``.parquet``/``.pq``, CSV otherwise."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, p)
    else:
        pacsv.write_csv(table, p)

"""Statements render (JSON, CSV, text); the ledger refuses what does not conserve."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from settle.engine.errors import InvariantViolation
from settle.engine.ledger import (
    LedgerEntry,
    balances,
    check_ledger,
    ledger_to_table,
    split_across_groups,
    totals_table,
    transfer,
)
from settle.engine.statement import Statement, StatementBuilder, Step, Unit, _step_rows, statements_to_csv
from settle.engine.statement_frame import figure_columns, statement_steps
from settle.engine.statement_render import (
    json_array,
    render_batch,
    render_statements,
    statements_to_json,
    statements_to_table,
)


def _statement() -> StatementBuilder:
    sb = StatementBuilder("c1", "shared_savings", "E1", None, "2025-01-01/2025-12-31", "ssq")
    sb.cents("benchmark_expenditure", "Benchmark B", 60_000_000)
    sb.ratio("savings_rate", "r = G / B", Decimal(1) / Decimal(3), "rate")
    # 0.125 → half-even 0.12; 0.135 → 0.14 (rounded once, where published).
    sb.money("a", "a figure", Decimal("0.125"))
    sb.money("b", "another", Decimal("0.135"))
    sb.flag("threshold_met", "met", True)
    return sb


def test_builder_rounds_once_half_even() -> None:
    st = _statement().build(-12345)
    assert st.value("savings_rate") == Decimal("0.3333333333")
    assert st.value("a") == 12 and st.value("b") == 14
    assert st.direction == "entity_to_payer"


def test_builder_refuses_a_step_twice() -> None:
    sb = _statement()
    with pytest.raises(ValueError, match="twice"):
        sb.cents("a", "again", 1)


def test_renderings() -> None:
    st = _statement().build(-12345)
    data = json.loads(st.to_json())
    assert data["amount"] == "-123.45" and data["amount_cents"] == -12345
    assert data["steps"][0] == {
        "name": "benchmark_expenditure",
        "label": "Benchmark B",
        "unit": "usd",
        "value": "600000.00",
        "cents": 60_000_000,
    }
    assert data["steps"][1]["value"] == "0.3333333333"
    assert json.loads(statements_to_json([st]))[0]["direction"] == "entity_to_payer"
    rows = list(csv.DictReader(io.StringIO(statements_to_csv([st, st]))))
    assert len(rows) == 10 and rows[0]["value"] == "600000.00" and rows[4]["value"] == "true"
    text = st.to_text()
    assert "Benchmark B" in text and "600000.00" in text and "-123.45" in text
    assert "entity to payer" in text


def test_table_holds_the_csv_rows_with_each_statements_fields_on_its_own_steps() -> None:
    first = _statement().build(-12345)
    other = StatementBuilder("c2", "bonus_pool", "E2", "G7", None, "p4p")
    other.cents("pool", "Pool", 500)
    second = other.build(500)
    table = statements_to_table([first, second, first])
    rows = list(csv.DictReader(io.StringIO(statements_to_csv([first, second, first]))))
    assert table.num_rows == len(rows) == 11
    got = table.to_pylist()
    for row, expected in zip(got, rows, strict=True):
        assert {k: "" if v is None else str(v) for k, v in row.items() if k != "amount_cents"} == expected
    assert [r["amount_cents"] for r in got] == [-12345] * 5 + [500] + [-12345] * 5
    assert got[5]["group_id"] == "G7" and got[5]["period"] is None and got[5]["step_number"] == 1
    assert statements_to_table([]).num_rows == 0


def _entry(debit: str, credit: str, cents: int) -> LedgerEntry:
    return LedgerEntry(debit, credit, cents, "c1", None, "test", "E1", None)


def test_transfer_skips_zero_and_flips_negative() -> None:
    kw = {"contract_id": "c1", "period": None, "reason": "x", "entity_id": "E1", "group_id": None}
    assert transfer("a", "b", 0, **kw) == []  # type: ignore[arg-type]
    (e,) = transfer("a", "b", -5, **kw)  # type: ignore[arg-type]
    assert (e.credit, e.debit, e.amount_cents) == ("b", "a", 5)


def test_check_ledger_refuses_an_open_pool_and_bad_amounts() -> None:
    pool = "pool:c1:E1:G1"
    ok = [_entry(pool, "group:G1", 100), _entry("entity:E1", pool, 60), _entry("group:G1", pool, 40)]
    check_ledger(ok)
    with pytest.raises(InvariantViolation, match="off by 1 cents"):
        check_ledger([*ok[:2], _entry("group:G1", pool, 39)])
    with pytest.raises(InvariantViolation, match="non-positive"):
        check_ledger([_entry("a", "b", 0)])
    with pytest.raises(InvariantViolation, match="to itself"):
        check_ledger([_entry("a", "a", 3)])


def test_split_and_tables() -> None:
    # 100 cents over member months 1.5 : 1.5 : 1 → 37.5, 37.5, 25 → floors 37, 37, 25; the one
    # cent left goes to the first of the tied remainders.
    assert split_across_groups(100, [("A", Decimal("1.5")), ("B", Decimal("1.5")), ("C", Decimal(1))]) == [
        ("A", 38),
        ("B", 37),
        ("C", 25),
    ]
    entries = [_entry("entity:E1", "group:G1", 500), _entry("group:G1", "entity:E1", 200)]
    table = ledger_to_table(entries)
    assert table.column("amount_cents").to_pylist() == [500, 200]
    totals = totals_table(entries).to_pylist()
    assert totals == [
        {"account": "entity:E1", "debits_cents": 500, "credits_cents": 200, "balance_cents": 300},
        {"account": "group:G1", "debits_cents": 200, "credits_cents": 500, "balance_cents": -300},
    ]
    assert balances(entries) == {"entity:E1": 300, "group:G1": -300}


_TEXT = st.text(max_size=12)  # any text: quotes, backslashes, control and non-ASCII characters
_UNITS = st.sampled_from(
    ["usd", "usd_pmpm", "rate", "score", "ratio", "count", "member_months", "flag", "date", "days", "text"]
)
_VALUES = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.integers(min_value=-(10**20), max_value=10**20),  # past Int64: written by Python
    st.booleans(),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9),
    _TEXT,
)
_STEPS = st.builds(Step, _TEXT, _TEXT, _VALUES, _UNITS)
_STATEMENTS = st.builds(
    Statement,
    _TEXT,
    _TEXT,
    _TEXT,
    st.none() | _TEXT,
    st.none() | _TEXT,
    _TEXT,
    st.lists(_STEPS, max_size=4).map(tuple),
    st.integers(min_value=-(10**15), max_value=10**15),
)


@given(st.lists(_STATEMENTS, max_size=4))
def test_json_lines_are_exactly_json_dumps_of_each_statement(statements: list[Statement]) -> None:
    # statements_to_json writes the text without building dictionaries; it must be the very
    # text json.dumps gives for as_dict, one statement per line.
    lines = [json.dumps(s.as_dict(), separators=(",", ":")) for s in statements]
    expected = "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
    assert statements_to_json(statements) == expected


@given(st.lists(_STATEMENTS, max_size=5))
def test_the_steps_table_is_the_csv_rows_with_the_amount_in_cents(statements: list[Statement]) -> None:
    # The CSV rows are written one step at a time in Python (Step.display, cents_to_str); the
    # table is computed column-wise and must hold the very same text.
    table, text = render_statements(statements)
    expected = [(*row, st.amount_cents) for st in statements for row in _step_rows([st])]
    got = [tuple(r.values()) for r in table.to_pylist()]
    assert got == expected
    assert text == statements_to_json(statements)
    assert table.equals(statements_to_table(statements))
    # Rendered a few statements at a time, the same table and text.
    small_table, small_text = render_statements(statements, chunk=2)
    assert small_text == text
    assert small_table.equals(table)


@given(st.lists(_STATEMENTS, max_size=6), st.lists(st.integers(min_value=0, max_value=3), max_size=8))
def test_statements_rendered_in_batches_and_framed_are_the_whole_rendering(
    statements: list[Statement], sizes: list[int]
) -> None:
    # The driver settles and renders a batch at a time (possibly elsewhere) and frames the
    # batches' lines into one array; batches of any sizes, empty ones too, must give the very
    # text and table of rendering all statements at once.
    batches, start = [], 0
    for size in sizes:
        batches.append(statements[start : start + size])
        start += size
    batches.append(statements[start:])
    rendered = [render_batch(batch) for batch in batches]
    assert "".join(json_array(text for _, text in rendered)) == statements_to_json(statements)
    assert pa.concat_tables(table for table, _ in rendered).equals(statements_to_table(statements))


@given(
    st.one_of(
        st.lists(_VALUES, max_size=6),  # mixed kinds: written one at a time
        st.lists(st.integers(min_value=-(10**20), max_value=10**20), max_size=6),
        st.lists(st.decimals(allow_nan=False, allow_infinity=False, places=4), max_size=6),
        st.lists(st.booleans(), max_size=6),
        st.lists(_TEXT, max_size=6),
    ),
    _UNITS,
)
def test_a_column_of_figures_is_written_as_the_figures_one_by_one(values: list[object], unit: Unit) -> None:
    # A contract settled column-wise hands each step's figures over as one column; they must be
    # written exactly as the same figures on Step objects are.
    figures = tuple(Step("s", "l", v, unit) for v in values)  # type: ignore[arg-type]
    steps = statement_steps([Statement("c", "k", "e", None, None, "p", figures, 0)])
    columns = ["_kind", "_whole", "_text", "_fragment"]
    assert figure_columns(values, unit).select(columns).equals(steps.select(columns))

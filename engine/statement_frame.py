"""The steps of a batch of statements as one frame, the form :mod:`.statement_render` renders.

One row per step (:data:`STEP_FRAME_SCHEMA`): the statement it belongs to, its name, label and
unit, and its figure sorted into how it is written (:func:`classify_figure`: money and whole
numbers stay integers, decimals become their text, anything unusual gets its exact text and
JSON right away); the statements' other fields go beside it as columns (:class:`StatementHeads`).
The frame is made from :class:`~settle.engine.statement.Statement` objects
(:func:`statement_steps`) or a slot at a time by a contract settled column-wise
(:mod:`.statement_columns`, through :func:`figure_columns`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from settle.engine.money import cents_to_str
from settle.engine.statement import Statement, Step, Unit, _decimal_text, _display

__all__ = [
    "INT_LIMIT",
    "JSON_PREFIX",
    "KIND_DECIMAL",
    "KIND_FLAG",
    "KIND_MONEY",
    "KIND_OTHER",
    "KIND_STRING",
    "KIND_WHOLE",
    "MONEY_UNITS",
    "STEP_FRAME_SCHEMA",
    "StatementHeads",
    "classify_figure",
    "figure_columns",
    "statement_steps",
    "step_json_prefix",
    "value_json",
]

MONEY_UNITS = ("usd", "usd_pmpm")
# How a step's figure is written (see classify_figure): money in cents, a whole number, a decimal's
# text (quoted in JSON), a flag (true / false), a string (its JSON by json.dumps of each
# distinct one), or anything else (a text and a JSON fragment computed in Python).
KIND_MONEY, KIND_WHOLE, KIND_DECIMAL, KIND_FLAG, KIND_STRING, KIND_OTHER = 0, 1, 2, 3, 4, 5
INT_LIMIT = 1 << 62  # integers beyond this are written by Python (no Int64 overflow in Polars)


@dataclass(frozen=True)
class StatementHeads:
    """The fields of a batch's statements other than their steps, one entry per statement."""

    contract_id: Sequence[str]
    kind: Sequence[str]
    entity_id: Sequence[str]
    group_id: Sequence[str | None]
    period: Sequence[str | None]
    payment_stream: Sequence[str]
    amount_cents: Sequence[int]

    @classmethod
    def of(cls, statements: Sequence[Statement]) -> StatementHeads:
        return cls(
            [st.contract_id for st in statements],
            [st.kind for st in statements],
            [st.entity_id for st in statements],
            [st.group_id for st in statements],
            [st.period for st in statements],
            [st.payment_stream for st in statements],
            [st.amount_cents for st in statements],
        )

    def __len__(self) -> int:
        return len(self.amount_cents)


STEP_FRAME_SCHEMA = {
    "_owner": pl.Int64,
    "step": pl.String,
    "label": pl.String,
    "unit": pl.String,
    "_kind": pl.Int8,
    "_whole": pl.Int64,
    "_text": pl.String,
    "_fragment": pl.String,
}
"""The steps of a batch of statements, one row per step, in statement then step order:
``_owner`` (the statement's index), the step's name, label and unit, how its figure is
written (``_kind``, see :func:`figure_columns`), the figure as an integer (money and whole
numbers), as text (the other kinds) and as a JSON fragment (the unusual kinds only)."""


JSON_PREFIX = "_json_prefix"
"""An optional column of a steps frame: each step's JSON up to its value (:func:`step_json_prefix`),
given by a caller that knows it for many steps at once."""


def step_json_prefix(name: str, label: str, unit: str) -> str:
    """A step's JSON up to its value, as ``json.dumps`` writes ``Step.as_dict``'s keys."""
    return f'{{"name":{json.dumps(name)},"label":{json.dumps(label)},"unit":{json.dumps(unit)},"value":'


def figure_columns(values: Sequence[Any], unit: Unit) -> pl.DataFrame:
    """The ``_kind``, ``_whole``, ``_text`` and ``_fragment`` columns (:data:`STEP_FRAME_SCHEMA`)
    of the figures ``values`` of steps of one ``unit``, written as :meth:`Step.as_dict` writes
    each.  Figures all of one type are done a column at a time; a mixture, one at a time."""
    n = len(values)
    types = set(map(type, values))
    kind: int | None = None
    whole: Sequence[Any] | None = None
    texts: Sequence[Any] | None = None
    if types == {int} and (n == 0 or (min(values) > -INT_LIMIT and max(values) < INT_LIMIT)):
        kind, whole = (KIND_MONEY if unit in MONEY_UNITS else KIND_WHOLE), values
    elif types == {Decimal}:
        # Equal decimals have one text (trailing zeros are dropped), and most decimal steps
        # repeat a few values (the terms' rates): each distinct value is written once.
        text_of = {v: _decimal_text(v) for v in set(values)}
        kind, texts = KIND_DECIMAL, [text_of[v] for v in values]
    elif types == {bool} and unit not in MONEY_UNITS:
        kind, texts = KIND_FLAG, ["true" if v else "false" for v in values]
    elif types == {str}:
        kind, texts = KIND_STRING, values
    if kind is None:
        return pl.DataFrame(
            _written_one_by_one([Step("", "", v, unit) for v in values]),
            schema={c: STEP_FRAME_SCHEMA[c] for c in ("_kind", "_whole", "_text", "_fragment")},
        )
    return pl.DataFrame(
        {
            "_kind": pl.Series([kind], dtype=pl.Int8).new_from_index(0, n),
            "_whole": pl.Series(whole, dtype=pl.Int64)
            if whole is not None
            else pl.repeat(None, n, dtype=pl.Int64, eager=True),
            "_text": pl.Series(texts, dtype=pl.String)
            if texts is not None
            else pl.repeat(None, n, dtype=pl.String, eager=True),
            "_fragment": pl.repeat(None, n, dtype=pl.String, eager=True),
        }
    )


def statement_steps(statements: Sequence[Statement]) -> pl.DataFrame:
    """The :data:`STEP_FRAME_SCHEMA` frame of ``statements``."""
    steps = [step for st in statements for step in st.steps]
    counts = [len(st.steps) for st in statements]
    return pl.DataFrame(
        {
            "_owner": np.repeat(np.arange(len(counts), dtype=np.int64), np.asarray(counts, dtype=np.int64)),
            "step": [step.name for step in steps],
            "label": [step.label for step in steps],
            "unit": [step.unit for step in steps],
            **_written_one_by_one(steps),
        },
        schema=STEP_FRAME_SCHEMA,
    )


def _written_one_by_one(steps: Sequence[Step]) -> dict[str, list[Any]]:
    """The ``_kind``, ``_whole``, ``_text`` and ``_fragment`` columns of ``steps``, figure by
    figure.  One list per column, each by a comprehension (much cheaper than one loop
    appending to all of them); only figures of the unusual kinds have their JSON written."""
    kinds = [classify_figure(step.value, step.unit) for step in steps]
    return {
        "_kind": kinds,
        "_whole": [step.value if k <= KIND_WHOLE else None for step, k in zip(steps, kinds, strict=True)],
        "_text": [_text(step, k) for step, k in zip(steps, kinds, strict=True)],
        "_fragment": [
            value_json(step) if k == KIND_OTHER else None for step, k in zip(steps, kinds, strict=True)
        ],
    }


def classify_figure(value: Any, unit: str) -> int:
    """Which of the ways ``value`` is written (the branches of ``Step.as_dict``)."""
    kind = type(value)
    if kind is int and -INT_LIMIT < value < INT_LIMIT:
        return KIND_MONEY if unit in MONEY_UNITS else KIND_WHOLE
    if kind is Decimal:
        return KIND_DECIMAL
    if kind is str:
        return KIND_STRING
    if kind is bool and unit not in MONEY_UNITS:
        return KIND_FLAG
    return KIND_OTHER


def _text(step: Step, kind: int) -> str | None:
    """The printed figure of a step not printed column-wise (``Step.display``)."""
    if kind <= KIND_WHOLE:
        return None
    if kind == KIND_DECIMAL:
        return _decimal_text(step.value)  # type: ignore[arg-type]
    if kind == KIND_FLAG:
        return "true" if step.value else "false"
    if kind == KIND_STRING:
        return step.value  # type: ignore[return-value]
    return _display(step.value, step.unit)


def value_json(step: Step) -> str:
    """The JSON after ``"value":`` of a step of the unusual kinds (``Step.as_dict``'s branches)."""
    v = step.value
    if step.unit in MONEY_UNITS and isinstance(v, int):
        return f'"{cents_to_str(v)}","cents":{json.dumps(v)}'
    if isinstance(v, bool | int):
        return json.dumps(v)
    return json.dumps(step.display())

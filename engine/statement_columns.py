"""Statements collected a column at a time, for a contract kind settled column-wise.

A :class:`~settle.engine.statement.StatementBuilder` makes one :class:`~settle.engine.statement.Step`
per step of every statement; settling tens of thousands of statements that way spends most of
its time making and then taking apart those objects.  :class:`StatementColumns` holds instead
one :class:`StepSlot` per step a contract's statements *may* publish, in the order they
publish them, and each slot the figures of the statements that publish it (their indices and
values).  A statement's steps are the slots that hold a figure of it, in slot order, so the
slots must be declared in an order that every statement's steps follow (steps of branches that
exclude each other may be declared one branch after the other).

:meth:`StatementColumns.steps_frame` gives the rows that
:func:`~settle.engine.statement_render.render_step_frame` renders, byte for byte the rows of
the same statements made step by step (the figures written by
:func:`~settle.engine.statement_frame.figure_columns`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from settle.engine.statement import Unit
from settle.engine.statement_frame import JSON_PREFIX, STEP_FRAME_SCHEMA, figure_columns, step_json_prefix

__all__ = ["StatementColumns", "StepSlot"]


class StepSlot:
    """One step that statements may publish: its name, label and unit, and the statements (by
    index) that publish it with their figures."""

    __slots__ = ("label", "name", "owners", "unit", "values")

    def __init__(self, name: str, label: str, unit: Unit) -> None:
        self.name, self.label, self.unit = name, label, unit
        self.owners: list[int] = []
        self.values: list[Any] = []

    def add(self, owner: int, value: Any) -> Any:
        """Publish ``value`` on statement ``owner``; return it."""
        self.owners.append(owner)
        self.values.append(value)
        return value


class StatementColumns:
    """The step slots of a batch of statements, in the order the statements publish them."""

    def __init__(self) -> None:
        self.slots: list[StepSlot] = []

    def slot(self, name: str, label: str, unit: Unit) -> StepSlot:
        """Declare the next slot (slots of branches that exclude each other may publish the
        same step: no statement holds a figure in both)."""
        slot = StepSlot(name, label, unit)
        self.slots.append(slot)
        return slot

    def steps_frame(self) -> pl.DataFrame:
        """Every published step as a :data:`STEP_FRAME_SCHEMA` row (and its
        :data:`JSON_PREFIX`), in statement order, then slot order.  A statement that holds a
        figure in two slots of one name is a mistake of the contract's column-wise settlement
        (a ``ValueError``, as the step-by-step builder raises for a step published twice)."""
        self._check_exclusive()
        parts = []
        for index, slot in enumerate(self.slots):
            if slot.owners:
                parts.append(
                    figure_columns(slot.values, slot.unit).with_columns(
                        pl.Series("_owner", slot.owners, dtype=pl.Int64),
                        pl.lit(index, dtype=pl.Int32).alias("_slot"),
                    )
                )
        if not parts:
            return pl.DataFrame(schema={**STEP_FRAME_SCHEMA, JSON_PREFIX: pl.String})
        # Ordered with the figures only (the slots' texts are put on afterwards, by slot): a
        # stable sort by statement keeps the slots' order, in which the parts were joined.
        joined = pl.concat(parts, how="vertical")
        steps = joined[np.argsort(joined["_owner"].to_numpy(), kind="stable")]
        indices = list(range(len(self.slots)))

        def by_slot(texts: list[str]) -> pl.Expr:
            return pl.col("_slot").replace_strict(indices, texts, return_dtype=pl.String)

        return steps.with_columns(
            by_slot([s.name for s in self.slots]).alias("step"),
            by_slot([s.label for s in self.slots]).alias("label"),
            by_slot([s.unit for s in self.slots]).alias("unit"),
            by_slot([step_json_prefix(s.name, s.label, s.unit) for s in self.slots]).alias(JSON_PREFIX),
        ).select([*STEP_FRAME_SCHEMA, JSON_PREFIX])

    def _check_exclusive(self) -> None:
        named: dict[str, list[StepSlot]] = {}
        for slot in self.slots:
            named.setdefault(slot.name, []).append(slot)
            # Statements publish in index order: a slot's owners only grow.
            owners = np.asarray(slot.owners, dtype=np.int64)
            if len(owners) > 1 and not bool((owners[1:] > owners[:-1]).all()):
                raise ValueError(f"a statement publishes step {slot.name!r} twice")
        for name, slots in named.items():
            if len(slots) > 1:
                seen: set[int] = set()
                for slot in slots:
                    if not seen.isdisjoint(slot.owners):
                        raise ValueError(f"a statement publishes step {name!r} twice")
                    seen.update(slot.owners)

"""Rejected input rows: the reason codes, the ``rejects`` table's schema, and the counts.

Validation never drops a row silently: every row read is either accepted into its canonical
table or written here, one reject row per rejected input row, carrying the first check it
failed (checks run in the order documented in ``docs/inputs.md`` and
:mod:`settle.engine.validate`).  Per table, ``accepted + rejected = read`` is asserted by
:meth:`TableCounts.check`, which raises :class:`InvariantViolation` (a bug, never a user
mistake) when it does not hold.

The ``rejects`` table (:data:`REJECTS_SCHEMA`):

``table``        the canonical input table the row was read for;
``source_file``  the file it came from (as recorded in ``_source_file``);
``row_number``   1-based record index within that file, header not counted;
``column``       the canonical source column at fault (``paid_amount``, not ``paid_cents``);
``reason``       a :class:`RejectReason` code;
``detail``       a human phrase naming the rule, never member data;
``value``        the offending raw cell as text (null when the cell was empty).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pyarrow as pa

from settle.engine.errors import InvariantViolation

__all__ = [
    "REJECTS_SCHEMA",
    "RejectReason",
    "TableCounts",
    "concat_rejects",
    "empty_rejects",
    "reason_counts",
]


class RejectReason(StrEnum):
    """Why an input row was rejected (the ``reason`` column of ``rejects``).

    Row checks (each row on its own), in the order they apply:
    ``missing_value`` a required cell is empty; ``bad_code`` an identifier or code is
    malformed (an NPI that is not 10 digits, an unknown claim type, an unreadable flag);
    ``bad_date`` not an ISO ``YYYY-MM-DD`` calendar date; ``bad_amount`` not a decimal dollar
    amount (or a fraction of a cent); ``bad_number`` not an integer or decimal number;
    ``conflicting_values`` a quality row that is both a measure row and a composite;
    ``amount_out_of_range`` a claim line amount above the configured maximum;
    ``score_out_of_range`` a quality score outside [0, 1] or a negative risk score;
    ``end_before_start`` a span that ends before it starts.

    Table checks (rows that passed the row checks), in order: ``duplicate_line`` an exact
    repeat of an earlier line; ``negative_allowed_without_original`` a reversal with no
    positive line to net against; ``missing_member`` a claim whose member has no eligibility
    row; ``unknown_npi`` a claim line that cannot be tied to any TIN.

    Produced later by the cost kernel: ``service_outside_enrollment`` a claim line whose
    service date falls outside every enrollment span of its member.
    """

    MISSING_VALUE = "missing_value"
    BAD_CODE = "bad_code"
    BAD_DATE = "bad_date"
    BAD_AMOUNT = "bad_amount"
    BAD_NUMBER = "bad_number"
    CONFLICTING_VALUES = "conflicting_values"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    SCORE_OUT_OF_RANGE = "score_out_of_range"
    END_BEFORE_START = "end_before_start"
    DUPLICATE_LINE = "duplicate_line"
    NEGATIVE_ALLOWED_WITHOUT_ORIGINAL = "negative_allowed_without_original"
    MISSING_MEMBER = "missing_member"
    UNKNOWN_NPI = "unknown_npi"
    SERVICE_OUTSIDE_ENROLLMENT = "service_outside_enrollment"


REJECTS_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("column", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("value", pa.string()),
    ]
)


def empty_rejects() -> pa.Table:
    """A rejects table with no rows."""
    return REJECTS_SCHEMA.empty_table()


def concat_rejects(parts: Iterable[pa.Table]) -> pa.Table:
    """Concatenate rejects tables (each already in :data:`REJECTS_SCHEMA`)."""
    tables = [p.select(REJECTS_SCHEMA.names).cast(REJECTS_SCHEMA) for p in parts]
    if not tables:
        return empty_rejects()
    return pa.concat_tables(tables)


def reason_counts(rejects: pa.Table) -> dict[str, int]:
    """Number of rejects per reason code, in :class:`RejectReason` order, zeros left out."""
    if rejects.num_rows == 0:
        return {}
    counted = rejects.group_by("reason").aggregate([("reason", "count")])
    found = dict(zip(counted["reason"].to_pylist(), counted["reason_count"].to_pylist(), strict=True))
    order = {r.value: i for i, r in enumerate(RejectReason)}
    return {k: int(found[k]) for k in sorted(found, key=lambda k: (order.get(k, len(order)), k))}


@dataclass
class TableCounts:
    """Rows read, accepted and rejected (by reason) for one input table."""

    table: str
    files: int = 0
    read: int = 0
    accepted: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def check(self) -> None:
        """Assert ``accepted + rejected = read``; a failure is a bug, not a user mistake."""
        if self.accepted + self.rejected != self.read:
            raise InvariantViolation(
                f"{self.table}: accepted ({self.accepted}) + rejected ({self.rejected}) != read ({self.read})"
            )

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable mapping."""
        return {
            "files": self.files,
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.rejected_by_reason),
        }

    @classmethod
    def from_parts(
        cls, table: str, *, files: int, read: int, accepted: int, rejects: pa.Table
    ) -> TableCounts:
        """Counts from a table's totals and its rejects; checked before they are returned."""
        counts = cls(
            table, files=files, read=read, accepted=accepted, rejected_by_reason=reason_counts(rejects)
        )
        counts.check()
        return counts

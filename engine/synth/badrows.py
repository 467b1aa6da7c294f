"""Known bad medical claim rows, injected on request (``bad_rows=N``) so tests can find them.

The default book is clean; with ``bad_rows=N`` the first member block gets N extra rows, each a
copy of a distinct good line (a positive original line of the member's first employer) with one
defect, placed after the block's other rows of that employer, cycling through
:data:`BAD_ROW_KINDS`.  Every bad row except ``duplicate_line`` gets its own claim id
``CBAD`` + eight digits, so a test can name it; the duplicate keeps its host's id.

Kinds are named after the reject reason code the row should get (``bad_code_hcpcs`` and
``bad_code_npi`` both expect ``bad_code``; see :data:`BAD_ROW_REASONS`):

* ``missing_value``: ``member_id`` is null;
* ``negative_allowed_without_original``: the amounts are negated and the claim id is new, so
  there is no original to net against;
* ``duplicate_line``: an exact copy of the host line;
* ``service_outside_enrollment``: service dates 1 January 1990, before every enrollment span;
* ``missing_member``: a member id (``U`` + nine digits) with no eligibility at all;
* ``end_before_start``: ``claim_end_date`` three days before ``claim_start_date``;
* ``bad_code_hcpcs``: ``hcpcs_code`` ``99-13`` (not five letters or digits);
* ``bad_code_npi``: ``rendering_npi`` with nine digits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from settle.engine.synth.arrow import day_number
from settle.engine.synth.claims import ClaimLines

__all__ = ["BAD_ROW_KINDS", "BAD_ROW_REASONS", "inject_bad_rows"]

BAD_ROW_REASONS: dict[str, str] = {
    "missing_value": "missing_value",
    "negative_allowed_without_original": "negative_allowed_without_original",
    "duplicate_line": "duplicate_line",
    "service_outside_enrollment": "service_outside_enrollment",
    "missing_member": "missing_member",
    "end_before_start": "end_before_start",
    "bad_code_hcpcs": "bad_code",
    "bad_code_npi": "bad_code",
}
BAD_ROW_KINDS: tuple[str, ...] = tuple(BAD_ROW_REASONS)


def _set(row: pa.Table, column: str, value: pa.Array) -> pa.Table:
    i = row.schema.get_field_index(column)
    return row.set_column(i, row.schema.field(i), value.cast(row.schema.field(i).type))


def _bad_row(row: pa.Table, kind: str, claim_id: str, index: int) -> pa.Table:
    if kind == "duplicate_line":
        return row
    row = _set(row, "claim_id", pa.array([claim_id]))
    if kind == "missing_value":
        row = _set(row, "member_id", pa.nulls(1, pa.string()))
    elif kind == "negative_allowed_without_original":
        for column in ("paid_amount", "allowed_amount"):
            row = _set(row, column, pc.negate(row.column(column).combine_chunks()))
    elif kind == "service_outside_enrollment":
        old = pa.array(np.array([day_number(dt.date(1990, 1, 1))], dtype=np.int32)).cast(pa.date32())
        row = _set(_set(row, "claim_start_date", old), "claim_end_date", old)
    elif kind == "missing_member":
        row = _set(row, "member_id", pa.array([f"U{index:09d}"]))
    elif kind == "end_before_start":
        start = row.column("claim_start_date").combine_chunks().cast(pa.int32()).to_numpy()
        row = _set(row, "claim_end_date", pa.array((start - 3).astype(np.int32)).cast(pa.date32()))
    elif kind == "bad_code_hcpcs":
        row = _set(row, "hcpcs_code", pa.array(["99-13"]))
    elif kind == "bad_code_npi":
        row = _set(row, "rendering_npi", pa.array(["123456789"]))
    return row


def inject_bad_rows(
    lines: ClaimLines, count: int, rng: np.random.Generator
) -> tuple[ClaimLines, tuple[tuple[str, str], ...]]:
    """``lines`` with ``count`` bad rows appended, and (kind, claim id) of each bad row."""
    allowed = lines.table.column("allowed_amount").combine_chunks().cast(pa.float64()).to_numpy()
    candidates = np.flatnonzero(allowed[: lines.n_main] > 0)
    if count > len(candidates):
        raise ValueError(f"cannot inject {count} bad rows into a block with {len(candidates)} good lines")
    hosts = np.sort(rng.choice(candidates, size=count, replace=False))
    rows, made = [], []
    for i, host in enumerate(hosts):
        kind = BAD_ROW_KINDS[i % len(BAD_ROW_KINDS)]
        original = lines.table.slice(int(host), 1)
        claim_id = original.column("claim_id")[0].as_py() if kind == "duplicate_line" else f"CBAD{i + 1:08d}"
        rows.append(_bad_row(original, kind, claim_id, i + 1))
        made.append((kind, str(claim_id)))
    k = lines.n_main  # bad rows join the rows of the member's first employer group

    def insert(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[:k], values[hosts], values[k:]])

    table = pa.concat_tables([lines.table.slice(0, k), *rows, lines.table.slice(k)]).combine_chunks()
    return replace(
        lines,
        table=table,
        n_main=k + count,
        group=insert(lines.group),
        gidx=insert(lines.gidx),
        paid_day=insert(lines.paid_day),
    ), tuple(made)

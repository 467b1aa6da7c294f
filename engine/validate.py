"""Validation of a job's inputs: every row read is accepted or rejected with a reason.

The pipeline for one table:

1. :mod:`settle.engine.readers` lists the files of the table's locations (sorted) and yields
   raw batches (columns renamed, provenance attached);
2. :func:`settle.engine.validate_rows.check_rows` parses each batch strictly into the
   canonical schema and rejects malformed rows (missing values, bad codes, dates, amounts,
   out-of-range values, spans ending before they start), batch by batch;
3. :func:`settle.engine.validate_cross.check_table` applies the table checks to the rows left
   (duplicates, reversals without an original, claims of members without eligibility, claim
   lines tied to no TIN).

Per table, ``accepted + rejected = read`` is checked (:meth:`TableCounts.check`); a failure is
an :class:`InvariantViolation`.  :func:`validate_job` runs the tables in dependency order
(eligibility and roster first, since claims are checked against them) and
:func:`validation_report` renders the result as a plain, JSON-ready mapping for
``settle validate JOB.yaml --json``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import polars as pl
import pyarrow as pa

from settle.engine.job import JobDocument
from settle.engine.readers import DEFAULT_BATCH_ROWS, iter_file, list_input_files
from settle.engine.rejects import TableCounts, concat_rejects, empty_rejects
from settle.engine.schemas import TABLES, canonical_schema
from settle.engine.unscaled_decimals import unscaled_type
from settle.engine.validate_cross import IdSet, check_table_frame, id_set, table_check_columns
from settle.engine.validate_rows import Limits, check_rows_frame, prechecked_in, stratifier_columns

__all__ = [
    "JobValidation",
    "Limits",
    "TableValidation",
    "coalesce_batches",
    "validate_batches",
    "validate_job",
    "validate_table",
    "validation_report",
]

_CHECK_ROWS = 1_000_000  # rows per row-check batch, when files are small
_CANONICAL = {name: {c.name for c in spec.columns} for name, spec in TABLES.items()}

# Tables whose accepted rows other tables are checked against come first.
_ORDER = ("eligibility", "roster", "medical_claim", "pharmacy_claim")


@dataclass(frozen=True)
class TableValidation:
    """One table, validated: its accepted canonical rows, its rejects and its counts.

    The accepted rows are held as the Polars frame validation produced (``frame``); the Arrow
    table in the canonical schema (``accepted``) is made on first use, so a caller that goes
    on in Polars (the cluster's one-round shard: validation straight into the kernels) never
    pays for the conversion and back (about a sixth of that task's time)."""

    table: str
    frame: pl.DataFrame
    schema: pa.Schema
    rejects: pa.Table
    counts: TableCounts

    @cached_property
    def accepted(self) -> pa.Table:
        return self.frame.to_arrow().cast(self.schema)


@dataclass
class JobValidation:
    """Every input table of a job, validated."""

    job_name: str
    tables: dict[str, TableValidation] = field(default_factory=dict)
    max_examples: int = 20

    @property
    def counts(self) -> dict[str, TableCounts]:
        return {name: tv.counts for name, tv in self.tables.items()}

    @property
    def rejects(self) -> pa.Table:
        """All rejects of the job, table by table, each in file and row order."""
        return concat_rejects(tv.rejects for tv in self.tables.values())

    @property
    def rejected(self) -> int:
        return sum(tv.counts.rejected for tv in self.tables.values())


def validate_batches(
    table: str,
    batches: Iterable[pa.Table],
    *,
    files: int = 0,
    stratifiers: Sequence[str] = (),
    members: IdSet | None = None,
    roster_npis: IdSet | None = None,
    limits: Limits = Limits(),
    keep: Collection[str] | None = None,
) -> TableValidation:
    """Validate raw batches of one table (as the readers yield them, from any number of files).

    ``keep``: the canonical columns the accepted rows carry (default: all; every column is
    checked either way, see :func:`~settle.engine.validate_rows.check_rows_frame`)."""
    read = 0
    kept: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame] = []
    # The table checks read some columns the caller may not keep: dropped after them.
    checked = None if keep is None else {*keep, *table_check_columns(table)}
    for raw in coalesce_batches(batches, _CHECK_ROWS):
        read += raw.num_rows
        ok, bad = check_rows_frame(raw, table, stratifiers=stratifiers, limits=limits, keep=checked)
        kept.append(ok)
        rejected.append(bad)
    schema = canonical_schema(table, extra=stratifier_columns(table, stratifiers))
    if keep is not None:
        schema = pa.schema([f for f in schema if f.name in keep or f.name not in _CANONICAL[table]])
    if kept:
        rows = pl.concat(kept, how="vertical", rechunk=False)
    else:
        empty = pl.from_arrow(schema.empty_table())
        assert isinstance(empty, pl.DataFrame)
        rows = empty
    good, cross = check_table_frame(rows, table, members=members, roster_npis=roster_npis)
    if keep is not None:
        good = good.select(schema.names)
    rejected.append(cross)
    rejects = _sorted(concat_rejects(r.to_arrow() for r in rejected))
    counts = TableCounts.from_parts(table, files=files, read=read, accepted=good.height, rejects=rejects)
    return TableValidation(table, good, schema, rejects, counts)


def validate_table(
    table: str,
    locations: str | Sequence[str],
    *,
    column_map: Mapping[str, str] | None = None,
    stratifiers: Sequence[str] = (),
    members: IdSet | None = None,
    roster_npis: IdSet | None = None,
    limits: Limits = Limits(),
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> TableValidation:
    """Read and validate every file of ``locations`` as ``table``."""
    files = list_input_files(locations)
    batches = (
        b
        for f in files
        for b in iter_file(f, table, column_map=column_map, stratifiers=stratifiers, batch_rows=batch_rows)
    )
    return validate_batches(
        table,
        batches,
        files=len(files),
        stratifiers=stratifiers,
        members=members,
        roster_npis=roster_npis,
        limits=limits,
    )


def validate_job(job: JobDocument, *, max_examples: int = 20, limits: Limits = Limits()) -> JobValidation:
    """Read and validate every input table of a job document.

    Claims are checked against the *accepted* eligibility members (a member whose only
    eligibility rows were rejected has no eligibility) and the accepted roster's NPIs.
    """
    result = JobValidation(job.name, max_examples=max_examples)
    tables = [t for t in _ORDER if t in job.inputs] + sorted(t for t in job.inputs if t not in _ORDER)
    members: IdSet | None = None
    npis: IdSet | None = None
    for table in tables:
        tv = validate_table(
            table,
            job.input_paths(table),
            column_map=job.column_map.get(table),
            stratifiers=job.stratifiers,
            members=members,
            roster_npis=npis,
            limits=limits,
        )
        result.tables[table] = tv
        if table == "eligibility":
            members = id_set(tv.accepted["member_id"])
        elif table == "roster":
            npis = id_set(tv.accepted["npi"])
    return result


def validation_report(result: JobValidation, *, max_examples: int | None = None) -> dict[str, Any]:
    """The validation result as plain JSON-ready data: per-table counts and the first rejects.

    ``{"job": name, "read": n, "accepted": n, "rejected": n, "tables": {table: {"files",
    "read", "accepted", "rejected", "rejected_by_reason": {reason: n}}}, "rejects": [first
    rejects as mappings of the rejects columns]}``.
    """
    limit = result.max_examples if max_examples is None else max_examples
    tables = {name: tv.counts.to_dict() for name, tv in result.tables.items()}
    examples = result.rejects.slice(0, max(limit, 0)).to_pylist()
    return {
        "job": result.job_name,
        "read": sum(t["read"] for t in tables.values()),
        "accepted": sum(t["accepted"] for t in tables.values()),
        "rejected": sum(t["rejected"] for t in tables.values()),
        "tables": tables,
        "rejects": examples,
    }


def coalesce_batches(batches: Iterable[pa.Table], target: int) -> Iterator[pa.Table]:
    """Join consecutive small batches of the same raw schema (many small files) into batches of
    about ``target`` rows: row checks have a fixed cost per batch.  Field metadata does not
    count, except which decimal an unscaled integer column stands for."""
    pending: list[pa.Table] = []
    rows = 0
    for batch in batches:
        full = rows + batch.num_rows > target
        if pending and (full or not _same_raw_schema(batch.schema, pending[0].schema)):
            yield pa.concat_tables(pending)
            pending, rows = [], 0
        pending.append(batch)
        rows += batch.num_rows
    if pending:
        yield pa.concat_tables(pending)


def _same_raw_schema(a: pa.Schema, b: pa.Schema) -> bool:
    """Same names and types, the same decimals behind unscaled integers (an ``int64`` column
    of whole dollars must not join one of unscaled cents), and the same columns prechecked (a
    batch of a file without a required column must not join one whose column was dropped)."""
    return (
        a == b
        and all(unscaled_type(f) == unscaled_type(g) for f, g in zip(a, b, strict=True))
        and prechecked_in(a) == prechecked_in(b)
    )


def _sorted(rejects: pa.Table) -> pa.Table:
    if rejects.num_rows == 0:
        return empty_rejects()
    return rejects.sort_by([("source_file", "ascending"), ("row_number", "ascending")])

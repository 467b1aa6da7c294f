"""A whole job in one process: validate, plan, map one shard, reduce, settle.

:func:`settle_in_process` is what a notebook calls with a job document; the cluster runs the
same steps shard by shard and must produce the same :class:`JobResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import polars as pl
import pyarrow as pa

from settle.engine.contracts.common import Settlement
from settle.engine.job import JobDocument
from settle.engine.ledger import ledger_to_table
from settle.engine.pipeline.plan import ContractPlan, contract_plans
from settle.engine.pipeline.reduce import SettlementCells, settle_plans, settlement_cells
from settle.engine.pipeline.rendered import statement_heads
from settle.engine.pipeline.shard import ShardOutput, map_shard, population_facts
from settle.engine.rejects import concat_rejects
from settle.engine.statement_render import render_statements
from settle.engine.validate import JobValidation, validate_job

__all__ = ["JobResult", "SettlementInputs", "contract_summary", "settle_in_process", "settlement_inputs"]


@dataclass
class JobResult:
    """A settled job: its output tables, statements and counts.  ``statements_json`` is the
    statements' JSON text, or ``None`` where it was written straight to the output as it was
    rendered (a cluster job: the text of a large book's statements is hundreds of megabytes).
    ``settlements`` and ``tables`` hold the settlement objects and the output tables of a job
    settled in process; a cluster job writes its tables to its output files as it makes them
    and renders and drops its settlements as it settles, so there both are empty.
    ``statement_heads`` has one row per statement
    (:data:`~settle.engine.pipeline.rendered.HEAD_COLUMNS`), for summaries."""

    job_name: str
    plans: list[ContractPlan]
    settlements: list[Settlement]
    tables: dict[str, pa.Table]
    statements_json: str | None
    counts: dict[str, Any]
    statement_heads: pa.Table
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def assemble(
    job_name: str,
    plans: list[ContractPlan],
    validation: JobValidation,
    shards: Sequence[ShardOutput],
    settlements: list[Settlement],
) -> JobResult:
    """The job's output tables from the validation, the shard outputs and the settlements."""

    def concat(name: str) -> pa.Table:
        parts = [getattr(s, name) for s in shards if getattr(s, name).num_columns > 1]
        if not parts:
            return pa.table({"contract_id": pa.array([], pa.string())})
        return pa.concat_tables(parts, promote_options="permissive")

    attribution = _frame(concat("attribution")).sort("contract_id", "member_id").to_arrow()
    member_costs = _frame(concat("member_costs")).sort("contract_id", "member_id", "group_id").to_arrow()
    rejects = concat_rejects([validation.rejects, *(s.rejects for s in shards)])
    entries = [e for s in settlements for e in s.entries]
    statements = [s.statement for s in settlements]
    counts = {
        "tables": {name: c.to_dict() for name, c in validation.counts.items()},
        "claim_lines": sum(s.claim_lines for s in shards),
        "rejects_after_validation": sum(s.rejects.num_rows for s in shards),
        "rejected_after_validation_paid_cents": sum(s.rejected_paid_cents for s in shards),
        "unused_claim_lines": sum(s.unused_lines for s in shards),
        "unused_claim_paid_cents": sum(s.unused_paid_cents for s in shards),
        "statements": len(statements),
        "ledger_entries": len(entries),
    }
    statements_table, statements_json = render_statements(statements)
    return JobResult(
        job_name=job_name,
        plans=plans,
        settlements=settlements,
        tables={
            "statements": statements_table,
            "ledger": ledger_to_table(entries),
            "attribution": attribution,
            "member_costs": member_costs,
            "rejects": rejects,
        },
        statements_json=statements_json,
        statement_heads=statement_heads(statements_table),
        counts=counts,
    )


class SettlementInputs(NamedTuple):
    """What :func:`~settle.engine.pipeline.reduce.settle_plans` and
    :func:`~settle.engine.pipeline.reduce.settlement_batches` take after the plans."""

    figures: SettlementCells
    pool_bases: pl.DataFrame
    baselines: pl.DataFrame
    quality: pa.Table | None
    premiums: pa.Table | None


def settlement_inputs(tables: dict[str, pa.Table], shard: ShardOutput) -> SettlementInputs:
    """The settlement inputs of a job mapped in one shard (``tables``: the accepted rows)."""
    return SettlementInputs(
        settlement_cells(_frame(shard.member_costs)),
        _frame(shard.pool_bases),
        _frame(shard.baselines),
        tables.get("quality"),
        tables.get("premiums"),
    )


def settle_in_process(job: JobDocument, on_stage: Callable[[str], None] | None = None) -> JobResult:
    """Settle a job document in this process (one shard holding every member)."""
    timings: dict[str, float] = {}

    def stage(name: str, started: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - started, 3)
        if on_stage is not None:
            on_stage(name)
        return now

    t = time.perf_counter()
    plans = contract_plans(job)
    validation = validate_job(job)
    t = stage("validate", t)
    tables = {name: tv.accepted for name, tv in validation.tables.items()}
    facts = population_facts(plans, tables)
    shard = map_shard(plans, tables, facts)
    t = stage("map", t)
    settlements = settle_plans(plans, *settlement_inputs(tables, shard))
    t = stage("settle", t)
    result = assemble(job.name, plans, validation, [shard], settlements)
    stage("assemble", t)
    result.stage_seconds = timings
    return result


def contract_summary(result: JobResult) -> list[dict[str, Any]]:
    """Per contract: kind, statements, entities paid / owing, and dollars each way (cents).

    Read from the result's statement heads, so it serves a cluster job too, whose settlements
    are rendered and dropped as they are made."""
    heads = _frame(result.statement_heads)
    rows = []
    for plan in result.plans:
        mine = heads.filter(pl.col("contract_id") == plan.contract_id)
        amount = pl.col("amount_cents")
        paid = int(mine.filter(amount > 0)["amount_cents"].sum())
        owed = -int(mine.filter(amount < 0)["amount_cents"].sum())
        rows.append(
            {
                "contract_id": plan.contract_id,
                "kind": plan.contract.kind,
                "statements": mine.height,
                "entities_paid": mine.filter(amount > 0)["entity_id"].n_unique(),
                "entities_owing": mine.filter(amount < 0)["entity_id"].n_unique(),
                "paid_to_entities_cents": paid,
                "owed_by_entities_cents": owed,
                "net_cents": paid - owed,
            }
        )
    return rows

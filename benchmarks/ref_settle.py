"""Settle's own answer to the core computation, for the exact-equality check of the references.

:func:`settle_core` validates the reference job's inputs (``settle.engine.validate``), plans
its one contract (``settle.engine.pipeline.plan``) and runs the contract's kernels
(``settle.engine.kernels.pipeline.run_contract``) in this process; the entity x group cells of
the aggregates are the table the references must reproduce.  With ``shards`` it does so one
member shard at a time (the split of :mod:`benchmarks.shard_split`, made before the clock
starts) and adds up the shards' cells, which are additive because every member is in one shard
and the reference contract's cap is a fixed amount; the whole 1M book in one process needed
18 GB.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from benchmarks.core import CoreParams, normalise, params_for
from benchmarks.shard_split import ensure_split, shard_folders
from settle.engine.job import load_job
from settle.engine.kernels.pipeline import ShardInputs, run_contract
from settle.engine.pipeline.plan import contract_plans
from settle.engine.validate import validate_job, validate_table
from settle.engine.validate_cross import id_set

__all__ = ["compare", "settle_core"]


def settle_core(job_path: Path, shards: int | None = None) -> tuple[float, pl.DataFrame, CoreParams]:
    """(seconds, entity x group table, the matching reference parameters) for a job with one
    contract (``bench-job.yaml`` in its book's folder); whole, or over ``shards`` shards."""
    job = load_job(job_path)
    root = ensure_split(job, job_path.parent, shards)[0] if shards else None
    started = time.perf_counter()
    (plan,) = contract_plans(job)
    if root is None:
        validation = validate_job(job)
        tables = {name: tv.accepted for name, tv in validation.tables.items()}
        inputs = ShardInputs(
            eligibility=tables["eligibility"], medical_claim=tables["medical_claim"], roster=tables["roster"]
        )
        cells = normalise(run_contract(inputs, plan.rules).aggregates.cells)
    else:
        roster = validate_table("roster", job.input_paths("roster")).accepted
        npis = id_set(roster["npi"])
        parts = []
        for folder in shard_folders(root):
            elig = validate_table("eligibility", [str(folder / "eligibility")]).accepted
            claims = validate_table(
                "medical_claim",
                [str(folder / "medical_claim")],
                members=id_set(elig["member_id"]),
                roster_npis=npis,
            ).accepted
            inputs = ShardInputs(eligibility=elig, medical_claim=claims, roster=roster)
            parts.append(normalise(run_contract(inputs, plan.rules).aggregates.cells))
            del elig, claims, inputs
        keys = ["entity_id", "group_id"]
        cells = normalise(pl.concat(parts).group_by(keys).agg(pl.exclude(keys).sum()))
    seconds = time.perf_counter() - started
    truncation = plan.rules.cost.truncation
    cap = truncation.amount_cents if truncation is not None else None
    assert cap is not None, "the reference contract truncates at a fixed amount"
    params = params_for(plan.rules.period, plan.rules.attribution.lookback_months, cap)
    return seconds, cells, params


def compare(expected: pl.DataFrame, actual: pl.DataFrame) -> list[str]:
    """Where ``actual`` differs from ``expected`` (empty when they are identical)."""
    if expected.equals(actual):
        return []
    problems = [f"rows: {expected.height} expected, {actual.height} got"]
    keys = ["entity_id", "group_id"]
    joined = expected.join(actual, on=keys, how="full", nulls_equal=True, suffix="_ref")
    for column in expected.columns[2:]:
        bad = joined.filter(pl.col(column).ne_missing(pl.col(f"{column}_ref")))
        if bad.height:
            problems.append(f"{column}: {bad.height} cells differ, e.g. {bad.head(3).rows()}")
    return problems

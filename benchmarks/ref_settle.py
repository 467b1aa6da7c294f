"""Settle's own answer to the core computation, for the exact-equality check of the references.

:func:`settle_core` validates the reference job's inputs (``settle.engine.validate``), plans
its one contract (``settle.engine.pipeline.plan``) and runs the contract's kernels over the
whole population in this process (``settle.engine.kernels.pipeline.run_contract``); the
entity x group cells of the aggregates are the table the references must reproduce.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from benchmarks.core import CoreParams, normalise, params_for
from settle.engine.job import load_job
from settle.engine.kernels.pipeline import ShardInputs, run_contract
from settle.engine.pipeline.plan import contract_plans
from settle.engine.validate import validate_job

__all__ = ["compare", "settle_core"]


def settle_core(job_path: Path) -> tuple[float, pl.DataFrame, CoreParams]:
    """(seconds, entity x group table, the matching reference parameters) for a job with one
    contract (``bench-job.yaml``)."""
    job = load_job(job_path)
    started = time.perf_counter()
    (plan,) = contract_plans(job)
    validation = validate_job(job)
    tables = {name: tv.accepted for name, tv in validation.tables.items()}
    inputs = ShardInputs(
        eligibility=tables["eligibility"], medical_claim=tables["medical_claim"], roster=tables["roster"]
    )
    result = run_contract(inputs, plan.rules)
    seconds = time.perf_counter() - started
    truncation = plan.rules.cost.truncation
    cap = truncation.amount_cents if truncation is not None else None
    assert cap is not None, "the reference contract truncates at a fixed amount"
    params = params_for(plan.rules.period, plan.rules.attribution.lookback_months, cap)
    return seconds, normalise(result.aggregates.cells), params


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

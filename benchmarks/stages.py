"""The in-process pipeline cut into timed stages: read, validate, member months, attribution,
cost, reduce, settle, write.

It calls the same engine functions a job runs (``settle.engine.readers``,
``settle.engine.validate``, ``settle.engine.kernels``, ``settle.engine.pipeline.reduce``), one
stage at a time, so that each stage's seconds can be told apart:

* **read**: producing every input file's raw batches (``readers.iter_file``), timed inside the
  stream that validation consumes (the batches are never all held at once, as in a job);
* **validate**: the rest of ``validate_batches`` (row and cross-table checks, the tables in
  the order ``validate_job`` uses: eligibility, roster, claims, the rest);
* **member months**, **attribution**, **cost** (claim costs, per-member totals, truncation
  and the split back to groups): the contract's kernels on the accepted tables;
* **reduce**: member costs to the settlement cells (``reduce.settlement_cells``);
* **settle**: the contract kind's statements and ledger (``reduce.settle_plans``);
* **write**: the output tables as zstd Parquet into a temporary folder.

``python -m benchmarks.stages JOB.yaml`` prints :func:`run_stages`'s result as JSON; the
suite runs it so, one process per repetition, so that no memory is carried from one
measurement to the next.

The job's own stage timer (``settle_in_process``) lumps these into validate / map / settle;
this split does the same work once more, so its total is close to, not equal to, a job's.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from settle.engine.job import load_job
from settle.engine.kernels.attribution import attribute
from settle.engine.kernels.cost import claim_costs
from settle.engine.kernels.member_costs import member_cost_totals, member_costs, truncation_threshold
from settle.engine.kernels.member_months import member_months
from settle.engine.ledger import ledger_to_table
from settle.engine.pipeline.plan import contract_plans
from settle.engine.pipeline.reduce import settle_plans, settlement_cells
from settle.engine.readers import iter_file, list_input_files
from settle.engine.statement import statements_to_table
from settle.engine.validate import validate_batches
from settle.engine.validate_cross import IdSet, id_set

__all__ = ["STAGES", "run_stages"]

STAGES = ("read", "validate", "member_months", "attribution", "cost", "reduce", "settle", "write")
_ORDER = ("eligibility", "roster", "medical_claim", "pharmacy_claim")
_T = TypeVar("_T")


class _Clocked:
    """An iterator of raw batches that adds up the time spent producing them (reading), so
    that validation can stream the batches as a job does and still be timed apart."""

    def __init__(self, batches: Iterator[pa.Table]) -> None:
        self._batches = batches
        self.seconds = 0.0

    def __iter__(self) -> _Clocked:
        return self

    def __next__(self) -> pa.Table:
        started = time.perf_counter()
        try:
            return next(self._batches)
        finally:
            self.seconds += time.perf_counter() - started


def run_stages(job_path: Path) -> dict[str, float]:
    """Seconds per stage (:data:`STAGES`) for a job with one contract (``bench-job.yaml``)."""
    seconds: dict[str, float] = {}

    def timed(name: str, work: Callable[[], _T]) -> _T:
        started = time.perf_counter()
        out = work()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return out

    job = load_job(job_path)
    (plan,) = contract_plans(job)
    rules = plan.rules
    names = [t for t in _ORDER if t in job.inputs] + sorted(t for t in job.inputs if t not in _ORDER)
    tables: dict[str, pa.Table] = {}
    members: IdSet | None = None
    npis: IdSet | None = None
    for name in names:
        files = list_input_files(job.input_paths(name))
        raw = _Clocked(b for f in files for b in iter_file(f, name))
        started = time.perf_counter()
        checked = validate_batches(name, raw, files=len(files), members=members, roster_npis=npis)
        seconds["read"] = seconds.get("read", 0.0) + raw.seconds
        seconds["validate"] = seconds.get("validate", 0.0) + time.perf_counter() - started - raw.seconds
        tables[name] = checked.accepted
        if name == "eligibility":
            members = id_set(checked.accepted["member_id"])
        elif name == "roster":
            npis = id_set(checked.accepted["npi"])
    frames = {n: pl.DataFrame(t) for n, t in tables.items()}
    elig, claims = frames["eligibility"], frames["medical_claim"]
    mm = timed("member_months", lambda: member_months(elig, rules.period, rules.cost.member_months))
    att = timed(
        "attribution",
        lambda: attribute(claims, frames["roster"], elig, rules.period, rules.attribution, rules.scope),
    )

    def cost() -> pl.DataFrame:
        costs = claim_costs(claims, elig, rules.period, rules.cost, rules.scope)
        cap = truncation_threshold(rules.cost.truncation, [member_cost_totals(mm, costs.costs, rules.cost)])
        return member_costs(mm, costs.costs, att, rules.cost, cap)

    rows = timed("cost", cost)
    tagged = rows.select(pl.lit(plan.contract_id).alias("contract_id"), pl.all())
    figures = timed("reduce", lambda: settlement_cells(tagged))
    empty = pl.DataFrame(schema={"contract_id": pl.String})
    quality = tables.get("quality")
    settled = timed("settle", lambda: settle_plans([plan], figures, empty, empty, quality, None))

    def write() -> None:
        outputs = {
            "statements": statements_to_table([s.statement for s in settled]),
            "ledger": ledger_to_table([e for s in settled for e in s.entries]),
            "attribution": att.to_arrow(),
            "member_costs": tagged.to_arrow(),
        }
        with tempfile.TemporaryDirectory(prefix="settle-bench-write-") as folder:
            for name, table in outputs.items():
                pq.write_table(
                    table, Path(folder) / f"{name}.parquet", compression="zstd", compression_level=3
                )

    timed("write", write)
    return {name: round(seconds.get(name, 0.0), 3) for name in STAGES}


if __name__ == "__main__":
    print(json.dumps(run_stages(Path(sys.argv[1]))))

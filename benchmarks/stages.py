"""The in-process pipeline cut into timed stages: read, validate, member months, attribution,
cost, reduce, settle, write; shard by shard, so that memory stays bounded by one shard.

It calls the same engine functions a job runs (``settle.engine.readers``,
``settle.engine.validate``, ``settle.engine.kernels``, ``settle.engine.pipeline.reduce``), one
stage at a time, so that each stage's seconds can be told apart.  The member-keyed inputs are
first split into ``K`` member shards on disk (:mod:`benchmarks.shard_split`, once per book and
``K``; default ``K`` = the job's default shard count, one per ``SHARD_LINES`` claim lines, as
``run_job`` would choose); the small broadcast tables (roster, quality) are read and validated
once.  Then, for each shard in turn, in this one process:

* **read**: producing the shard's raw batches (``readers.iter_file``), timed inside the stream
  that validation consumes (the batches are never all held at once, as in a job);
* **validate**: the rest of ``validate_batches`` (row and cross-table checks: the broadcast
  tables first, then per shard eligibility, claims (against the shard's members and the
  roster's NPIs), the rest);
* **member months**, **attribution**, **cost** (claim costs, per-member totals, truncation
  and the split back to groups): the contract's kernels on the shard's accepted tables
  (the reference contract's cap is a fixed amount: no population pass is needed);
* **reduce**: the shard's member costs to settlement cells (``reduce.settlement_cells``), and
  at the end the shards' cells added up (``reduce.combine_cells``);
* **write**: the shard's ``attribution`` and ``member_costs`` appended as zstd Parquet to files
  in a temporary folder;

and once at the end **settle** (the contract kind's statements and ledger,
``reduce.settle_plans``) and **write** of ``statements`` and ``ledger``.  Each stage's seconds
are summed over the shards.  Only one shard's tables (and the shards' small cells) are held at
a time, so the peak memory is about one shard's, not the book's.

``python -m benchmarks.stages JOB.yaml [SHARDS]`` prints :func:`run_stages`'s result as JSON
(``seconds`` per stage, ``shards``, ``split_seconds``, ``peak_process_hwm_bytes`` of the
process); the suite runs it so, one process per repetition, so that no memory is carried from
one measurement to the next.

The job's own stage timer lumps these into validate / map / settle; this split does the same
work once more, in one process, so its total is close to, not equal to, a job's.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.shard_split import ensure_split, shard_folders
from settle.cluster.partitioning import claim_lines
from settle.cluster.plan import MEMBER_TABLES, default_shards
from settle.engine.job import load_job
from settle.engine.kernels.attribution import attribute
from settle.engine.kernels.cost import claim_costs
from settle.engine.kernels.member_costs import member_cost_totals, member_costs, truncation_threshold
from settle.engine.kernels.member_months import member_months
from settle.engine.kernels.rules import ContractRules
from settle.engine.ledger import ledger_to_table
from settle.engine.pipeline.plan import contract_plans
from settle.engine.pipeline.reduce import SettlementCells, combine_cells, settle_plans, settlement_cells
from settle.engine.readers import iter_file, list_input_files
from settle.engine.statement_render import statements_to_table
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


class _Clock:
    """Seconds per stage, summed over the shards."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def timed(self, name: str, work: Callable[[], _T]) -> _T:
        started = time.perf_counter()
        out = work()
        self.add(name, time.perf_counter() - started)
        return out

    def validated(self, name: str, files: list[Any], members: IdSet | None, npis: IdSet | None) -> pa.Table:
        """Read (clocked inside the stream) and validate one table; its accepted rows."""
        raw = _Clocked(b for f in files for b in iter_file(f, name))
        started = time.perf_counter()
        checked = validate_batches(name, raw, files=len(files), members=members, roster_npis=npis)
        self.add("read", raw.seconds)
        self.add("validate", time.perf_counter() - started - raw.seconds)
        return checked.accepted


class _Appender:
    """Parquet files that grow by one shard's rows at a time (zstd level 3, as a job writes)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writers: dict[str, pq.ParquetWriter] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(
                self.folder / f"{name}.parquet", table.schema, compression="zstd", compression_level=3
            )
        writer = self._writers[name]
        writer.write_table(table.cast(writer.schema))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def _shard(
    clock: _Clock,
    out: _Appender,
    folder: Path,
    names: list[str],
    roster: pl.DataFrame,
    rules: ContractRules,
    contract: str,
) -> SettlementCells:
    """One shard's stages, its outputs appended to ``out``; its settlement cells."""
    tables: dict[str, pa.Table] = {}
    members: IdSet | None = None
    npis = id_set(roster["npi"])
    for name in names:
        files = list_input_files([str(folder / name)])
        tables[name] = clock.validated(name, files, members, npis if name != "eligibility" else None)
        if name == "eligibility":
            members = id_set(tables[name]["member_id"])
    elig, claims = pl.DataFrame(tables["eligibility"]), pl.DataFrame(tables["medical_claim"])
    mm = clock.timed("member_months", lambda: member_months(elig, rules.period, rules.cost.member_months))
    att = clock.timed(
        "attribution", lambda: attribute(claims, roster, elig, rules.period, rules.attribution, rules.scope)
    )

    def cost() -> pl.DataFrame:
        costs = claim_costs(claims, elig, rules.period, rules.cost, rules.scope)
        cap = truncation_threshold(rules.cost.truncation, [member_cost_totals(mm, costs.costs, rules.cost)])
        return member_costs(mm, costs.costs, att, rules.cost, cap)

    rows = clock.timed("cost", cost)
    tagged = rows.select(pl.lit(contract).alias("contract_id"), pl.all())
    cells = clock.timed("reduce", lambda: settlement_cells(tagged))
    clock.timed("write", lambda: out.write("attribution", att.to_arrow()))
    clock.timed("write", lambda: out.write("member_costs", tagged.to_arrow()))
    return cells


def run_stages(job_path: Path, shards: int | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    """Seconds per stage (:data:`STAGES`) for a job with one contract (``bench-job.yaml`` in
    its book's folder), over ``shards`` member shards (default: the job's default count).
    The outputs are written to ``out_dir`` if given (it must exist), else to a temporary
    folder deleted afterwards."""
    job = load_job(job_path)
    (plan,) = contract_plans(job)
    if plan.needs_population_pass:
        raise ValueError("the stage split needs a contract without population facts (a fixed cap)")
    lines = claim_lines(list_input_files(job.input_paths("medical_claim")))
    count = shards or default_shards(lines)
    root, split_seconds = ensure_split(job, job_path.parent, count)
    clock = _Clock()
    broadcast = [t for t in _ORDER if t in job.inputs and t not in MEMBER_TABLES]
    broadcast += sorted(t for t in job.inputs if t not in MEMBER_TABLES and t not in broadcast)
    small = {t: clock.validated(t, list_input_files(job.input_paths(t)), None, None) for t in broadcast}
    roster = pl.DataFrame(small["roster"])
    keyed = [t for t in _ORDER if t in job.inputs and t in MEMBER_TABLES]
    keyed += sorted(t for t in job.inputs if t in MEMBER_TABLES and t not in keyed)
    parts: list[SettlementCells] = []
    with tempfile.TemporaryDirectory(prefix="settle-bench-write-") as folder:
        out = _Appender(out_dir or Path(folder))
        for shard in shard_folders(root):
            parts.append(_shard(clock, out, shard, keyed, roster, plan.rules, plan.contract_id))
        figures = clock.timed("reduce", lambda: combine_cells(parts))
        empty = pl.DataFrame(schema={"contract_id": pl.String})
        settled = clock.timed(
            "settle", lambda: settle_plans([plan], figures, empty, empty, small.get("quality"), None)
        )

        def write() -> None:
            out.write("statements", statements_to_table([s.statement for s in settled]))
            out.write("ledger", ledger_to_table([e for s in settled for e in s.entries]))
            out.close()

        clock.timed("write", write)
    return {
        "seconds": {name: round(clock.seconds.get(name, 0.0), 3) for name in STAGES},
        "shards": count,
        "split_seconds": round(split_seconds, 3),
        "peak_process_hwm_bytes": _own_hwm(),
    }


def _own_hwm() -> int:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    count = int(sys.argv[2]) if len(sys.argv) > 2 else None
    print(json.dumps(run_stages(Path(sys.argv[1]), count)))

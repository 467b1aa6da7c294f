"""Running one job document end to end, sharded, and publishing its outputs with a manifest.

Stages (``docs/cluster.md``): **plan** (contracts, input files, partition count ``P`` from the
claim lines, shard count) -> **partition** (only with more than one shard: Ray tasks split the
member-keyed tables into per-partition pieces) -> **validate** (a task per shard: per-partition
validation, accepted rows kept for the map, population facts) -> **map** (a task per shard:
the kernels; member-level outputs written per partition by the task; when no contract needs
population facts, i.e. no percentile truncation and no risk renormalisation, validate and map
are one task per shard, reported as the ``validate`` stage, and the accepted rows never touch
the disk) -> **reduce** (figures summed on the driver) -> **settle** -> **write** (published
in one step with ``manifest.json``).  The member-level output files are assembled partition by
partition by a second thread of the driver, each partition once the shard that holds it is
mapped and fewer shards are left than the cluster has CPUs (:mod:`settle.cluster.member_outputs`).

A job of one shard runs every stage in this process without starting Ray: there is nothing to
spread, and the functions are the same, so the outputs are those of any other shard count.

Outputs (``DOMAIN.md``): ``statements`` (Parquet and JSON), ``ledger``, ``attribution``,
``member_costs``, ``rejects`` and ``manifest.json`` (inputs with sizes and checksums,
contracts, code version, row counts, the plan, and every output's checksum).  The manifest
carries no timings, so a re-run is byte-identical; the files other than the manifest are
identical at any shard count and for any file layout of the same rows (``rejects`` aside,
whose provenance names the files).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from settle.cluster import plan as cluster_plan
from settle.cluster.checksums import InputChecksums
from settle.cluster.code_seeds import roster_code_seeds
from settle.cluster.direct_io import spill_direct
from settle.cluster.member_outputs import ReadyPartitions, write_member_level
from settle.cluster.outputs import OutputWriter
from settle.cluster.partitioning import PARTITION_LINES, claim_lines, partition_count
from settle.cluster.plan import (
    MEMBER_TABLES,
    InputTask,
    JobPlan,
    default_shards,
    input_tasks,
    largest_first,
    pack,
)
from settle.cluster.progress import ProgressCallback, ProgressTracker
from settle.cluster.reduce import (
    MemberCostCells,
    combine_counts,
    combine_figures,
)
from settle.cluster.spill import RAW_BYTES_PER_LINE, spill_compression
from settle.cluster.stages import MapResult, SettledFacts, ShardContext, ValidateResult
from settle.engine import __version__
from settle.engine.job import JobDocument
from settle.engine.ledger import LEDGER_SCHEMA
from settle.engine.pipeline.plan import contract_plans
from settle.engine.pipeline.reduce import SettlementCells, settlement_batches
from settle.engine.pipeline.rendered import RenderedSettlements, settle_batch, statement_heads
from settle.engine.pipeline.run import JobResult
from settle.engine.pipeline.shard import PopulationFacts
from settle.engine.readers import InputFile, list_input_files, parquet_row_groups
from settle.engine.rejects import concat_rejects
from settle.engine.statement import STATEMENT_STEPS_SCHEMA
from settle.engine.statement_render import json_array, statements_to_table
from settle.engine.validate import TableValidation, validate_table
from settle.engine.validate_cross import id_set

__all__ = ["JobOutcome", "run_job"]

OUTPUT_TABLES = ("statements", "ledger", "attribution", "member_costs", "rejects")
_FIRST = ("eligibility", "roster", "medical_claim", "pharmacy_claim")  # validation order
SETTLE_BATCH = 4_096  # settlements per batch settled by one task (whole entities: about)
SETTLE_AHEAD = 4  # batches settling or settled and not yet written, at most


@dataclass(frozen=True)
class JobOutcome:
    """A finished job: where its outputs are, the result (counts and one row per statement;
    the statements, the ledger and the member-level tables are only in the output files) and
    the manifest."""

    output: str
    result: JobResult
    manifest: dict[str, Any]


def _work_dir(out: str) -> Path:
    """A scratch folder for the job's intermediate files: ``SETTLE_WORK_DIR`` if set, else
    beside a local destination, else the system temp folder.  It must be reachable by every
    Ray node (one machine, or a shared file system)."""
    parent = os.environ.get("SETTLE_WORK_DIR")
    if parent:
        base = Path(parent)
    elif "://" in out and not out.startswith("file://"):
        base = Path(tempfile.gettempdir())
    else:
        base = Path(out.removeprefix("file://")).resolve().parent
    base.mkdir(parents=True, exist_ok=True)
    name = Path(out.rstrip("/")).name or "result"
    folder = base / f".{name}.work-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    return folder


def _validate_broadcast(job: JobDocument) -> dict[str, TableValidation]:
    """The small tables (roster, quality, premiums): validated once, here."""
    names = [t for t in job.inputs if t not in MEMBER_TABLES]
    ordered = [t for t in _FIRST if t in names] + sorted(t for t in names if t not in _FIRST)
    return {
        t: validate_table(
            t, job.input_paths(t), column_map=job.column_map.get(t), stratifiers=job.stratifiers
        )
        for t in ordered
    }


def run_job(
    job: JobDocument,
    out: str | Path,
    progress: ProgressCallback | None = None,
    shards: int | None = None,
    *,
    partition_lines: int = PARTITION_LINES,
) -> JobOutcome:
    """Settle ``job`` and publish its outputs at ``out`` (a local folder or an object-store URI).

    ``shards``: the number of shards (default: one per :data:`~settle.cluster.plan.SHARD_LINES`
    claim lines), at most the partition count.  ``partition_lines``: claim lines per partition
    (the partition count is a function of the input size; smaller values are for tests)."""
    tracker = ProgressTracker(progress)
    tracker.enter("plan")
    plans = contract_plans(job)
    files = {t: list_input_files(job.input_paths(t)) for t in sorted(job.inputs)}
    checksums = InputChecksums(files)
    try:
        return _run(job, out, tracker, plans, files, checksums, shards, partition_lines)
    finally:
        checksums.cancel()  # when the job failed; a finished job has taken them


def _run(
    job: JobDocument,
    out: str | Path,
    tracker: ProgressTracker,
    plans: list[Any],
    files: dict[str, list[InputFile]],
    checksums: InputChecksums,
    shards: int | None,
    partition_lines: int,
) -> JobOutcome:
    lines = claim_lines(files["medical_claim"])
    partitions = partition_count(lines, partition_lines)
    wanted = shards if shards is not None else default_shards(lines)
    count = max(1, min(wanted, partitions))
    broadcast = _validate_broadcast(job)
    roster = broadcast["roster"].accepted
    member_tables = [t for t in _FIRST if t in job.inputs and t in MEMBER_TABLES]
    member_tables += sorted(t for t in job.inputs if t in MEMBER_TABLES and t not in member_tables)
    work = _work_dir(str(out))
    try:
        ctx = ShardContext(
            work=str(work),
            partitions=partitions,
            plans=plans,
            tables=tuple(member_tables),
            column_maps=dict(job.column_map),
            stratifiers=tuple(job.stratifiers),
            roster=roster,
            roster_npis=id_set(roster["npi"]),
            partitioned=count > 1,
            files={} if count > 1 else {t: files[t] for t in member_tables},
            spill_compression=spill_compression(lines, work),
            spill_direct=spill_direct(lines * RAW_BYTES_PER_LINE),
            code_seeds=roster_code_seeds(roster),
        )
        plan = JobPlan(partitions, [(0, partitions)], count > 1, lines)
        cells = MemberCostCells(work, partitions)
        ready = ReadyPartitions(partitions)
        shared = concat_rejects(tv.rejects for tv in broadcast.values())
        writer = OutputWriter(str(out))
        try:
            # The member-level outputs are written by a second thread as the shards finish
            # (settle.cluster.member_outputs).
            with ThreadPoolExecutor(1, thread_name_prefix="settle-outputs") as background:
                written = background.submit(write_member_level, writer, work, ready, shared)
                try:
                    if count > 1:
                        validated, mapped = _run_on_ray(ctx, plan, files, count, tracker, cells, ready)
                    else:
                        validated, mapped = _run_here(ctx, plan, tracker)
                        ready.mark_all()
                    return _finish(
                        job,
                        writer,
                        written,
                        work,
                        plans,
                        broadcast,
                        files,
                        plan,
                        validated,
                        mapped,
                        tracker,
                        checksums,
                        cells,
                    )
                except BaseException:
                    ready.stop()  # the writing thread gives up; leaving the block waits for it
                    raise
        except BaseException:
            writer.abort()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _facts(plans: list[Any], validated: list[ValidateResult]) -> SettledFacts:
    merged = PopulationFacts()
    for v in validated:
        merged = merged.merge(v.facts)
    thresholds = {p.contract_id: merged.threshold(p) for p in plans if p.needs_population_pass}
    return SettledFacts(member_totals={}, risk=merged.risk, thresholds=thresholds)


def _needs_population(ctx: ShardContext) -> bool:
    """Whether the job needs two rounds (population facts between validation and the kernels);
    without them each shard validates and runs the kernels in one task."""
    return any(p.needs_population_pass for p in ctx.plans)


def _run_here(
    ctx: ShardContext, plan: JobPlan, tracker: ProgressTracker
) -> tuple[list[ValidateResult], list[MapResult]]:
    from settle.cluster.stages import map_stage, validate_map_stage, validate_stage

    tracker.enter("validate", shards_total=1)
    if not _needs_population(ctx):
        first, second = validate_map_stage(ctx, 0, 0, ctx.partitions)
        tracker.shard_done(first.claim_lines_read)
        plan.shard_lines = [first.claim_lines_read]
        return [first], [second]
    validated = [validate_stage(ctx, 0, 0, ctx.partitions)]
    tracker.shard_done(validated[0].claim_lines_read)
    plan.shard_lines = [validated[0].claim_lines_read]
    facts = _facts(ctx.plans, validated)
    tracker.enter("map", shards_total=1)
    mapped = [map_stage(ctx, 0, 0, ctx.partitions, facts)]
    tracker.shard_done(mapped[0].claim_lines)
    return validated, mapped


def _run_on_ray(
    ctx: ShardContext,
    plan: JobPlan,
    files: dict[str, list[InputFile]],
    count: int,
    tracker: ProgressTracker,
    cells: MemberCostCells,
    ready: ReadyPartitions,
) -> tuple[list[ValidateResult], list[MapResult]]:
    """Partition, then validate and map shard by shard; as soon as a shard's map task has
    finished, its member costs are reduced into ``cells`` (see :class:`MemberCostCells`) and
    its partitions marked ``ready`` for the member-level outputs."""
    import ray

    from settle.cluster.remote import gather, map_task, partition_task, validate_map_task, validate_task
    from settle.cluster.runtime import ensure_ray

    ensure_ray()
    ctx_ref = ray.put(ctx)
    tasks: list[InputTask] = []
    for table in ctx.tables:
        sizes = [f.filesystem.get_file_info(f.path).size or 0 for f in files[table]]
        tasks += input_tasks(
            table,
            files[table],
            sizes,
            first=len(tasks),
            row_groups=parquet_row_groups,
            task_bytes=cluster_plan.task_bytes(sum(sizes)),
        )
    plan.partition_tasks = len(tasks)
    tracker.enter("partition", shards_total=len(tasks))

    submitted = largest_first(tasks)

    def partitioned(i: int, result: tuple[dict[int, int], int]) -> None:
        tracker.shard_done(result[1] if submitted[i].table == "medical_claim" else 0)

    pieces = gather([partition_task.remote(ctx_ref, t) for t in submitted], partitioned)
    per_partition: Counter[int] = Counter()
    for task, (rows, _) in zip(submitted, pieces, strict=True):
        if task.table == "medical_claim":
            per_partition.update(rows)
    lines = [per_partition[p] for p in range(ctx.partitions)]
    plan.shards = pack(lines, count)
    plan.shard_lines = [sum(lines[a:b]) for a, b in plan.shards]

    tracker.enter("validate", shards_total=len(plan.shards))
    ready.hold(len(plan.shards), int(ray.cluster_resources().get("CPU", 0)))  # type: ignore[no-untyped-call]
    if not _needs_population(ctx):

        def validated_and_mapped(i: int, r: tuple[ValidateResult, MapResult]) -> None:
            tracker.shard_done(r[0].claim_lines_read)
            cells.add(range(*plan.shards[i]))
            ready.mark(range(*plan.shards[i]))
            ready.shard_finished()

        both: list[tuple[ValidateResult, MapResult]] = gather(
            [validate_map_task.remote(ctx_ref, i, a, b) for i, (a, b) in enumerate(plan.shards)],
            validated_and_mapped,
        )
        return [v for v, _ in both], [m for _, m in both]
    validated: list[ValidateResult] = gather(
        [validate_task.remote(ctx_ref, i, a, b) for i, (a, b) in enumerate(plan.shards)],
        lambda _, r: tracker.shard_done(r.claim_lines_read),
    )
    facts: PopulationFacts = _facts(ctx.plans, validated)
    facts_ref = ray.put(facts)
    tracker.enter("map", shards_total=len(plan.shards))

    def shard_mapped(i: int, r: MapResult) -> None:
        tracker.shard_done(r.claim_lines)
        cells.add(range(*plan.shards[i]))
        ready.mark(range(*plan.shards[i]))
        ready.shard_finished()

    mapped: list[MapResult] = gather(
        [map_task.remote(ctx_ref, i, a, b, facts_ref) for i, (a, b) in enumerate(plan.shards)],
        shard_mapped,
    )
    return validated, mapped


def _finish(
    job: JobDocument,
    writer: OutputWriter,
    written: Future[None],
    work: Path,
    plans: list[Any],
    broadcast: dict[str, TableValidation],
    files: dict[str, list[InputFile]],
    plan: JobPlan,
    validated: list[ValidateResult],
    mapped: list[MapResult],
    tracker: ProgressTracker,
    checksums: InputChecksums,
    cells: MemberCostCells,
) -> JobOutcome:
    """Reduce, settle and publish.  The member-level outputs need no settlement: the second
    thread has been writing them (``written``) since the shards began, while this one reduces,
    settles and writes the statements and the ledger (Parquet writing releases the GIL,
    settling holds it), so the ``write`` stage is left with waiting for that thread and the
    inputs' checksums (:mod:`~settle.cluster.checksums`) and publishing."""
    tracker.enter("reduce")
    pools, baselines = combine_figures(mapped)
    figures = cells.result()
    tracker.enter("settle")
    result = _settle(
        job,
        plans,
        figures,
        pools,
        baselines,
        broadcast,
        files,
        validated,
        mapped,
        writer,
        work,
        on_ray=plan.partition_stage,
    )
    tracker.enter("write")
    written.result()
    manifest = {
        "job": job.name,
        "settle_version": __version__,
        "period": job.period.model_dump(mode="json"),
        "inputs": checksums.result(),
        "contracts": [p.contract.model_dump(mode="json") for p in plans],
        "counts": result.counts,
        "plan": plan.as_dict(),
    }
    location = writer.commit(manifest)
    tracker.enter("done")
    return JobOutcome(location, result, manifest)


def _settle(
    job: JobDocument,
    plans: list[Any],
    figures: SettlementCells,
    pools: pl.DataFrame,
    baselines: pl.DataFrame,
    broadcast: dict[str, TableValidation],
    files: dict[str, list[InputFile]],
    validated: list[ValidateResult],
    mapped: list[MapResult],
    writer: OutputWriter,
    work: Path,
    on_ray: bool,
) -> JobResult:
    """Every contract settled, its statements and ledger written as they are settled.

    The settlement units go in batches of about :data:`SETTLE_BATCH` settlements (whole
    entities; :func:`~settle.engine.pipeline.reduce.settlement_batches`), each settled and
    rendered to its rows of ``statements.parquet`` and ``ledger.parquet`` and its lines of
    ``statements.json`` (:func:`~settle.engine.pipeline.rendered.settle_batch`): by Ray tasks
    when the job runs on Ray (settling is pure Python and held one core of the driver while
    the other idled), which hand their rows back through the work folder
    (:mod:`settle.cluster.settling`), else here; the driver writes the results in batch
    order.  So the driver's memory does not grow with the statements (about 460,000 at 10
    million members, several gigabytes as Python objects and about 2 GB as a steps table); it
    keeps one row per statement for the summary (``statement_heads``), and the result's
    ``settlements`` and ``tables`` are empty."""
    quality, premiums = broadcast.get("quality"), broadcast.get("premiums")
    batches = settlement_batches(
        plans,
        figures,
        pools,
        baselines,
        quality.accepted if quality is not None else None,
        premiums.accepted if premiums is not None else None,
        units=SETTLE_BATCH,
    )
    if on_ray:
        from settle.cluster.remote import settle_batches

        rendered: Iterator[RenderedSettlements] = settle_batches(str(work), batches, ahead=SETTLE_AHEAD)
    else:
        rendered = (settle_batch(b) for b in batches)
    heads: list[pa.Table] = []
    settled = Counter[str]()
    with (
        writer.parquet_sink("statements", STATEMENT_STEPS_SCHEMA) as steps_out,
        writer.parquet_sink("ledger", LEDGER_SCHEMA) as ledger_out,
    ):

        def lines() -> Iterator[str]:
            for r in rendered:
                steps_out.write(r.steps)
                ledger_out.write(r.ledger)
                heads.append(r.heads)
                settled.update(statements=r.statements, entries=r.entries)
                yield r.json_lines

        writer.write_text_chunks("statements.json", json_array(lines()), lambda: settled["statements"])
    counts = combine_counts(
        validated,
        mapped,
        {t: tv.counts for t, tv in broadcast.items()},
        {t: len(f) for t, f in files.items()},
        settled["statements"],
        settled["entries"],
    )
    return JobResult(
        job_name=job.name,
        plans=plans,
        settlements=[],
        tables={},
        statements_json=None,
        counts=counts,
        statement_heads=pa.concat_tables(heads) if heads else statement_heads(statements_to_table([])),
    )

"""The work of each stage, as plain functions (Ray runs them as tasks; a one-shard job runs
them in the driver process).  Everything a stage writes goes under the job's work folder with
a deterministic name, first to a temporary name and then renamed, so a retried task simply
rewrites the same files.

Work folder layout::

    pieces/<table>/<task>-<seq>.arrow           raw rows, one record batch per partition (partition stage)
    validated/s<shard>/<table>.arrow            a shard's accepted canonical rows
    parts/rejects-v/part-<k>.arrow              validation rejects of partition k
    parts/rejects-k/part-<k>.arrow              kernel rejects of partition k
    parts/attribution/part-<k>.arrow            partition k's attribution, sorted
    parts/member_costs/part-<k>.arrow           partition k's member costs, sorted
    settled/b<batch>-*                          a settled batch's rows (cluster/settling.py)

These are spill files (:mod:`settle.cluster.spill`: Arrow IPC, uncompressed or LZ4), not Parquet.

Validation runs **per partition** (with the partition's accepted eligibility members and the
roster's NPIs): every table check is member-local, so a row's fate depends only on its own
partition and never on which partitions share a shard.  (One consequence, the same at any
shard count: two claim lines with the same duplicate key but different members are both kept
when the members fall in different partitions.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from settle.cluster.code_seeds import Seed
from settle.cluster.partition_stage import partition_stage, split_files
from settle.cluster.partitioning import keyed_partitions
from settle.cluster.spill import SUFFIX, read_partition, read_spill, write_spill
from settle.cluster.spill_integers import restore_integers
from settle.cluster.spill_widths import widen
from settle.cluster.task_codes import compact_dictionaries, join_pieces
from settle.engine.errors import SettleSystemError
from settle.engine.pipeline.plan import ContractPlan
from settle.engine.pipeline.shard import (
    PopulationFacts,
    map_shard,
    population_facts,
    read_columns,
)
from settle.engine.readers import InputFile
from settle.engine.rejects import concat_rejects
from settle.engine.validate import validate_batches
from settle.engine.validate_cross import IdSet, id_set

__all__ = [
    "MapResult",
    "SettledFacts",
    "ShardContext",
    "ValidateResult",
    "map_stage",
    "part_path",
    "partition_stage",
    "sorted_rejects",
    "validate_map_stage",
    "validate_stage",
]

_SORT = {
    "attribution": ("contract_id", "member_id"),
    "member_costs": ("contract_id", "member_id", "group_id"),
}
REJECT_ORDER = ("table", "source_file", "row_number", "reason")


@dataclass(frozen=True)
class ShardContext:
    """What every task of one job needs (sent once through Ray's object store)."""

    work: str
    partitions: int
    plans: list[ContractPlan]
    tables: tuple[str, ...]  # member-keyed tables of the job, in validation order
    column_maps: dict[str, dict[str, str]]
    stratifiers: tuple[str, ...]
    roster: pa.Table
    roster_npis: IdSet
    partitioned: bool
    files: dict[str, list[InputFile]] = field(default_factory=dict)  # read directly when not partitioned
    spill_compression: str | None = "lz4"  # of every spill file (settle.cluster.spill.spill_compression)
    spill_direct: bool = True  # written around the page cache (settle.cluster.direct_io.spill_direct)
    # By format: the values a partition task's dictionary of a code column starts with
    # (settle.cluster.code_seeds.roster_code_seeds).
    code_seeds: dict[str, Seed] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidateResult:
    """Round 1 of a shard: per-table counts and the population facts."""

    counts: dict[str, tuple[int, int, dict[str, int]]]  # table -> (read, accepted, rejects by reason)
    facts: PopulationFacts
    claim_lines_read: int


@dataclass(frozen=True)
class MapResult:
    """Round 2 of a shard: the compact figures the reduce needs."""

    pool_bases: pa.Table
    baselines: pa.Table
    claim_lines: int
    kernel_rejects: int
    rejected_paid_cents: int
    unused_lines: int
    unused_paid_cents: int


@dataclass
class SettledFacts(PopulationFacts):
    """Population facts as a map task needs them: the truncation thresholds already computed
    on the driver (so the member-level totals are not shipped to every task)."""

    thresholds: dict[str, int | None] = field(default_factory=dict)

    def threshold(self, plan: ContractPlan) -> int | None:
        if plan.contract_id in self.thresholds:
            return self.thresholds[plan.contract_id]
        return super().threshold(plan)


# --- round 1: validate ----------------------------------------------------------------------


class _Source:
    """Raw batches of one (table, partition): piece files, or the input files split in memory."""

    def __init__(self, ctx: ShardContext) -> None:
        self.ctx = ctx
        self._direct: dict[str, dict[int, list[pa.Table]]] = {}
        self._pieces: dict[str, list[Path]] = {}

    def batches(self, table: str, p: int) -> list[pa.Table]:
        if self.ctx.partitioned:
            if table not in self._pieces:
                folder = Path(self.ctx.work) / "pieces" / table
                self._pieces[table] = sorted(folder.glob(f"*{SUFFIX}")) if folder.exists() else []
            # Code columns stay dictionaries: validation reads them as text (check_rows_frame),
            # each batch's cut to the values its rows use, then the batches joined into one
            # table whose code columns are one chunk each (see task_codes); 64-bit integers
            # travel as int32 where they fit and are restored (spill_integers); decimals
            # travel as their unscaled int64, which validation reads as such (spill_decimals).
            found = [read_partition(path, p, will_need=True) for path in self._pieces[table]]
            pieces = [compact_dictionaries(widen(rows)) for rows in found if rows is not None]
            return [restore_integers(joined) for joined in join_pieces(pieces)]
        if table not in self._direct:
            split: dict[int, list[pa.Table]] = {}
            for q, part, *_ in split_files(self.ctx, table, self.ctx.files.get(table, []), None, [0]):
                split.setdefault(q, []).append(part)
            self._direct[table] = split
        return self._direct[table].get(p, [])


def validate_stage(ctx: ShardContext, shard: int, start: int, stop: int) -> ValidateResult:
    """Validate partitions ``start..stop`` table by table, write the shard's accepted rows and
    each partition's rejects, and compute the shard's population facts."""
    result, tables = _validate(ctx, start, stop, population=True)
    for table, rows in tables.items():
        folder = Path(ctx.work) / "validated" / f"s{shard:05d}"
        _spill(ctx, rows.to_arrow(), folder / f"{table}{SUFFIX}")
    return result


def validate_map_stage(
    ctx: ShardContext, shard: int, start: int, stop: int
) -> tuple[ValidateResult, MapResult]:
    """Both rounds in one task, for a job none of whose contracts needs the population facts:
    the accepted rows go straight from validation to the kernels as Polars frames, never
    through the disk or Arrow."""
    result, tables = _validate(ctx, start, stop, population=False)
    return result, _map(ctx, tables, PopulationFacts())


def _validate(
    ctx: ShardContext, start: int, stop: int, *, population: bool
) -> tuple[ValidateResult, dict[str, pl.DataFrame]]:
    """The accepted rows of partitions ``start..stop`` per table, as Polars frames in the
    canonical schema's Polars types (Arrow only where they are written)."""
    source = _Source(ctx)
    accepted: dict[str, list[pl.DataFrame]] = {t: [] for t in ctx.tables}
    read: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {t: Counter() for t in ctx.tables}
    for p in range(start, stop):
        members: IdSet | None = None
        rejects = []
        for table in ctx.tables:
            first = table == "eligibility"
            tv = validate_batches(
                table,
                source.batches(table, p),
                stratifiers=ctx.stratifiers,
                members=None if first else members,
                roster_npis=None if first else ctx.roster_npis,
                keep=read_columns(table),
            )
            if first:
                members = id_set(tv.frame["member_id"])
            accepted[table].append(tv.frame)
            rejects.append(tv.rejects)
            read[table] += tv.counts.read
            kept[table] += tv.counts.accepted
            reasons[table].update(tv.counts.rejected_by_reason)
        found = concat_rejects(rejects)
        if found.num_rows:
            _spill(ctx, sorted_rejects([found]), _part(ctx, "rejects-v", p))
    tables = {t: pl.concat(parts, how="vertical", rechunk=False) for t, parts in accepted.items()}
    facts = PopulationFacts()
    if population and any(plan.needs_population_pass for plan in ctx.plans) and _has_members(tables):
        facts = population_facts(ctx.plans, {**tables, "roster": ctx.roster})
        # Only the cost column feeds the threshold: the member ids stay in the task.
        facts.member_totals = {
            k: [t.select("completed_cost_cents") for t in v] for k, v in facts.member_totals.items()
        }
    counts = {t: (read[t], kept[t], dict(reasons[t])) for t in ctx.tables}
    return ValidateResult(counts, facts, read["medical_claim"]), tables


def _has_members(tables: Mapping[str, pa.Table | pl.DataFrame]) -> bool:
    """Whether the shard has anything for the kernels (they need eligibility and claims)."""
    elig, claims = tables.get("eligibility"), tables.get("medical_claim")
    if elig is None or claims is None or (len(elig) == 0 and len(claims) == 0):
        return False
    if len(elig) == 0 or len(claims) == 0:
        raise SettleSystemError(
            "a shard holds eligibility without claims (or claims without eligibility); "
            "the job's partitions are too small for its data: run it with fewer partitions"
        )
    return True


# --- round 2: map -----------------------------------------------------------------------------


def map_stage(ctx: ShardContext, shard: int, start: int, stop: int, facts: PopulationFacts) -> MapResult:
    """Run every contract's kernels over the shard's accepted rows; write the member-level
    outputs per partition; return the compact figures."""
    folder = Path(ctx.work) / "validated" / f"s{shard:05d}"
    return _map(ctx, {t: read_spill(folder / f"{t}{SUFFIX}") for t in ctx.tables}, facts)


def _map(
    ctx: ShardContext, tables: Mapping[str, pa.Table | pl.DataFrame], facts: PopulationFacts
) -> MapResult:
    empty = pa.table({"contract_id": pa.array([], pa.string())})
    if not _has_members(tables):
        return MapResult(empty, empty, 0, 0, 0, 0, 0)
    # Polars 2.1's streaming engine panics ("assertion failed: i < self.len()", binview) on
    # some shards; first met in the attribution kernel, which now pins the in-memory engine
    # itself (engine/kernels/attribution.py).  The whole map step stays on the in-memory
    # engine, as measured and tested, until the bug is fixed upstream.
    with pl.Config(engine_affinity="in-memory"):
        out = map_shard(ctx.plans, {**tables, "roster": ctx.roster}, facts)
    for name in ("attribution", "member_costs"):
        table: pa.Table = getattr(out, name)
        if table.num_rows == 0:
            continue
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        parts = keyed_partitions(table["member_id"], ctx.partitions)
        frame = frame.with_columns(pl.Series("__p", parts))
        for (p,), rows in frame.partition_by("__p", as_dict=True, maintain_order=True).items():
            sorted_rows = rows.drop("__p").sort(*_SORT[name])
            _spill(ctx, sorted_rows.to_arrow(), _part(ctx, name, int(p)))
    if out.rejects.num_rows:
        for p, rows in _route_rejects(ctx, out.rejects, tables):
            _spill(ctx, sorted_rejects([rows]), _part(ctx, "rejects-k", p))
    return MapResult(
        pool_bases=out.pool_bases,
        baselines=out.baselines,
        claim_lines=out.claim_lines,
        kernel_rejects=out.rejects.num_rows,
        rejected_paid_cents=out.rejected_paid_cents,
        unused_lines=out.unused_lines,
        unused_paid_cents=out.unused_paid_cents,
    )


def _route_rejects(
    ctx: ShardContext, rejects: pa.Table, tables: Mapping[str, pa.Table | pl.DataFrame]
) -> Iterator[tuple[int, pa.Table]]:
    """Kernel rejects per partition, through the member id of the accepted row they name."""
    found = pl.from_arrow(rejects)
    assert isinstance(found, pl.DataFrame)
    routed = []
    for (name,), rows in found.partition_by("table", as_dict=True, maintain_order=True).items():
        source = pl.DataFrame(tables[str(name)]).select(["_source_file", "_row_number", "member_id"])
        assert isinstance(source, pl.DataFrame)
        rows = rows.with_columns(pl.col("source_file").cast(source.schema["_source_file"]))
        joined = rows.join(
            source.rename({"_source_file": "source_file", "_row_number": "row_number"}),
            on=["source_file", "row_number"],
            how="left",
            maintain_order="left",
        )
        routed.append(joined)
    every = pl.concat(routed)
    parts = keyed_partitions(every["member_id"].to_arrow(), ctx.partitions)
    every = every.with_columns(pl.Series("__p", parts), pl.col("source_file").cast(pl.String)).drop(
        "member_id"
    )
    for (p,), rows in every.partition_by("__p", as_dict=True, maintain_order=True).items():
        yield int(p), rows.drop("__p").to_arrow()


def sorted_rejects(tables: Iterable[pa.Table]) -> pa.Table:
    """``tables`` of rejects as one, sorted by :data:`REJECT_ORDER`."""
    return concat_rejects(tables).sort_by([(c, "ascending") for c in REJECT_ORDER])


def part_path(work: str | Path, name: str, p: int) -> Path:
    """Partition ``p``'s part file of ``name`` (``attribution``, ``member_costs``,
    ``rejects-v``, ``rejects-k``) in the work folder ``work``."""
    return Path(work) / "parts" / name / f"part-{p:06d}{SUFFIX}"


def _part(ctx: ShardContext, name: str, p: int) -> Path:
    return part_path(ctx.work, name, p)


def _spill(ctx: ShardContext, table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` as the job spills (its compression, through the cache or not)."""
    write_spill(table, path, ctx.spill_compression, ctx.spill_direct)

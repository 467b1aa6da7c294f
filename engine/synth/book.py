"""Assembling one synthetic book: member blocks in, table files out.

:class:`BookWriter` receives the generated member blocks in order, keeps the running figures
that the contract terms and premiums are set from (allowed cost per group and year, any-day
member months per group and month) and writes each block's rows for the layout:

* ``by_group``: ``eligibility``, ``medical_claim`` and ``pharmacy_claim`` get one folder per
  employer group.  A member's rows with their first employer arrive in group order (groups are
  contiguous ranges of members), so they stream straight into ``<group>/part-000.parquet``
  (a group with more than about five million expected claim rows is split into ``part-001``,
  ... by member number).  Rows with the employer a member moved to are spilled and written at
  the end into ``<group>/moved-000.parquet``.  A claim row belongs to the group whose
  enrollment span covers its service date.  Folder names carry no ``key=value`` (Hive) form,
  because the files also hold ``group_id`` (eligibility) and Arrow's Hive discovery would
  clash with it.
* ``feed``: claims and fills in paid-date order (ties by claim id and line number) across
  ``part-NNNNN.parquet`` files of at most ``feed_file_rows`` rows that mix every group and
  member, as a payer's claims feed arrives; eligibility in one file in member order.  Rows are
  spilled by paid-date range chunk by chunk and sorted one range at a time.

Risk scores and voluntary alignment are one file each, in member order, in both layouts.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from settle.engine.synth.arrow import I64
from settle.engine.synth.badrows import inject_bad_rows
from settle.engine.synth.claims import MEDICAL_SCHEMA, medical_lines
from settle.engine.synth.io import (
    ONE_FILE,
    UNIT_COLUMN,
    Spill,
    StreamWriter,
    UnitPlan,
    UnitStreams,
    numbered_parts,
    plan_units,
    write_sorted,
    write_units,
)
from settle.engine.synth.members import (
    ALIGNMENT_SCHEMA,
    ELIGIBILITY_SCHEMA,
    RISK_SCHEMA,
    Members,
    alignment_table,
    eligibility_table,
    risk_table,
)
from settle.engine.synth.rx import RX_SCHEMA, pharmacy_fills
from settle.engine.synth.world import World

__all__ = ["BookWriter", "Layout"]

Layout = Literal["by_group", "feed"]
LINES_PER_MEMBER = 38.0  # expected medical rows per member over both years, for planning files
BUCKET_ROWS = 4_000_000
GROUP_FILE_ROWS = 5_000_000
CLAIM_TABLES = ("medical_claim", "pharmacy_claim")
_SCHEMAS = {"eligibility": ELIGIBILITY_SCHEMA, "medical_claim": MEDICAL_SCHEMA, "pharmacy_claim": RX_SCHEMA}
_SORT = {
    "medical_claim": [
        ("paid_date", "ascending"),
        ("claim_id", "ascending"),
        ("claim_line_number", "ascending"),
    ],
    "pharmacy_claim": [("paid_date", "ascending"), ("claim_id", "ascending")],
}


class BookWriter:
    """Writes one book while its member blocks are generated."""

    def __init__(self, world: World, out: Path, layout: Layout, *, feed_file_rows: int) -> None:
        self.world, self.out, self.layout = world, out, layout
        sizes = np.diff(world.group_first).astype(np.float64)
        self.plan = plan_units(
            sizes * LINES_PER_MEMBER, world.group_first, file_rows=GROUP_FILE_ROWS, bucket_rows=BUCKET_ROWS
        )
        # Rows of members who moved: about 2% of rows, by the destination group's weight.
        self.moved_plan = plan_units(
            world.group_weight * world.members * LINES_PER_MEMBER * 0.02,
            world.group_first,
            file_rows=ONE_FILE,
            bucket_rows=BUCKET_ROWS,
        )
        self.first_day = int(world.years[0, 0])
        n_days = world.extract_day - self.first_day + 1
        self.days_per_bucket = max(1, int(BUCKET_ROWS * n_days / (LINES_PER_MEMBER * world.members)))
        self.feed_buckets = math.ceil(n_days / self.days_per_bucket)
        self.feed_file_rows = feed_file_rows
        self.spill_dir = out / "_spill"
        spilled = ("eligibility", *CLAIM_TABLES) if layout == "by_group" else CLAIM_TABLES
        self.spills = {t: Spill(self.spill_dir, t) for t in spilled}
        self.staged: dict[str, list[tuple[pa.Table, I64]]] = {t: [] for t in self.spills}
        self.streams = {
            "risk_scores": StreamWriter(numbered_parts(out / "risk_scores"), RISK_SCHEMA),
            "voluntary_alignment": StreamWriter(
                numbered_parts(out / "voluntary_alignment"), ALIGNMENT_SCHEMA
            ),
        }
        self.units: dict[str, UnitStreams] = {}
        if layout == "feed":
            elig_parts = numbered_parts(out / "eligibility")
            self.streams["eligibility"] = StreamWriter(elig_parts, ELIGIBILITY_SCHEMA)
        else:
            self.units = {
                t: UnitStreams(_SCHEMAS[t], _UnitPath(world, self.plan, out / t, "part")) for t in _SCHEMAS
            }
        self.cost = np.zeros((world.n_groups, 2, 2), dtype=np.int64)  # group, year, (medical, pharmacy)
        self._month_diff = np.zeros((world.n_groups, 25), dtype=np.int64)
        self.reversals = self.replacements = 0

    def add_block(
        self,
        m: Members,
        rng: np.random.Generator,
        *,
        bad_rows: int = 0,
        bad_rng: np.random.Generator | None = None,
    ) -> tuple[tuple[str, str], ...]:
        """Generate and write (or stage) one block's rows; returns the injected bad rows, if any."""
        w = self.world
        elig, elig_group, elig_member = eligibility_table(w, m)
        self.streams["risk_scores"].write(risk_table(w, m, rng))
        self.streams["voluntary_alignment"].write(alignment_table(w, m, rng))
        # The feed layout wants rows by paid-date bucket (spilled without a copy); a block that
        # gets bad rows keeps the canonical order, so both layouts pick the same host lines.
        feed = self.layout == "feed" and not bad_rows
        buckets = (self.first_day, self.days_per_bucket) if feed else None
        med = medical_lines(w, m, rng, paid_buckets=buckets)
        rx = pharmacy_fills(w, m, rng, paid_buckets=buckets)
        made: tuple[tuple[str, str], ...] = ()
        if bad_rows and bad_rng is not None:
            med, made = inject_bad_rows(med, bad_rows, bad_rng)
        self._member_months(m)
        self.cost[:, :, 0] += med.cost
        self.cost[:, :, 1] += rx.cost
        self.reversals += med.reversals
        self.replacements += med.replacements
        if self.layout == "feed":
            self.streams["eligibility"].write(elig)
            for name, part in (("medical_claim", med), ("pharmacy_claim", rx)):
                bucket = (part.paid_day - self.first_day) // self.days_per_bucket
                self.staged[name].append((part.table, bucket))
            return made
        elig_moved = elig_group != m.g1[elig_member]
        main = np.flatnonzero(~elig_moved)
        moved = np.flatnonzero(elig_moved)
        self.units["eligibility"].write(
            elig.take(pa.array(main)), self.plan.units(elig_group[main], m.gidx[elig_member[main]])
        )
        self._stage_moved("eligibility", elig.take(pa.array(moved)), elig_group[moved])
        for name, part in (("medical_claim", med), ("pharmacy_claim", rx)):
            k = part.n_main
            self.units[name].write(part.table.slice(0, k), self.plan.units(part.group[:k], part.gidx[:k]))
            self._stage_moved(name, part.table.slice(k), part.group[k:])
        return made

    def _stage_moved(self, name: str, table: pa.Table, group: I64) -> None:
        if table.num_rows:
            table = table.append_column(UNIT_COLUMN, pa.array(group.astype(np.int32)))
            self.staged[name].append((table, self.moved_plan.bucket_of_unit[group]))

    def spill(self) -> None:
        """Write the staged rows of the current chunk to the spill files."""
        for name, staged in self.staged.items():
            if staged:
                self.spills[name].add(staged)
            self.staged[name] = []

    def _member_months(self, m: Members) -> None:
        """Any-day member months per group and month of the two years, as a difference array."""
        w = self.world
        offset = w.month0 - (w.year - 1) * 12
        lo, hi = int(w.years[0, 0]), int(w.years[1, 1])
        for start, end, group, present in (
            (m.s1, m.e1, m.g1, np.ones(m.n, dtype=bool)),
            (m.s2, m.e2, m.g2, m.has2),
        ):
            live = present & (end >= lo) & (start <= hi)
            first = np.searchsorted(w.months, np.maximum(start, lo), side="right") - 1 + offset
            last = np.searchsorted(w.months, np.minimum(end, hi), side="right") - 1 + offset
            np.add.at(self._month_diff, (group[live], first[live]), 1)
            np.add.at(self._month_diff, (group[live], last[live] + 1), -1)

    @property
    def member_months(self) -> I64:
        """Any-day member months, shape (groups, 24): lookback-year months, then performance-year months."""
        return np.cumsum(self._month_diff, axis=1)[:, :24]

    def finish(self) -> tuple[dict[str, tuple[Path, ...]], dict[str, int]]:
        """Write the remaining files; returns the files and the rows written, per table."""
        files: dict[str, list[Path]] = {}
        rows: dict[str, int] = {}
        for name, stream in self.streams.items():
            files[name] = stream.close()
            rows[name] = stream.rows
        for name, units in self.units.items():
            files[name] = units.close()
            rows[name] = units.rows + self.spills[name].rows
        for name, spill in self.spills.items():
            folder = self.out / name
            if self.layout == "feed":
                writer = StreamWriter(numbered_parts(folder), _SCHEMAS[name], file_rows=self.feed_file_rows)
                files[name] = write_sorted(spill, self.feed_buckets, _SORT[name], writer)
                rows[name] = writer.rows
            else:
                moved_path = _UnitPath(self.world, self.moved_plan, folder, "moved")
                files[name] += write_units(spill, self.moved_plan.n_buckets, moved_path, _SCHEMAS[name])
            spill.remove()
        shutil.rmtree(self.spill_dir, ignore_errors=True)
        return {k: tuple(sorted(v)) for k, v in files.items()}, rows

    def discard(self) -> None:
        """Remove the spill files (after a failure)."""
        shutil.rmtree(self.spill_dir, ignore_errors=True)


class _UnitPath:
    """The file of an output unit: ``<folder>/<group id>/<stem>-NNN.parquet``."""

    def __init__(self, world: World, plan: UnitPlan, folder: Path, stem: str) -> None:
        self.ids = [str(g) for g in world.group_ids.to_pylist()]
        self.plan, self.folder, self.stem = plan, folder, stem

    def __call__(self, unit: int) -> Path:
        group = int(self.plan.group_of_unit[unit])
        return self.folder / self.ids[group] / f"{self.stem}-{int(self.plan.part_of_unit[unit]):03d}.parquet"

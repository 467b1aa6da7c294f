"""Synthetic claim sets: a seed in, a complete book of canonical input tables out.

:func:`generate` writes, under ``out_dir``, every input table of :mod:`settle.engine.schemas`
as Parquet with the *source* column names (the Tuva input layer: ``paid_amount``,
``allowed_amount`` and ``premium_amount`` in dollars as ``decimal128`` with two decimals,
identifiers as strings, dates as ``date32``), plus ``contracts.yaml`` (one contract of every
kind) and a ready ``job.yaml``::

    eligibility/            by_group: G0001/part-000.parquet, G0001/moved-000.parquet, ...;
                            feed: part-00000.parquet
    medical_claim/          by_group: one folder per employer group; feed: paid-date order
    pharmacy_claim/         likewise
    risk_scores/            part-00000.parquet (member order)
    voluntary_alignment/    part-00000.parquet
    roster.parquet  quality.parquet  premiums.parquet  contracts.yaml  job.yaml

The book covers the performance year, the year before it (the *lookback* year, for
prospective attribution and computed baselines) and a run-out: claims paid up to three
months after the performance year.  Distributions: ``docs/synthetic.md`` and the docstrings of
the modules of this package (world, members, claims, rx, codes, badrows, docs, book, io).

**Determinism.** Members are generated in fixed blocks of :data:`BLOCK_MEMBERS`, each from its
own random stream (``SeedSequence(seed, spawn_key=(1, block))``); the world has its own
stream (``(0,)``), injected bad rows ``(2,)`` and premiums ``(3,)``.  The same seed and options
give byte-identical files whatever ``chunk_members`` is (chunks only bound memory).  Files
depend on the numpy and pyarrow versions.

**Premiums** (rule chosen here): per group and month of the performance year, any-day member
months x the group's premium PMPM; the PMPM is the group's lookback medical + pharmacy allowed
PMPM blended with the book's by credibility ``min(1, sqrt(member months / 12000))``, trended
5%, divided by 0.88 (a 12% administrative load) and scattered by lognormal(0, 0.04).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from settle.engine.errors import SynthOptionError
from settle.engine.synth.arrow import I64, date_array, money_array
from settle.engine.synth.book import BookWriter, Layout
from settle.engine.synth.docs import BookFigures, contracts_document, job_document, write_yaml
from settle.engine.synth.members import make_members
from settle.engine.synth.world import World, build_world

__all__ = ["BLOCK_MEMBERS", "Layout", "SynthSummary", "generate"]

BLOCK_MEMBERS = 2048


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate` wrote."""

    out_dir: Path
    job_path: Path
    contracts_path: Path
    layout: str
    members: int
    seed: int
    performance_year: int
    groups: int
    entities: int
    clinicians: int
    rows: Mapping[str, int]  # rows written per table
    files: Mapping[str, tuple[Path, ...]]  # files written per table
    reversal_lines: int
    replacement_lines: int
    lookback_pmpm: Decimal  # medical allowed per any-day member month, lookback year, netted
    performance_pmpm: Decimal  # the same for the performance year (claims paid by the extract date)
    bad_rows: tuple[tuple[str, str], ...]  # (kind, claim id) of each injected bad row


def generate(
    out_dir: Path | str,
    *,
    members: int,
    seed: int,
    layout: Layout = "by_group",
    performance_year: int = 2025,
    chunk_members: int = 200_000,
    bad_rows: int = 0,
    groups: int | None = None,
    entities: int | None = None,
    feed_file_rows: int = 20_000_000,
) -> SynthSummary:
    """Write a synthetic book of ``members`` members under ``out_dir`` (new or empty).

    ``groups`` and ``entities`` default to ``clip(members / 1500, 5, 3000)`` and
    ``clip(members / 8000, 3, 300)``.  ``chunk_members`` bounds memory (rounded up to whole
    blocks of :data:`BLOCK_MEMBERS`) and does not change the output.  ``bad_rows`` injects that
    many known bad medical claim rows (see :mod:`settle.engine.synth.badrows`).
    """
    out = Path(out_dir)
    _check(members, seed, layout, performance_year, chunk_members, bad_rows, groups, entities, out)
    n_groups = groups if groups is not None else int(np.clip(members // 1500, 5, 3000))
    n_entities = entities if entities is not None else int(np.clip(members // 8000, 3, 300))
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(
        _rng(seed, 0), members=members, year=performance_year, groups=n_groups, entities=n_entities
    )
    book = BookWriter(world, out, layout, feed_file_rows=feed_file_rows)
    blocks_per_chunk = max(1, math.ceil(chunk_members / BLOCK_MEMBERS))
    made: tuple[tuple[str, str], ...] = ()
    try:
        for block in range(math.ceil(members / BLOCK_MEMBERS)):
            first = block * BLOCK_MEMBERS
            m = make_members(world, rng := _rng(seed, 1, block), first, min(BLOCK_MEMBERS, members - first))
            made += book.add_block(m, rng, bad_rows=bad_rows if block == 0 else 0, bad_rng=_rng(seed, 2))
            if (block + 1) % blocks_per_chunk == 0:
                book.spill()
        book.spill()
        files, rows = book.finish()
    except BaseException:
        book.discard()
        raise
    figures, premiums = _premiums(world, book, _rng(seed, 3))
    small = {"roster": world.roster, "quality": world.quality_table, "premiums": premiums}
    for name, table in small.items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path, compression="zstd")
        files[name] = (path,)
        rows[name] = table.num_rows
    contracts_path, job_path = out / "contracts.yaml", out / "job.yaml"
    header = f"Synthetic book: {members} members, seed {seed}, performance year {performance_year}."
    write_yaml(contracts_path, contracts_document(figures), header)
    write_yaml(job_path, job_document(performance_year), header)
    mm = book.member_months
    return SynthSummary(
        out_dir=out,
        job_path=job_path,
        contracts_path=contracts_path,
        layout=layout,
        members=members,
        seed=seed,
        performance_year=performance_year,
        groups=n_groups,
        entities=n_entities,
        clinicians=len(world.prov_kind),
        rows={k: rows[k] for k in sorted(rows)},
        files={k: files[k] for k in sorted(files)},
        reversal_lines=book.reversals,
        replacement_lines=book.replacements,
        lookback_pmpm=_pmpm(int(book.cost[:, 0, 0].sum()), int(mm[:, :12].sum())),
        performance_pmpm=_pmpm(int(book.cost[:, 1, 0].sum()), int(mm[:, 12:].sum())),
        bad_rows=made,
    )


def _check(
    members: int,
    seed: int,
    layout: str,
    performance_year: int,
    chunk_members: int,
    bad_rows: int,
    groups: int | None,
    entities: int | None,
    out: Path,
) -> None:
    problems = [
        ("members", members < 100, "must be at least 100"),
        ("seed", seed < 0, "must not be negative"),
        ("layout", layout not in ("by_group", "feed"), "must be by_group or feed"),
        ("performance_year", not 1950 <= performance_year <= 2200, "must be between 1950 and 2200"),
        ("chunk_members", chunk_members < 1, "must be at least 1"),
        ("bad_rows", not 0 <= bad_rows <= min(1000, members), "must be between 0 and 1000 (and the members)"),
        ("groups", groups is not None and groups < 1, "must be at least 1"),
        ("entities", entities is not None and entities < 1, "must be at least 1"),
    ]
    for option, bad, rule in problems:
        if bad:
            raise SynthOptionError(f"synthetic claim set: option {option} {rule}.", option=option)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SynthOptionError(
            f"synthetic claim set: the output folder {out} is not empty; choose a new or empty folder.",
            option="out",
        )


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _pmpm(cents: int, member_months: int) -> Decimal:
    if member_months == 0:
        return Decimal("0.00")
    return (Decimal(cents) / 100 / member_months).quantize(Decimal("0.01"))


def _premiums(world: World, book: BookWriter, rng: np.random.Generator) -> tuple[BookFigures, pa.Table]:
    """The premiums table (performance year) and the figures the contract terms are set from."""
    mm = book.member_months
    mm_lb, mm_py = mm[:, :12].sum(axis=1), mm[:, 12:]
    cost_lb = book.cost[:, 0, :].sum(axis=1)  # medical + pharmacy, cents
    book_pmpm = cost_lb.sum() / max(1, mm_lb.sum())
    z = np.minimum(1.0, np.sqrt(mm_lb / 12000.0))
    group_pmpm = np.where(mm_lb > 0, cost_lb / np.maximum(mm_lb, 1), book_pmpm)
    scatter = rng.lognormal(0.0, 0.04, world.n_groups)
    premium_pmpm = (z * group_pmpm + (1 - z) * book_pmpm) * 1.05 / 0.88 * scatter
    pmpm_cents = np.rint(premium_pmpm).astype(np.int64)
    group, month = np.nonzero(mm_py > 0)
    month_days = world.month_day(np.asarray(world.year * 12 + month, dtype=np.int64))
    cents: I64 = mm_py[group, month] * pmpm_cents[group]
    table = pa.table(
        {
            "group_id": world.group_ids.take(pa.array(group)),
            "month": date_array(month_days),
            "premium_amount": money_array(cents, precision=16),
        }
    )
    total_mm = int(mm_py.sum())
    average = Decimal(int(cents.sum())) / 100 / max(1, total_mm)
    largest = np.argsort(-mm_py.sum(axis=1), kind="stable")
    ids = world.group_ids.to_pylist()
    figures = BookFigures(
        year=world.year,
        lookback_pmpm=_pmpm(int(book.cost[:, 0, 0].sum()), int(mm_lb.sum())),
        premium_pmpm=average.quantize(Decimal("0.01")),
        largest_groups=tuple(str(ids[g]) for g in largest[:5]),
    )
    return figures, table

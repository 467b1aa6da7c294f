"""Smoke test of the benchmark code on a tiny synthetic book (no time is asserted).

Checks that the DuckDB and the Polars references give exactly Settle's entity x employer
table, with the truncation cap lowered to $2,000 so that the cap bites and the largest-remainder
split across a member's groups is exercised; that the stages run shard by shard and their
written member costs give the same table; that the PNG renderer
writes a valid PNG; and that the fresh-memory probe recorded with each run measures something.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import polars as pl
import pytest

from benchmarks.books import ensure_book, reference_job
from benchmarks.e2e import e2e_table
from benchmarks.machine import fresh_memory_seconds_per_gb
from benchmarks.plot import render_png, run_labels, throughput_series
from benchmarks.ref_duckdb import duckdb_reference
from benchmarks.ref_polars import polars_reference
from benchmarks.ref_process import run_reference
from benchmarks.ref_settle import compare, settle_core
from benchmarks.shard_split import shard_folders
from benchmarks.stages import STAGES, run_stages


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    book = ensure_book(tmp_path_factory.mktemp("bench"), members=500, seed=7)
    reference_job(book, truncation_dollars=2_000)
    return book


def test_references_agree_exactly_with_settle(book) -> None:  # type: ignore[no-untyped-def]
    _, expected, params = settle_core(book.bench_job)
    assert params.truncation_cents == 200_000
    # the cap bites somewhere, and at least one cell is attributed to an entity
    assert (expected["truncated_cost_cents"] < expected["raw_cost_cents"]).any()
    assert expected["entity_id"].is_not_null().any()
    args = (params, book.files("eligibility"), book.files("medical_claim"), book.files("roster")[0])
    _, by_duckdb = duckdb_reference(*args, threads=1)
    _, by_polars = polars_reference(*args)
    assert compare(expected, by_duckdb) == []
    assert compare(expected, by_polars) == []
    # The suite runs each reference in a process of its own: the same table comes back.
    seconds, in_child = run_reference("polars", *args)
    assert seconds > 0
    assert compare(expected, in_child) == []
    with pytest.raises(ValueError, match="unknown reference 'sqlite'"):
        run_reference("sqlite", *args)


def test_settle_core_shard_by_shard_gives_the_whole_book_table(book) -> None:  # type: ignore[no-untyped-def]
    _, whole, _ = settle_core(book.bench_job)
    _, sharded, _ = settle_core(book.bench_job, shards=4)
    assert compare(whole, sharded) == []


def test_compare_reports_a_changed_cell(book) -> None:  # type: ignore[no-untyped-def]
    _, expected, _ = settle_core(book.bench_job)
    changed = expected.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("raw_cost_cents") + 1)
        .otherwise(pl.col("raw_cost_cents"))
    )
    problems = compare(expected, changed)
    assert any(p.startswith("raw_cost_cents: 1 cells differ") for p in problems)


def test_stages_run_shard_by_shard_and_write_settles_table(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = run_stages(book.bench_job, shards=3, out_dir=tmp_path)
    assert list(report["seconds"]) == list(STAGES)
    assert all(s >= 0 for s in report["seconds"].values())
    assert report["shards"] == 3
    assert len(shard_folders(book.path / "stage-shards-3")) == 3
    # the shards' member costs, written one shard at a time, are the whole book's answer
    _, expected, _ = settle_core(book.bench_job)
    assert compare(expected, e2e_table(tmp_path)) == []


def test_plot_writes_a_png_of_the_asked_size(tmp_path: Path) -> None:
    records = [
        {
            "dataset": {"members": 10},
            "git": {"commit": "abcdef123"},
            "figures": {"references": {"duckdb": {"lines_per_second": 2.0e6}}},
        },
        {
            "dataset": {"members": 10},
            "git": {"commit": "1234567890"},
            "figures": {"e2e": {"warm": {"lines_per_second": 3.0e6}}},
        },
        {"dataset": {"members": 99}, "figures": {"e2e": {"warm": {"lines_per_second": 1.0}}}},
    ]
    series = throughput_series(records, 10)
    assert series["DuckDB reference"] == [2.0e6, None] and series["Settle warm"] == [None, 3.0e6]
    assert [label.split("\n")[0] for label in run_labels(records, 10)] == ["abcdef1", "1234567"]
    path = render_png(series, tmp_path / "p.png", width=320, height=200, labels=run_labels(records, 10))
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (200, 320)


def test_fresh_memory_probe_times_the_pages_it_touches() -> None:
    small = fresh_memory_seconds_per_gb(16 << 20)
    assert 0 < small < 100  # CPU seconds per GB: zero would mean no page was touched

"""Smoke test of the scaling suite on a tiny book (no time is asserted).

The suite runs for real: three warm runner processes (the embedded Ray with every core and
shard counts 3, 2 and 4; the embedded Ray limited to 1 CPU; a Ray cluster of a head and two
1-CPU worker nodes), with partitions of 1,000 claim lines so that every shard count really
shards.  Checked: every configuration's outputs are byte-identical (``manifest.json`` aside),
the base output agrees with Settle's in-process table, and each configuration ran with the
shards, CPUs and nodes it names.  Also: the output digest and the members growth figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.books import ensure_book, reference_job
from benchmarks.machine import TreeMemory
from benchmarks.ref_settle import settle_core
from benchmarks.scaling import growth, scaling
from benchmarks.warm import StageClock, output_digest


@pytest.mark.slow
def test_scaling_suite_configurations_write_identical_outputs(tmp_path: Path) -> None:
    book = ensure_book(tmp_path / "data", members=500, seed=7)
    reference_job(book, truncation_dollars=2_000)
    _, expected, _ = settle_core(book.bench_job)
    out = scaling(
        book.bench_job,
        tmp_path / "data",
        1,
        lambda seconds: {"lines_per_second": round(14_000 / seconds)},
        expected,
        shard_counts=(2, 4),
        base_shards=3,
        partition_lines=1_000,
    )
    assert out["outputs_identical"] is True
    assert {"base/3", "base/2", "base/4", "workers-1/3", "nodes/3"} <= set(out["digests"])
    assert len({d for ds in out["digests"].values() for d in ds}) == 1
    assert out["base_agrees_with_references"] is True
    assert out["base"]["shards"] == 3 and out["base"]["relative_to_base"] == 1.0
    assert {k: v["shards"] for k, v in out["shards"].items()} == {"2": 2, "4": 4}
    assert out["workers"]["1"]["ray_cpus"] == 1.0 and out["workers"]["1"]["shards"] == 3
    assert out["workers"]["2"]["ray_cpus"] == 2.0
    nodes = out["nodes"]["2x1"]
    assert (nodes["ray_nodes"], nodes["ray_cpus"], nodes["shards"]) == (3, 2.0, 3)
    assert out["speedup_1_to_2_workers"] > 0 and out["distribution_cost"] > 0
    assert out["members"]["seconds"] == out["base"]["seconds"]
    assert out["members"]["peak_tree_rss_bytes"] >= out["members"]["peak_process_hwm_bytes"] > 0
    assert not any(p.name.startswith("e2e-") for p in (tmp_path / "data").iterdir())  # scratch removed


def test_output_digest_ignores_the_manifest_only(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "statements.parquet").write_bytes(b"abc")
    first = output_digest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"plan": 2}')
    assert output_digest(tmp_path) == first
    (tmp_path / "statements.parquet").write_bytes(b"abd")
    assert output_digest(tmp_path) != first


def test_growth_ratios_and_time_exponent() -> None:
    point = {"seconds": 10.0, "peak_tree_rss_bytes": 4 << 30, "peak_process_hwm_bytes": 1 << 30}
    bigger = {"seconds": 40.0, "peak_tree_rss_bytes": 5 << 30, "peak_process_hwm_bytes": 1 << 30}
    figures = growth([(1_000_000, point), (5_000_000, {**point, "seconds": 45.0}), (10_000_000, bigger)])
    assert (figures["from_members"], figures["to_members"]) == (1_000_000, 10_000_000)
    assert figures["members_ratio"] == 10.0 and figures["seconds_ratio"] == 4.0
    assert figures["peak_tree_rss_ratio"] == 1.25 and figures["peak_process_hwm_ratio"] == 1.0
    assert figures["time_exponent"] == round(math.log(4) / math.log(10), 3)
    assert [p["members"] for p in figures["points"]] == [1_000_000, 5_000_000, 10_000_000]


def test_stage_clock_times_each_stage_to_the_next_stages_start() -> None:
    from settle.cluster.progress import Progress

    memory = TreeMemory()
    clock = StageClock(memory)
    for stage in ("plan", "partition", "partition", "validate", "done"):
        clock(Progress(stage))
        memory.sample()
    assert set(memory.root_rss_by_label) == {"plan", "partition", "validate", "done"}
    assert min(memory.root_rss_by_label.values()) > 0  # this process's resident set
    assert list(clock.entered) == ["plan", "partition", "validate", "done"]
    assert clock.entered["plan"] <= clock.entered["partition"] <= clock.entered["validate"]
    clock.entered = {"plan": 10.0, "partition": 10.5, "validate": 13.0, "done": 20.25}
    assert clock.seconds() == {"plan": 0.5, "partition": 2.5, "validate": 7.25}

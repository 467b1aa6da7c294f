"""The suites, each returning its figures as plain data for the results file.

* :func:`references`: the DuckDB query and the Polars query ``repeat`` times each (best kept),
  each run in a process of its own (:mod:`benchmarks.ref_process`), Settle's kernels once,
  shard by shard (their table is the expected one), and the exact comparison;
* :func:`e2e`: Settle cold (``settle run``) and warm (``run_job`` in a started Ray);
* :func:`scaling`: Ray workers, shard counts, a multi-node Ray, members (:mod:`benchmarks.scaling`);
* :func:`stages`: the pipeline's stages (:mod:`benchmarks.stages`, shard by shard), best of
  ``repeat`` per stage, and the peak memory of its process.

Every Settle figure is also given as a ratio to the references' best seconds of the same run
(:func:`add_ratios`): ``settle_seconds / duckdb_seconds`` <= 1.0 means Settle was faster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.books import Book
from benchmarks.core import CoreParams
from benchmarks.e2e import cold_runs, e2e_table, scratch_folder, warm_runs
from benchmarks.machine import TreeMemory, load_average
from benchmarks.ref_process import run_reference
from benchmarks.ref_settle import compare, settle_core
from benchmarks.scaling import scaling as scaling_suite
from benchmarks.stages import STAGES
from settle.cluster.plan import default_shards

__all__ = ["Context", "add_ratios", "e2e", "references", "scaling", "stages"]


class Context:
    """What the suites of one run share: the book, its sizes and the expected table."""

    def __init__(self, book: Book, repeat: int) -> None:
        self.book = book
        self.repeat = repeat
        self.expected: pl.DataFrame | None = None
        self.params: CoreParams | None = None
        self.claim_lines = 0
        self.member_years = 0.0

    def settle_answer(self) -> tuple[float, pl.DataFrame, CoreParams]:
        """Settle's kernels in this process, shard by shard as a job of the book would be
        sharded (one shard's tables in memory at a time)."""
        shards = default_shards(self.claim_lines)
        seconds, table, params = settle_core(self.book.bench_job, shards if shards > 1 else None)
        self.expected, self.params = table, params
        units = int(table["member_month_units"].sum())
        self.member_years = units / params.units_per_month / 12
        return seconds, table, params


def _throughput(ctx: Context, seconds: float) -> dict[str, Any]:
    return {
        "lines_per_second": round(ctx.claim_lines / seconds) if seconds else None,
        "member_years_per_second": round(ctx.member_years / seconds) if seconds else None,
    }


def _timed(ctx: Context, runs: list[float]) -> dict[str, Any]:
    best = min(runs)
    return {"runs_seconds": [round(s, 3) for s in runs], "seconds": round(best, 3), **_throughput(ctx, best)}


def references(ctx: Context) -> dict[str, Any]:
    """DuckDB and Polars references, checked against Settle's kernels."""
    settle_seconds, expected, params = ctx.settle_answer()
    book = ctx.book
    args = (params, book.files("eligibility"), book.files("medical_claim"), book.files("roster")[0])
    out: dict[str, Any] = {"settle_kernels": _timed(ctx, [settle_seconds])}
    for name in ("duckdb", "polars"):
        runs, problems = [], []
        for _ in range(ctx.repeat):
            seconds, table = run_reference(name, *args)
            runs.append(seconds)
            problems = compare(expected, table)
        out[name] = {**_timed(ctx, runs), "agrees_with_settle": not problems, "differences": problems}
        print(f"  {name}: best {min(runs):.2f} s of {[round(s, 2) for s in runs]}; agrees: {not problems}")
    out["cells"] = expected.height
    out["load_average"] = load_average()
    return out


def e2e(ctx: Context, data: Path) -> dict[str, Any]:
    """Cold and warm end to end; the warm output is checked against the references' table."""
    scratch = scratch_folder(data)
    try:
        cold = cold_runs(ctx.book.bench_job, scratch, ctx.repeat)
        print(f"  cold: {[r['seconds'] for r in cold]} s")
        warm = warm_runs(ctx.book.bench_job, scratch / "warm", ctx.repeat)
        print(f"  warm: {[r['seconds'] for r in warm['runs']]} s (Ray start {warm['ray_start_seconds']} s)")
        agrees = None
        if ctx.expected is not None:
            agrees = not compare(ctx.expected, e2e_table(Path(warm["runs"][-1]["output"])))
            print(f"  warm output agrees with the references: {agrees}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            **_timed(ctx, [r["seconds"] for r in runs]),
            "peak_tree_rss_bytes": max(r["peak_tree_rss_bytes"] for r in runs),
            "peak_process_hwm_bytes": max(r["peak_process_hwm_bytes"] for r in runs),
            "root_process_hwm_bytes": max(r.get("root_process_hwm_bytes", 0) for r in runs),
            "max_processes": max(r["max_processes"] for r in runs),
        }

    return {
        "cold": summary(cold),
        "warm": {**summary(warm["runs"]), "ray_start_seconds": warm["ray_start_seconds"]},
        "warm_agrees_with_references": agrees,
        "load_average": load_average(),
    }


def stages(ctx: Context) -> dict[str, Any]:
    """Best seconds per stage over ``repeat`` runs (one process each, shard by shard), each
    stage's share of their sum, and the peak memory of those processes."""
    runs = [_stages_in_child(ctx.book.bench_job) for _ in range(ctx.repeat)]
    best = {name: min(r["seconds"][name] for r in runs) for name in STAGES}
    total = sum(best.values())
    shares = {name: round(best[name] / total, 3) if total else 0.0 for name in STAGES}
    for name in STAGES:
        print(f"  {name:14s} {best[name]:8.2f} s  {shares[name]:6.1%}")
    peak = max(r["peak_tree_rss_bytes"] for r in runs)
    print(f"  {runs[0]['shards']} shards; peak memory {peak / 2**30:.2f} GiB")
    return {
        "runs_seconds": [r["seconds"] for r in runs],
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "total_seconds": round(total, 3),
        "shares": shares,
        "shards": runs[0]["shards"],
        "split_seconds": max(r["split_seconds"] for r in runs),
        "peak_tree_rss_bytes": peak,
        "peak_process_hwm_bytes": max(r["peak_process_hwm_bytes"] for r in runs),
        "load_average": load_average(),
    }


def _stages_in_child(job: Path) -> dict[str, Any]:
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.stages", str(job)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeMemory(root=proc.pid) as memory:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"stages failed ({proc.returncode}): {err[-2000:]}")
    report: dict[str, Any] = json.loads(out.splitlines()[-1])
    report["peak_tree_rss_bytes"] = memory.peak_tree_rss_bytes
    report["peak_process_hwm_bytes"] = max(report["peak_process_hwm_bytes"], memory.peak_process_hwm_bytes)
    return report


def scaling(ctx: Context, data: Path, parts: Sequence[str], shard_counts: Sequence[int]) -> dict[str, Any]:
    """Workers, shard counts, nodes and this size's members point (:mod:`benchmarks.scaling`)."""
    return scaling_suite(
        ctx.book.bench_job,
        data,
        ctx.repeat,
        lambda seconds: _throughput(ctx, seconds),
        ctx.expected,
        parts=parts,
        shard_counts=shard_counts,
    )


def add_ratios(figures: dict[str, Any]) -> dict[str, Any]:
    """Every Settle time divided by the DuckDB and the Polars reference's best time."""
    refs = figures.get("references", {})
    bases = {name: refs[name]["seconds"] for name in ("duckdb", "polars") if name in refs}
    settle: dict[str, float] = {}
    if "settle_kernels" in refs:
        settle["settle_kernels"] = refs["settle_kernels"]["seconds"]
    for mode in ("warm", "cold"):
        if "seconds" in figures.get("e2e", {}).get(mode, {}):
            settle[f"e2e_{mode}"] = figures["e2e"][mode]["seconds"]
    scaled = figures.get("scaling", {})
    if "base" in scaled:
        settle["scaling_base"] = scaled["base"]["seconds"]
    for part in ("workers", "shards", "nodes"):
        for key, summary in scaled.get(part, {}).items():
            settle[f"scaling_{part}_{key}"] = summary["seconds"]
    if "seconds" in figures.get("stages", {}):
        settle["stages_total"] = figures["stages"]["total_seconds"]
        settle.update({f"stage_{k}": v for k, v in figures["stages"]["seconds"].items()})
    return {
        f"{name}/{base}": round(seconds / base_seconds, 3)
        for name, seconds in settle.items()
        for base, base_seconds in bases.items()
        if base_seconds
    }

"""The scaling suite: how Settle's warm end-to-end time and memory change with Ray workers,
shard counts, Ray nodes and members.

Every configuration is a warm runner process of its own (:mod:`benchmarks.warm`, with its own
``RAY_TMPDIR``) running the benchmark job ``repeat`` times; the best seconds are kept and the
peak memory of the process tree (Ray's processes included) is the largest over the runs:

* ``base``: the embedded Ray with every core and the job's default shard count (what ``e2e``
  warm measures; ``base_shards`` overrides the count, for tiny test books); its figures are
  also this book size's point of the members growth (``members``);
* ``workers``: the embedded Ray limited to 1 and to 2 CPUs (``ray.init(num_cpus=k)``: ``k``
  tasks at once), base shards; a count equal to the machine's cores is ``base`` itself;
* ``shards``: ``run_job(shards=S)`` for each ``S`` of ``shard_counts``, every core (in the
  same warm process as ``base``, after it: one Ray start fewer);
* ``nodes``: a Ray cluster on this machine (``ray.cluster_utils.Cluster``): a head with no CPUs
  and 2 worker nodes of 1 CPU each, base shards: the same 2 CPUs as ``workers["2"]``, so the
  ratio ``nodes / workers["2"]`` is the cost of distribution (separate raylets and object
  stores, objects moved between nodes).

Checked, not just timed: every run's outputs hash the same (``outputs_identical``: SHA-256 of
every output file but ``manifest.json``, over every run of every configuration), and the last
output of the base process (its last shard count's) ``member_costs`` aggregate to exactly the
references' entity x group table (``base_agrees_with_references``).

Ratios: ``relative_to_base`` (seconds / base seconds) per configuration,
``speedup_1_to_2_workers`` (1-CPU seconds / 2-CPU seconds) and ``distribution_cost``
(multi-node seconds / 2-CPU single-node seconds); the ratios to the references of the same run
are added by :func:`benchmarks.suites.add_ratios`.  Growth over book sizes is :func:`growth`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.e2e import e2e_table, scratch_folder, warm_runs
from benchmarks.machine import load_average
from benchmarks.ref_settle import compare

__all__ = ["PARTS", "growth", "scaling"]

PARTS = ("workers", "shards", "nodes")
_MEMORY = ("peak_tree_rss_bytes", "peak_process_hwm_bytes", "max_processes")


def _summary(
    report: dict[str, Any], runs: list[dict[str, Any]], rate: Callable[[float], dict[str, Any]]
) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    return {
        "runs_seconds": seconds,
        "seconds": min(seconds),
        **rate(min(seconds)),
        "shards": runs[0]["shards"],
        **{k: max(r[k] for r in runs) for k in _MEMORY},
        "ray_start_seconds": report["ray_start_seconds"],
        "ray_cpus": report["ray_cpus"],
        "ray_nodes": report["ray_nodes"],
    }


def scaling(
    job: Path,
    data: Path,
    repeat: int,
    rate: Callable[[float], dict[str, Any]],
    expected: pl.DataFrame | None,
    *,
    parts: Sequence[str] = PARTS,
    shard_counts: Sequence[int] = (2, 4, 8),
    base_shards: int | None = None,
    partition_lines: int | None = None,
) -> dict[str, Any]:
    """The figures of the module docstring for the job ``job`` (``rate(seconds)``: the
    throughputs of a time; ``expected``: the references' table, if measured)."""
    scratch = scratch_folder(data)
    extra = [] if partition_lines is None else ["--partition-lines", str(partition_lines)]
    base_option = ["--shards", str(base_shards or 0)]
    digests: dict[str, list[str]] = {}
    outputs: dict[str, Path] = {}
    out: dict[str, Any] = {}

    def measure(name: str, options: list[str]) -> list[tuple[str, dict[str, Any]]]:
        ray_tmp = Path(tempfile.mkdtemp(prefix="sb-", dir="/tmp"))  # short: Ray's socket paths
        try:
            report = warm_runs(job, scratch / name, repeat, [*options, *extra], ray_tmp)
        finally:
            shutil.rmtree(ray_tmp, ignore_errors=True)
        outputs[name] = Path(report["runs"][-1]["output"])
        by_shards: dict[Any, list[dict[str, Any]]] = {}
        for run in report["runs"]:
            by_shards.setdefault(run["shards_requested"], []).append(run)
            digests.setdefault(f"{name}/{run['shards_requested']}", []).append(run["digest"])
        summaries = [
            ("base" if k == base_shards else str(k), _summary(report, runs, rate))
            for k, runs in by_shards.items()
        ]
        for key, s in summaries:
            gib = s["peak_tree_rss_bytes"] / 2**30
            label = name if key == "base" else f"{name}, --shards {key}"
            print(f"  {label}: {s['runs_seconds']} s, {s['shards']} shards, peak {gib:.2f} GiB")
        return summaries

    try:
        counts = [s for s in shard_counts if s != base_shards] if "shards" in parts else []
        first = dict(measure("base", [*base_option, *(o for s in counts for o in ("--shards", str(s)))]))
        base = out["base"] = first.pop("base")
        if counts:
            out["shards"] = first
        if expected is not None:
            out["base_agrees_with_references"] = not compare(expected, e2e_table(outputs["base"]))
            print(f"  base output agrees with the references: {out['base_agrees_with_references']}")
        if "workers" in parts:
            cores = os.cpu_count() or 1
            out["workers"] = {
                str(k): base
                if k == cores
                else measure(f"workers-{k}", ["--cpus", str(k), *base_option])[0][1]
                for k in (1, 2)
            }
        if "nodes" in parts:
            out["nodes"] = {"2x1": measure("nodes", ["--nodes", "2", "--cpus", "1", *base_option])[0][1]}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    distinct = {d for ds in digests.values() for d in ds}
    out["outputs_identical"] = len(distinct) == 1
    out["digests"] = {k: sorted(set(v)) for k, v in digests.items()}
    runs = sum(len(v) for v in digests.values())
    print(f"  outputs identical across {runs} runs: {out['outputs_identical']}")
    _relative(out)
    out["members"] = {k: base[k] for k in ("seconds", "peak_tree_rss_bytes", "peak_process_hwm_bytes")}
    out["load_average"] = load_average()
    return out


def _relative(out: dict[str, Any]) -> None:
    base = out["base"]["seconds"]
    for part in PARTS:
        for summary in out.get(part, {}).values():
            summary["relative_to_base"] = round(summary["seconds"] / base, 3) if base else None
    workers = out.get("workers", {})
    if "1" in workers and "2" in workers and workers["2"]["seconds"]:
        out["speedup_1_to_2_workers"] = round(workers["1"]["seconds"] / workers["2"]["seconds"], 3)
    if "2" in workers and "nodes" in out and workers["2"]["seconds"]:
        out["distribution_cost"] = round(out["nodes"]["2x1"]["seconds"] / workers["2"]["seconds"], 3)


def growth(points: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Members growth from the first (smallest given) size to the last: ``points`` are
    (members, ``scaling``'s ``members`` figures); ratios of members, seconds and memory, and
    ``time_exponent`` = log(seconds ratio) / log(members ratio) (1.0: linear)."""
    import math

    (m0, first), (m1, last) = points[0], points[-1]
    members = m1 / m0
    seconds = last["seconds"] / first["seconds"] if first["seconds"] else float("nan")
    return {
        "from_members": m0,
        "to_members": m1,
        "members_ratio": round(members, 3),
        "seconds_ratio": round(seconds, 3),
        "peak_tree_rss_ratio": round(last["peak_tree_rss_bytes"] / max(first["peak_tree_rss_bytes"], 1), 3),
        "peak_process_hwm_ratio": round(
            last["peak_process_hwm_bytes"] / max(first["peak_process_hwm_bytes"], 1), 3
        ),
        "time_exponent": round(math.log(seconds) / math.log(members), 3)
        if members > 1 and seconds > 0
        else None,
        "points": [{"members": m, **f} for m, f in points],
    }

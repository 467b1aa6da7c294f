"""``python -m benchmarks [SUITE ...] [options]``: run the suites on cached synthetic books and
record the figures.

Suites: ``references`` (always run first: the other suites' ratios and the exact check need
it), ``e2e``, ``stages``, ``scaling``; ``all`` (the default) runs the four.  ``plot`` only
redraws the PNG from the recorded results.  Options::

    --members N       book size (repeat the option for several sizes; default 1,000,000 and
                      5,000,000; the books are generated once and cached)
    --shard-counts L  the scaling suite's shard counts (comma-separated; default 2,4,8)
    --scaling-parts L which of workers,shards,nodes the scaling suite runs (default all three;
                      its base run, the members point, always runs)
    --data DIR        where books are cached (default benchmarks/data/, git-ignored)
    --repeat K        timed runs of each measurement; the best is kept (default 3)
    --results FILE    JSON lines file (default benchmarks/results/results.jsonl)
    --no-record       print the figures without appending them

Each dataset size gives one JSON line (see :mod:`benchmarks.results`) and a printed summary.
With ``scaling`` and several sizes, every size after the first also records the members growth
from the first (smallest) size (``figures.scaling.growth``, :func:`benchmarks.scaling.growth`).
Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks import suites
from benchmarks.books import DEFAULT_DATA, ensure_book
from benchmarks.machine import fresh_memory_seconds_per_gb, git_commit, load_average, machine_facts
from benchmarks.results import DEFAULT_RESULTS, append_result, redraw
from benchmarks.scaling import PARTS, growth

__all__ = ["main", "run_size"]

SUITES = ("references", "e2e", "stages", "scaling")
DEFAULT_MEMBERS = (1_000_000, 5_000_000)
_REPO = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "suites", nargs="*", metavar="SUITE", help="references, e2e, stages, scaling, all (default), plot"
    )
    parser.add_argument("--members", type=int, action="append", help="book size (repeatable)")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--layout", choices=["feed", "by_group"], default="feed")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--shard-counts", type=_ints, default=[2, 4, 8])
    parser.add_argument("--scaling-parts", type=_parts, default=list(PARTS))
    return parser


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _parts(text: str) -> list[str]:
    parts = [x.strip() for x in text.split(",") if x.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    return parts


def run_size(args: argparse.Namespace, members: int, chosen: set[str]) -> dict[str, Any]:
    """Every chosen suite on one book; the record for the results file."""
    book = ensure_book(args.data, members, args.seed, args.layout)
    ctx = suites.Context(book, args.repeat)
    ctx.claim_lines = sum(pq.ParquetFile(f).metadata.num_rows for f in book.files("medical_claim"))
    record: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": git_commit(_REPO),
        "machine": {**machine_facts(), "fresh_memory_seconds_per_gb_before": fresh_memory_seconds_per_gb()},
        "load_average_before": load_average(),
        "repeat": args.repeat,
    }
    figures: dict[str, Any] = {}
    print(f"{members:,} members, {ctx.claim_lines:,} claim lines; load average {load_average()}")
    print("references")
    figures["references"] = suites.references(ctx)
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "e2e": lambda: suites.e2e(ctx, args.data),
        "stages": lambda: suites.stages(ctx),
        "scaling": lambda: suites.scaling(ctx, args.data, args.scaling_parts, args.shard_counts),
    }
    for name, suite in runners.items():
        if name in chosen:
            print(name)
            try:
                figures[name] = suite()
            except (RuntimeError, OSError) as exc:  # keep the other suites' figures
                print(f"  {name} failed: {exc}")
                figures[name] = {"error": str(exc)[-2000:]}
    figures["ratios"] = suites.add_ratios(figures)
    record["dataset"] = {
        "members": members,
        "seed": args.seed,
        "layout": args.layout,
        "claim_lines": ctx.claim_lines,
        "member_years": round(ctx.member_years, 1),
    }
    record["figures"] = figures
    record["load_average_after"] = load_average()
    record["machine"]["fresh_memory_seconds_per_gb_after"] = fresh_memory_seconds_per_gb()
    return record


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.suites) - {*SUITES, "all", "plot"})
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {[*SUITES, 'all', 'plot']}")
    if args.suites == ["plot"]:
        for members in args.members or DEFAULT_MEMBERS:
            print(redraw(args.results, members))
        return
    chosen = set(SUITES) if not args.suites or "all" in args.suites else set(args.suites) | {"references"}
    sizes = sorted(args.members or DEFAULT_MEMBERS)
    for members in sizes:  # every book first (generated once, then cached)
        ensure_book(args.data, members, args.seed, args.layout)
    points: list[tuple[int, dict[str, Any]]] = []
    for members in sizes:
        record = run_size(args, members, chosen)
        scaled = record["figures"].get("scaling", {})
        if "members" in scaled:
            points.append((members, scaled["members"]))
            if len(points) > 1:
                scaled["growth"] = growth(points)
        print(json.dumps(record["figures"]["ratios"], indent=2))
        if not args.no_record:
            append_result(record, args.results)
            print(f"recorded in {args.results}; plot {redraw(args.results, members)}")
    if len(points) > 1:
        _print_growth(points)


def _print_growth(points: list[tuple[int, dict[str, Any]]]) -> None:
    print("members growth (warm end to end, every core, default shards)")
    print(f"  {'members':>12s} {'seconds':>9s} {'peak tree GiB':>14s} {'peak process GiB':>17s}")
    for members, f in points:
        tree, hwm = f["peak_tree_rss_bytes"] / 2**30, f["peak_process_hwm_bytes"] / 2**30
        print(f"  {members:>12,d} {f['seconds']:>9.2f} {tree:>14.2f} {hwm:>17.2f}")
    print(f"  {json.dumps({k: v for k, v in growth(points).items() if k != 'points'})}")

"""Recorded results: one JSON object per line in ``benchmarks/results/results.jsonl``.

Each line is one run of ``python -m benchmarks`` on one dataset size: ``timestamp``, ``git``
(commit, dirty), ``machine`` (cores, memory, versions), ``load_average`` before and after,
``dataset`` (members, seed, layout, claim lines, member-years), ``repeat``, and ``figures``
(per suite: every run's seconds, the best, throughputs, memory, and the ratios to the DuckDB
and Polars references of the same run).  The plot (``throughput.png`` beside it) is redrawn
from the whole file after each append.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.plot import render_png, run_labels, throughput_series

__all__ = ["DEFAULT_RESULTS", "append_result", "read_results", "redraw"]

DEFAULT_RESULTS = Path(__file__).resolve().parent / "results" / "results.jsonl"


def append_result(record: dict[str, Any], path: Path = DEFAULT_RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, sort_keys=True) + "\n")


def read_results(path: Path = DEFAULT_RESULTS) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def redraw(path: Path = DEFAULT_RESULTS, members: int = 1_000_000) -> Path:
    """Redraw ``throughput-<members>.png`` beside the results file."""
    records = read_results(path)
    return render_png(
        throughput_series(records, members),
        path.with_name(f"throughput-{members}.png"),
        labels=run_labels(records, members),
        title=f"Claim lines per second, {members:,} members (higher is better)",
    )

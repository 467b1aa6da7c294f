"""The throughput chart: claim lines per second over the recorded runs of one book size.

One line per engine (Settle warm and cold end to end, the DuckDB and Polars references), x =
the recorded runs of that size in order (labelled with their commit and date), y = millions of
claim lines per second from 0.  Drawn with matplotlib's Agg backend (no display needed) into
``benchmarks/results/throughput-<members>.png``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

__all__ = ["SERIES", "render_png", "run_labels", "throughput_series"]

Color = str
SERIES: dict[str, tuple[tuple[str, ...], Color]] = {
    "Settle warm": (("e2e", "warm", "lines_per_second"), "#1f77b4"),
    "Settle cold": (("e2e", "cold", "lines_per_second"), "#9ecae1"),
    "DuckDB reference": (("references", "duckdb", "lines_per_second"), "#ff7f0e"),
    "Polars reference": (("references", "polars", "lines_per_second"), "#2ca02c"),
}
_DPI = 100


def _get(record: dict[str, Any], path: Sequence[str]) -> float | None:
    value: Any = record.get("figures", {})
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def _of_size(records: Sequence[dict[str, Any]], members: int) -> list[dict[str, Any]]:
    return [r for r in records if r.get("dataset", {}).get("members") == members]


def throughput_series(records: Sequence[dict[str, Any]], members: int) -> dict[str, list[float | None]]:
    """Per series, lines per second of each recorded run of ``members`` members (None = not measured)."""
    mine = _of_size(records, members)
    return {name: [_get(r, path) for r in mine] for name, (path, _) in SERIES.items()}


def run_labels(records: Sequence[dict[str, Any]], members: int) -> list[str]:
    """``<commit>\\n<date>`` of each recorded run of ``members`` members, for the x axis."""
    labels = []
    for r in _of_size(records, members):
        git = r.get("git") or {}
        commit = str(git.get("commit", "?"))[:7] + ("+" if git.get("dirty") else "")
        labels.append(f"{commit}\n{str(r.get('timestamp', ''))[:10]}")
    return labels


def render_png(
    series: dict[str, list[float | None]],
    path: Path,
    width: int = 800,
    height: int = 450,
    *,
    labels: Sequence[str] = (),
    title: str = "Claim lines per second",
) -> Path:
    """Draw ``series`` (lines per second per run) and write a ``width`` x ``height`` PNG."""
    fig, ax = plt.subplots(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    try:
        n = max((len(vs) for vs in series.values()), default=0)
        for name, values in series.items():
            points = [(i, v / 1e6) for i, v in enumerate(values) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                color = SERIES[name][1] if name in SERIES else None
                ax.plot(xs, ys, marker="o", label=name, color=color)
        ax.set_ylim(bottom=0)
        ax.set_xlim(-0.5, max(n, 1) - 0.5)
        ax.set_xticks(range(n))
        ax.set_xticklabels(
            list(labels)[:n] if len(labels) >= n else [str(i + 1) for i in range(n)], fontsize=7
        )
        ax.set_ylabel("million claim lines per second")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path

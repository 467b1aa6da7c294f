"""Synthetic books for the benchmarks: generated once with :func:`settle.engine.synth.generate`
and cached under a data folder (default ``benchmarks/data/``, git-ignored).

A book lives at ``<data>/book-<members>-s<seed>-<layout>/``; a ``.complete`` marker is written
only when generation finished, so an interrupted run starts over instead of using half a book.
Beside the generator's own ``job.yaml`` (one contract of every kind), :func:`reference_job`
writes ``bench-job.yaml`` + ``bench-contracts.yaml``: the same book with **one** shared-savings
contract whose rules are exactly the references' (:data:`REFERENCE_CONTRACT`), so Settle's end
to end run and the DuckDB / Polars references compute the same thing.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULT_DATA", "REFERENCE_CONTRACT", "Book", "ensure_book", "reference_job"]

DEFAULT_DATA = Path(__file__).resolve().parent / "data"
_MARKER = ".complete"

# The core computation the references implement (and nothing else): any-day member months,
# plurality of primary-care allowed dollars in two steps over the 12 months before the period
# (no voluntary alignment), allowed cost of medical lines in the period paid within a 3-month
# run-out, each member's annual cost truncated at $125,000, no completion factor, no risk.
REFERENCE_CONTRACT: dict[str, Any] = {
    "id": "bench-core",
    "kind": "shared_savings",
    "name": "Benchmark core computation",
    "scope": {"groups": "all", "entities": "all"},
    "settle_per": "entity_group",
    "attribution": {
        "method": "plurality_primary_care",
        "window": "prospective",
        "lookback_months": 12,
        "use_voluntary_alignment": False,
    },
    "cost": {
        "basis": "allowed",
        "include_pharmacy": False,
        "completion_factor": 1.0,
        "truncation": {"amount": 125000},
        "exclude_hcpcs": [],
        "member_months": "any_day",
    },
    "risk": {"adjust": False, "growth_cap": None, "renormalize": False},
    "terms": {
        "benchmark": {"pmpm": 400.0},
        "risk": "one_sided",
        "min_savings_rate": 0.02,
        "sharing_rate": 0.5,
        "quality_mode": "gate",
        "savings_cap": 0.1,
        "first_dollar": True,
        "sequestration": 0.0,
    },
}
REFERENCE_INPUTS = ("eligibility", "medical_claim", "roster", "quality")


@dataclass(frozen=True)
class Book:
    """A cached synthetic book."""

    path: Path
    members: int
    seed: int
    layout: str

    @property
    def job(self) -> Path:
        """The generator's job (every contract kind, every input table)."""
        return self.path / "job.yaml"

    @property
    def bench_job(self) -> Path:
        """The job with the one reference contract (see :func:`reference_job`)."""
        return self.path / "bench-job.yaml"

    def files(self, table: str) -> list[Path]:
        """The Parquet files of one input table, sorted."""
        single = self.path / f"{table}.parquet"
        if single.exists():
            return [single]
        return sorted((self.path / table).rglob("*.parquet"))


def ensure_book(data: Path, members: int, seed: int = 20250101, layout: str = "feed") -> Book:
    """The book of ``members`` members, generated now if it is not cached yet."""
    path = data / f"book-{members}-s{seed}-{layout}"
    book = Book(path, members, seed, layout)
    if not (path / _MARKER).exists():
        from settle.engine.synth import generate

        if path.exists():
            shutil.rmtree(path)  # a half-written book from an interrupted run
        started = time.perf_counter()
        print(f"generating {members:,} members ({layout}) under {path} ...", flush=True)
        generate(path, members=members, seed=seed, layout=layout)  # type: ignore[arg-type]
        print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
        (path / _MARKER).write_text("ok\n")
    reference_job(book)
    return book


def reference_job(book: Book, truncation_dollars: int = 125_000) -> Path:
    """Write ``bench-job.yaml`` (the book's inputs the references read, one reference contract);
    ``truncation_dollars`` replaces the $125,000 cap (the smoke test lowers it so that the cap
    bites on a tiny book)."""
    contract = {
        **REFERENCE_CONTRACT,
        "cost": {**REFERENCE_CONTRACT["cost"], "truncation": {"amount": truncation_dollars}},
    }
    generated = yaml.safe_load(book.job.read_text())
    job = {
        "name": f"bench-core-{book.members}",
        "period": generated["period"],
        "inputs": {t: generated["inputs"][t] for t in REFERENCE_INPUTS},
        "contracts": "bench-contracts.yaml",
    }
    (book.path / "bench-contracts.yaml").write_text(yaml.safe_dump({"contracts": [contract]}))
    book.bench_job.write_text(yaml.safe_dump(job, sort_keys=False))
    return book.bench_job

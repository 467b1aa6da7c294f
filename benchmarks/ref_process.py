"""One reference query in a process of its own, so that it starts with the memory a user's
would: ``python -m benchmarks.ref_process NAME ARGS.pickle OUT.parquet`` runs the DuckDB or
the Polars reference (``NAME``) on the pickled ``(params, eligibility, medical_claim,
roster)``, writes its entity x employer table to ``OUT.parquet`` and prints
``{"seconds": ...}``.

Why: the suite computes Settle's expected table in its own process first (the kernels shard
by shard), and a 10M-member DuckDB query run after that in the same process held 20 GB and
spilled 16 GB to disk for 25 minutes before it was stopped, where the query alone takes
about 4.5 minutes (2026-12-07).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from benchmarks.core import CoreParams, normalise
from benchmarks.ref_duckdb import duckdb_reference
from benchmarks.ref_polars import polars_reference

__all__ = ["REFERENCES", "run_reference"]

_ROOT = Path(__file__).resolve().parents[1]  # the repository: where ``-m benchmarks`` resolves


REFERENCES: dict[str, Callable[..., tuple[float, pl.DataFrame]]] = {
    "duckdb": duckdb_reference,
    "polars": polars_reference,
}


def run_reference(
    name: str, params: CoreParams, eligibility: Sequence[Path], medical_claim: Sequence[Path], roster: Path
) -> tuple[float, pl.DataFrame]:
    """(seconds, entity x employer table) of the reference ``name``, run in a child process."""
    if name not in REFERENCES:
        raise ValueError(f"unknown reference {name!r}; choose from {sorted(REFERENCES)}")
    with tempfile.TemporaryDirectory(prefix="settle-ref-") as scratch:
        args, out = Path(scratch) / "args.pickle", Path(scratch) / "table.parquet"
        args.write_bytes(pickle.dumps((params, list(eligibility), list(medical_claim), roster)))
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.ref_process", name, str(args), str(out)],
            cwd=_ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the {name} reference failed (exit {done.returncode}): {done.stderr[-2000:]}")
        seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
        return seconds, normalise(pl.read_parquet(out))


def main(argv: list[str] | None = None) -> None:
    name, args, out = argv if argv is not None else sys.argv[1:]
    params, eligibility, medical_claim, roster = pickle.loads(Path(args).read_bytes())
    seconds, table = REFERENCES[name](params, eligibility, medical_claim, roster)
    table.write_parquet(out)
    print(json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()

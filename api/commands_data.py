"""Data commands of the command line: `settle synth` and `settle validate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from settle.api.console import console


def validate(
    job_file: Annotated[Path, typer.Argument(metavar="JOB.yaml", help="The job document to validate.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    examples: Annotated[int, typer.Option("--examples", min=0, help="How many rejects to show.")] = 20,
) -> None:
    """Read every input of a job and report rows read, accepted and rejected (by reason)."""
    from settle.engine.job import load_job
    from settle.engine.validate import validate_job, validation_report

    job = load_job(job_file)
    report = validation_report(validate_job(job, max_examples=examples), max_examples=examples)
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True, default=str))
        return
    _print_report(report, base=job.base_dir)


def _print_report(report: dict[str, Any], base: str | None = None) -> None:
    counts = Table(title=f"Validation of {report['job']}", title_justify="left")
    for header in ("table", "files", "read", "accepted", "rejected", "rejected by reason"):
        counts.add_column(header, justify="left" if header in ("table", "rejected by reason") else "right")
    for name, t in report["tables"].items():
        reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(t["rejected_by_reason"].items()))
        counts.add_row(
            name, f"{t['files']:,}", f"{t['read']:,}", f"{t['accepted']:,}", f"{t['rejected']:,}", reasons
        )
    console.print(counts)
    if report["rejects"]:
        first = Table(title=f"First {len(report['rejects'])} rejects", title_justify="left")
        for header in ("table", "file", "row", "column", "reason", "detail"):
            first.add_column(header)
        for r in report["rejects"]:
            source = _relative(r["source_file"], base)
            cells = [r["table"], source, r["row_number"], r["column"], r["reason"], r["detail"]]
            first.add_row(*("" if c is None else str(c) for c in cells))
        console.print(first)
    console.print(
        f"read {report['read']:,} rows: accepted {report['accepted']:,}, rejected {report['rejected']:,}"
    )


def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the book into.")],
    members: Annotated[int, typer.Option("--members", "-n", min=1, help="Members in the book.")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 1,
    layout: Annotated[
        str,
        typer.Option("--layout", help="by_group (claims partitioned by group) or feed (paid-date order)."),
    ] = "by_group",
    year: Annotated[int, typer.Option("--year", help="Performance year.")] = 2025,
) -> None:
    """Generate a deterministic synthetic book: every input table, contracts.yaml and job.yaml."""
    from settle.engine.synth import generate

    if layout not in ("by_group", "feed"):
        raise typer.BadParameter("must be by_group or feed", param_hint="--layout")
    summary = generate(out, members=members, seed=seed, layout=layout, performance_year=year)  # type: ignore[arg-type]
    rows = ", ".join(f"{t} {n:,}" for t, n in summary.rows.items())
    console.print(f"wrote {members:,} members ({rows}) to {out}; job document: {summary.job_path}")


def _relative(path: str, base: str | None) -> str:
    """A file shown relative to the job document's folder when it lies under it."""
    if base and path.startswith(base.rstrip("/") + "/"):
        return path[len(base.rstrip("/")) + 1 :]
    return path

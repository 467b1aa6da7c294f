"""Settlement commands of the command line: `settle run`, `settle demo` and `settle whatif`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from settle.api.console import console
from settle.cluster.progress import Progress
from settle.engine.errors import ContractError


def _load_contract(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except OSError as exc:
        raise ContractError(f"cannot read contract document {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ContractError(f"{path} is not valid YAML or JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("contracts"), list) and len(data["contracts"]) == 1:
        data = data["contracts"][0]
    if not isinstance(data, dict):
        raise ContractError(f"{path}: a what-if contract must be one contract document (a mapping)")
    return data


def whatif(
    contract: Annotated[Path, typer.Argument(metavar="CONTRACT", help="Contract document (YAML or JSON).")],
    aggregates: Annotated[
        Path, typer.Argument(metavar="AGGREGATES", help="CSV or Parquet, one row per entity.")
    ],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write the results here (.csv or .parquet).")
    ] = None,
) -> None:
    """Settle a shared-savings contract from per-entity aggregates typed in by hand."""
    from settle.engine.whatif import read_aggregates, whatif, write_whatif

    result = whatif(
        _load_contract(contract),
        read_aggregates(aggregates),
        source=str(aggregates),
        contract_source=str(contract),
    )
    if out is not None:
        write_whatif(result, out)
        console.print(f"wrote {result.num_rows:,} rows to {out}")
        return
    table = Table(title=f"What-if: {contract.name}", title_justify="left")
    columns = (
        "entity_id",
        "gross_savings",
        "savings_rate",
        "min_savings_rate",
        "threshold_met",
        "final_sharing_rate",
        "settlement_amount",
    )
    for name in columns:
        table.add_column(name, justify="left" if name == "entity_id" else "right")
    for row in result.select(list(columns)).to_pylist():
        table.add_row(*(_cell(c, row[c]) for c in columns))
    console.print(table)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column.endswith("_rate"):
        return f"{value * 100:.4f}%"
    if column in ("gross_savings", "settlement_amount"):
        return f"{value:,.2f}"
    return str(value)


def _print_summary(outcome: Any) -> None:
    from settle.engine.money import cents_to_decimal
    from settle.engine.pipeline.run import contract_summary

    result = outcome.result
    table = Table(title=f"Settlement of {result.job_name}", title_justify="left")
    headers = (
        "contract",
        "kind",
        "statements",
        "entities paid",
        "entities owing",
        "paid to entities",
        "owed by entities",
        "net",
    )
    for h in headers:
        table.add_column(h, justify="left" if h in ("contract", "kind") else "right")
    for row in contract_summary(result):
        table.add_row(
            row["contract_id"],
            row["kind"],
            f"{row['statements']:,}",
            f"{row['entities_paid']:,}",
            f"{row['entities_owing']:,}",
            f"{cents_to_decimal(row['paid_to_entities_cents']):,.2f}",
            f"{cents_to_decimal(row['owed_by_entities_cents']):,.2f}",
            f"{cents_to_decimal(row['net_cents']):,.2f}",
        )
    console.print(table)
    counts = result.counts
    read = sum(t["read"] for t in counts["tables"].values())
    rejected = sum(t["rejected"] for t in counts["tables"].values()) + counts["rejects_after_validation"]
    console.print(
        f"{counts['claim_lines']:,} claim lines; {read:,} rows read, {rejected:,} rejected "
        f"(see rejects.parquet); outputs in {outcome.output}"
    )


class _Bar:
    """A rich progress bar for a running job: stage, shards done, claim lines and their rate."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[lines]} claim lines, {task.fields[rate]}/s"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("plan", total=None, lines="0", rate="0")

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, progress: Progress) -> None:
        p = progress
        rate = p.rows_processed / p.stage_elapsed_seconds if p.stage_elapsed_seconds > 0 else 0.0
        self.progress.update(
            self.task,
            description=p.stage,
            total=p.shards_total or None,
            completed=p.shards_done,
            lines=f"{p.rows_processed:,}",
            rate=f"{rate:,.0f}",
        )


_SHARDS = typer.Option(
    "--shards",
    min=1,
    help="Number of shards (default: one per 4 million claim lines, at most the partitions).",
)
_PARTITION_LINES = typer.Option(
    "--partition-lines", min=1, help="Claim lines per member partition (advanced; default 2,000,000)."
)


def run(
    job_file: Annotated[Path, typer.Argument(metavar="JOB.yaml", help="The job document to settle.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: JOB's folder/out).")
    ] = None,
    shards: Annotated[int | None, _SHARDS] = None,
    partition_lines: Annotated[int, _PARTITION_LINES] = 2_000_000,
) -> None:
    """Settle a job document and write statements, ledger, attribution, member costs, rejects."""
    from settle.cluster.job import run_job
    from settle.engine.job import load_job

    job = load_job(job_file)
    destination = out if out is not None else job_file.resolve().parent / "out"
    with _Bar() as bar:
        outcome = run_job(job, destination, progress=bar, shards=shards, partition_lines=partition_lines)
    _print_summary(outcome)


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to put the book and its outputs.")] = Path(
        "demo"
    ),
    members: Annotated[int, typer.Option("--members", "-n", min=1)] = 50_000,
    seed: Annotated[int, typer.Option("--seed")] = 2025,
    shards: Annotated[int | None, _SHARDS] = 2,
    partition_lines: Annotated[int, _PARTITION_LINES] = 400_000,
) -> None:
    """Generate a synthetic book (50,000 members by default) and settle it with the embedded defaults
    (a local Ray; small partitions and two shards, so even the small demo book runs sharded)."""
    import shutil
    import time

    from settle.cluster.job import run_job
    from settle.engine.job import load_job
    from settle.engine.synth import generate

    book = out / "book"
    if (book / "job.yaml").exists() and (book / "contracts.yaml").exists():
        shutil.rmtree(book)  # a previous demo's book: regenerated, deterministically
    started = time.perf_counter()
    with console.status(f"generating a synthetic book of {members:,} members..."):
        summary = generate(book, members=members, seed=seed)
    generated = time.perf_counter()
    console.print(
        f"generated {members:,} members, {summary.rows['medical_claim']:,} claim lines in "
        f"{generated - started:.1f} s under {out / 'book'}"
    )
    with _Bar() as bar:
        outcome = run_job(
            load_job(summary.job_path),
            out / "result",
            progress=bar,
            shards=shards,
            partition_lines=partition_lines,
        )
    _print_summary(outcome)
    console.print(f"settled in {time.perf_counter() - generated:.1f} s")

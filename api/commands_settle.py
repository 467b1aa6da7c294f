"""Settlement commands of the command line: `settle whatif` (and, later, `run` and `demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from settle.api.console import console
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

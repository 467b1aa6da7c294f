"""The columns validation checks and no kernel reads (``UNREAD_COLUMNS``): the kernels give the
same results whether a shard's tables carry them or not, on a book where they vary."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from settle.engine.job import load_job
from settle.engine.pipeline.plan import contract_plans
from settle.engine.pipeline.shard import (
    UNREAD_COLUMNS,
    ShardOutput,
    map_shard,
    population_facts,
    read_columns,
)
from settle.engine.schemas import TABLES
from settle.engine.synth import generate
from settle.engine.validate import validate_job


def _outputs(out: ShardOutput) -> dict[str, object]:
    """Every field; tables sorted by all their columns (a kernel's row order is not promised)."""
    fields = {name: getattr(out, name) for name in ShardOutput.__dataclass_fields__}
    return {
        name: value.sort_by([(c, "ascending") for c in value.column_names])
        if isinstance(value, pa.Table)
        else value
        for name, value in fields.items()
    }


@pytest.mark.parametrize("seed", [11, 12])
def test_the_kernels_read_none_of_the_unread_columns(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    # The synthetic book's contracts are of every kind, with pools, premiums and risk scores.
    job = load_job(generate(tmp_path_factory.mktemp("book") / "b", members=300, seed=seed).job_path)
    plans = contract_plans(job)
    tables = {name: tv.accepted for name, tv in validate_job(job).tables.items()}
    claims = tables["medical_claim"]
    odd = pc.equal(pc.bit_wise_and(claims["_row_number"], 1), 1)
    for name in sorted(UNREAD_COLUMNS["medical_claim"]):
        if pc.count_distinct(claims[name]).as_py() < 2:  # vary it, so that a reader would see it
            at = claims.schema.get_field_index(name)
            emptied = pc.if_else(odd, pa.scalar(None, claims[name].type), claims[name])
            claims = claims.set_column(at, claims.schema.field(at), emptied)
        assert pc.count_distinct(claims[name], mode="all").as_py() > 1, name
    tables["medical_claim"] = claims
    narrow = {
        name: table.drop_columns(sorted(UNREAD_COLUMNS.get(name, frozenset()) & set(table.column_names)))
        for name, table in tables.items()
    }
    assert narrow["medical_claim"].num_columns == claims.num_columns - len(UNREAD_COLUMNS["medical_claim"])
    full = map_shard(plans, tables, population_facts(plans, tables))
    cut = map_shard(plans, narrow, population_facts(plans, narrow))
    assert full.claim_lines == claims.num_rows
    assert _outputs(cut) == _outputs(full)


def test_read_columns_are_the_table_less_the_unread() -> None:
    every = {c.name for c in TABLES["medical_claim"].columns}
    assert read_columns("medical_claim") == every - UNREAD_COLUMNS["medical_claim"]
    assert {"member_id", "claim_id", "paid_cents", "hcpcs_code"} <= set(read_columns("medical_claim") or ())
    assert read_columns("eligibility") is None


def test_outputs_compare_tables_by_value() -> None:
    a = ShardOutput(*(pa.table({"x": [1]}),) * 5, claim_lines=1)
    b = ShardOutput(*(pa.table({"x": [2]}),) * 5, claim_lines=1)
    assert _outputs(a) != _outputs(b)

"""The settle stage's hand-over through the work folder: what the driver reads back is what
the task rendered, the files are removed once read, and a task of an ended job writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from settle.cluster.settling import read_settled, settle_stage
from settle.engine.errors import SettleSystemError
from settle.engine.job import load_job
from settle.engine.pipeline.plan import contract_plans
from settle.engine.pipeline.reduce import settlement_batches
from settle.engine.pipeline.rendered import settle_batch
from settle.engine.pipeline.run import settlement_inputs
from settle.engine.pipeline.shard import map_shard, population_facts
from settle.engine.synth import generate
from settle.engine.validate import validate_job


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Any:
    job = load_job(generate(tmp_path_factory.mktemp("book") / "b", members=200, seed=3).job_path)
    plans = contract_plans(job)
    tables = {name: tv.accepted for name, tv in validate_job(job).tables.items()}
    shard = map_shard(plans, tables, population_facts(plans, tables))
    batches = settlement_batches(plans, *settlement_inputs(tables, shard), units=3)
    return next(b for b in batches if b.units > 1)


def test_a_settled_batch_is_read_back_as_rendered_and_its_files_removed(batch: Any, tmp_path: Path) -> None:
    (tmp_path / "settled").mkdir()
    settled = settle_stage(str(tmp_path), 7, batch)
    assert len(list((tmp_path / "settled").iterdir())) == 3
    got = read_settled(str(tmp_path), settled)
    expected = settle_batch(batch)
    assert got.steps.equals(expected.steps) and got.ledger.equals(expected.ledger)
    assert got.heads.equals(expected.heads) and got.json_lines == expected.json_lines
    assert (got.statements, got.entries) == (expected.statements, expected.entries) and got.statements > 1
    assert list((tmp_path / "settled").iterdir()) == []


def test_a_task_of_an_ended_job_writes_nothing(batch: Any, tmp_path: Path) -> None:
    gone = tmp_path / ".result.work-0"
    with pytest.raises(SettleSystemError, match="work folder"):
        settle_stage(str(gone), 0, batch)
    assert not gone.exists()

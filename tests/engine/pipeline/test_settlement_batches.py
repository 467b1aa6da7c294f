"""Settlement batches: settled batch by batch (of any size, in any process), the settlements
are those of one pass over every contract, in the same order."""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow.compute as pc
import pytest

from settle.engine.job import load_job
from settle.engine.pipeline.plan import contract_plans
from settle.engine.pipeline.reduce import SettlementCells, settle_plans, settlement_batches
from settle.engine.pipeline.rendered import settle_batch
from settle.engine.pipeline.run import settlement_inputs
from settle.engine.pipeline.shard import map_shard, population_facts
from settle.engine.synth import generate
from settle.engine.validate import validate_job


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ...]:
    # The synthetic book's contracts: every kind, settled per entity and per entity x group,
    # with withhold and bonus pools and a premiums table.
    job = load_job(generate(tmp_path_factory.mktemp("book") / "b", members=400, seed=11).job_path)
    plans = contract_plans(job)
    tables = {name: tv.accepted for name, tv in validate_job(job).tables.items()}
    shard = map_shard(plans, tables, population_facts(plans, tables))
    return (plans, *settlement_inputs(tables, shard))


def _key(settlements: list[Any]) -> list[Any]:
    return [(s.statement.as_dict(), s.entries) for s in settlements]


@pytest.mark.parametrize("units", [1, 2, 7, 10**9])
def test_batches_of_any_size_settle_like_one_pass(inputs: tuple[Any, ...], units: int) -> None:
    whole = settle_plans(*inputs)
    per_group = {p.contract_id for p in inputs[0] if p.contract.settle_per == "entity_group"}
    assert per_group and {p.contract_id for p in inputs[0]} - per_group  # both ways are covered
    batches = list(settlement_batches(*inputs, units=units))
    got = [s for b in batches for s in b.settle()]
    assert _key(got) == _key(whole)
    assert sum(b.units for b in batches) == len(whole)
    if units == 1:  # batches are whole entities: one entity per batch
        assert all(b.cells["entity_id"].n_unique() == 1 for b in batches)
        assert any(b.units > 1 for b in batches)  # an entity x group contract's entity
    for b in batches:  # whole entities: no entity is split between two batches of a contract
        assert b.cells["entity_id"].is_sorted()
    entities = [(b.plan.contract_id, e) for b in batches for e in b.cells["entity_id"].unique()]
    assert len(entities) == len(set(entities))


def test_a_rendered_batch_counts_its_statements_and_entries(inputs: tuple[Any, ...]) -> None:
    batch = next(settlement_batches(*inputs, units=5))
    settlements = list(batch.settle())
    rendered = settle_batch(batch)
    assert rendered.statements == len(settlements) == rendered.heads.num_rows
    assert rendered.entries == sum(len(s.entries) for s in settlements) == rendered.ledger.num_rows
    assert rendered.heads["amount_cents"].to_pylist() == [s.statement.amount_cents for s in settlements]


def test_a_batch_without_premiums_keeps_its_contracts_premium_source(inputs: tuple[Any, ...]) -> None:
    # The premiums table applies to the whole contract: an entity whose groups have no
    # premium rows has a premium of 0 (not the terms' premium_pmpm), in whatever batch it is.
    plans, figures, pools, baselines, quality, premiums = inputs
    margin = [p for p in plans if p.contract.kind == "margin_share"]
    assert margin and premiums is not None
    mine = figures.cells.filter(
        (pl.col("contract_id") == margin[0].contract_id) & pl.col("entity_id").is_not_null()
    )
    entity, group = mine["entity_id"][0], mine["group_id"][0]
    # Premiums of one group only, and that entity without a cell in it: it gets no premium.
    one_group = premiums.filter(pc.equal(premiums["group_id"], group))
    assert 0 < one_group.num_rows < premiums.num_rows
    cells = figures.cells.filter(~((pl.col("entity_id") == entity) & (pl.col("group_id") == group)))
    changed = SettlementCells(cells, figures.entity_members)
    batches = list(settlement_batches(margin, changed, pools, baselines, quality, one_group, units=1))
    assert len(batches) > 1 and all(b.premium_of is not None for b in batches)
    assert [b.premium_of for b in batches if b.cells["entity_id"][0] == entity] == [{}]
    # Without a premiums table the terms apply in every batch.
    without = settlement_batches(margin, figures, pools, baselines, quality, None, units=1)
    assert all(b.premium_of is None for b in without)

"""How the runner cuts jobs into shards: ``SETTLE_SHARDS`` and ``SETTLE_PARTITION_LINES`` (the
runner's ``settle run --shards/--partition-lines``), checked when the runner is made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from settle.api.runner import Runner
from settle.api.settings import SettingsError
from settle.api.store import JobStore, make_engine
from settle.cluster.partitioning import PARTITION_LINES


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'settle.db'}")
    yield JobStore(engine)
    engine.dispose()


def test_unset_variables_leave_run_jobs_defaults(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SETTLE_SHARDS", raising=False)
    monkeypatch.delenv("SETTLE_PARTITION_LINES", raising=False)
    runner = Runner(store, lease_seconds=5)
    assert runner.shards is None  # run_job: one shard per 4 million claim lines
    assert runner.partition_lines == PARTITION_LINES == 2_000_000


def test_variables_set_the_shards_and_an_argument_wins(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETTLE_SHARDS", " 4 ")
    monkeypatch.setenv("SETTLE_PARTITION_LINES", "5000")
    runner = Runner(store, lease_seconds=5)
    assert (runner.shards, runner.partition_lines) == (4, 5_000)
    chosen = Runner(store, lease_seconds=5, shards=2, partition_lines=300)
    assert (chosen.shards, chosen.partition_lines) == (2, 300)


@pytest.mark.parametrize("variable", ["SETTLE_SHARDS", "SETTLE_PARTITION_LINES"])
@pytest.mark.parametrize("value", ["0", "-3", "four", "2.5"])
def test_a_bad_value_is_refused_naming_the_variable(
    store: JobStore, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable) as caught:
        Runner(store, lease_seconds=5)
    assert caught.value.variable == variable

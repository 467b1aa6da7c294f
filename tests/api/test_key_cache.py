"""The gateway's key cache (``api/store/keys.py``): a live key is remembered for
``cache_seconds``; a revocation elsewhere (another process, `settle keys revoke`) is seen once
that time has passed, one through the same store at once; unknown keys are never remembered.
The clock is the test's own, so nothing here depends on timing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from settle.api.store import KeyStore, make_engine
from settle.api.store.keys import CACHE_SIZE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    eng = make_engine(fresh_database_url)
    yield eng
    eng.dispose()


def test_a_key_revoked_elsewhere_is_refused_once_the_cache_time_passed(engine: Engine) -> None:
    clock = Clock()
    gateway = KeyStore(engine, cache_seconds=5, clock=clock)
    record, key = KeyStore(engine).create(tenant="acme", scopes=["jobs:read"])
    assert gateway.cached(key) is None
    assert gateway.lookup(key) == record
    assert gateway.cached(key) == record

    assert KeyStore(engine).revoke(record.id)  # `settle keys revoke`, another process
    clock.now += 4.9
    assert gateway.lookup(key) == record  # still within the stated bound
    clock.now += 0.1
    assert gateway.cached(key) is None
    assert gateway.lookup(key) is None


def test_a_revocation_through_the_same_store_is_at_once(engine: Engine) -> None:
    gateway = KeyStore(engine, cache_seconds=60, clock=Clock())
    record, key = gateway.create(tenant="acme", scopes=["admin"])
    assert gateway.lookup(key) == record
    assert gateway.revoke(record.id)
    assert gateway.cached(key) is None
    assert gateway.lookup(key) is None


def test_unknown_keys_are_not_remembered_and_zero_turns_the_cache_off(engine: Engine) -> None:
    clock = Clock()
    gateway = KeyStore(engine, cache_seconds=5, clock=clock)
    assert gateway.lookup("settle_kdeadbeef_nothing") is None
    assert gateway.cached("settle_kdeadbeef_nothing") is None
    uncached = KeyStore(engine, cache_seconds=0, clock=clock)
    record, key = uncached.create(tenant="acme", scopes=["jobs:read"])
    assert uncached.lookup(key) == record
    assert uncached.cached(key) is None
    assert uncached.revoke(record.id)
    assert uncached.lookup(key) is None


def test_the_cache_holds_at_most_cache_size_keys_dropping_the_oldest(engine: Engine) -> None:
    gateway = KeyStore(engine, cache_seconds=5, clock=Clock())
    first, first_key = gateway.create(tenant="acme", scopes=["jobs:read"])
    gateway.lookup(first_key)
    made = [gateway.create(tenant="acme", scopes=["jobs:read"])[1] for _ in range(CACHE_SIZE)]
    for key in made:
        assert gateway.lookup(key) is not None
    assert gateway.cached(first_key) is None  # dropped: the oldest
    assert gateway.cached(made[-1]) is not None
    assert gateway.lookup(first_key) == first

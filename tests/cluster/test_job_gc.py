"""The driver pauses Python's cycle collector while it settles, and restores it after."""

from __future__ import annotations

import gc

import pytest

from settle.cluster.job import _without_cycle_collection


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_and_its_state_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with pytest.raises(RuntimeError), _without_cycle_collection():
            assert not gc.isenabled()
            raise RuntimeError("a failure while settling")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()

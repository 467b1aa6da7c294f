"""Fixtures of the cluster tests: one embedded Ray for the whole session (2 CPUs, its own
temporary folder) and tiny synthetic books."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from settle.engine.synth import generate


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """Ray started once (about 4 s), with a short temp folder of its own."""
    if ray.is_initialized():
        yield
        return
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    old = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = temp
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        _temp_dir=temp,
    )
    try:
        yield
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = old
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 900-member book by employer group and as a paid-date feed, and one with bad rows."""
    root = tmp_path_factory.mktemp("books")
    generate(root / "by_group", members=900, seed=21)
    generate(root / "feed", members=900, seed=21, layout="feed", feed_file_rows=6_000)
    generate(root / "bad", members=600, seed=5, bad_rows=12)
    return {name: root / name for name in ("by_group", "feed", "bad")}

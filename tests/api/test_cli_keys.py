"""`settle migrate` and `settle keys create|list|revoke` through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from settle.api.store import KeyStore, make_engine


def _settle(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SETTLE_")} | {"SETTLE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "settle.api.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_keys_lifecycle(tmp_path: Path) -> None:
    assert _settle("migrate", home=tmp_path).returncode == 0
    made = _settle(
        "keys",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "jobs:read",
        "--employer",
        "G1",
        "--employer",
        "G2",
        home=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    engine = make_engine(f"sqlite:///{tmp_path / 'settle.db'}")
    try:
        record = KeyStore(engine).lookup(key)
        assert record is not None
        assert (record.tenant, record.scopes, record.employer_groups) == (
            "acme",
            frozenset({"jobs:read"}),
            frozenset({"G1", "G2"}),
        )
        listed = _settle("keys", "list", home=tmp_path)
        assert record.id in listed.stdout and key not in listed.stdout
        assert _settle("keys", "revoke", record.id, home=tmp_path).returncode == 0
        assert KeyStore(engine).lookup(key) is None
    finally:
        engine.dispose()
    again = _settle("keys", "revoke", record.id, home=tmp_path)
    assert again.returncode == 2
    assert record.id in again.stderr
    bad = _settle("keys", "create", "--tenant", "acme", "--scope", "jobs:everything", home=tmp_path)
    assert bad.returncode == 2
    assert "--scope" in bad.stderr

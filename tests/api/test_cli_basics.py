"""The command line's error contract: user mistakes exit 2 with one paragraph, no traceback."""

import subprocess
import sys


def _settle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settle.api.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_unknown_command_exits_2_without_traceback() -> None:
    result = _settle("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no-such-command" in result.stderr


def test_version_prints() -> None:
    result = _settle("version")
    assert result.returncode == 0
    assert result.stdout.strip() == "0.1.0"

"""A real multi-process Ray cluster on this machine for one test: ``ray start --head`` (no CPUs)
and ``ray start --address …`` worker nodes, like ``make cluster-up``, on free ports and under a
temporary folder of the test's own, so it never meets a developer's cluster or another test run.

Ray 2.60 authenticates with a token: the cluster gets one in ``<temp>/auth_token`` and every
client needs :meth:`LocalRayCluster.client_env`.  The nodes register with the machine's address
as Ray sees it (not necessarily 127.0.0.1); clients reach the GCS on 127.0.0.1 all the same.

:meth:`LocalRayCluster.stop` kills only this cluster's processes, by pid: those whose command
line names its temporary folder, the Ray client server on its port, and every descendant of
those (the agents and workers a raylet forks rename themselves ``ray::…``).  ``ray stop`` is
never used: it stops every Ray of the user on the machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "ray"


def free_port() -> int:
    """A TCP port nobody listens on now (on every address: Ray binds the machine's address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _ray_binary() -> str:
    if RAY.is_file():
        return str(RAY)
    import sys

    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.is_file() else "ray"


@dataclass
class LocalRayCluster:
    """A head without CPUs and ``workers`` worker nodes of ``worker_cpus`` CPUs each."""

    workers: int = 2
    worker_cpus: int = 1
    object_store_bytes: int = 100_000_000
    temp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="str-", dir="/tmp")))
    gcs_port: int = field(default_factory=free_port)
    client_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def token_path(self) -> Path:
        return self.temp / "auth_token"

    def client_env(self) -> dict[str, str]:
        """The variables a client of this cluster needs (``RAY_ADDRESS`` and the token's)."""
        return {
            "RAY_ADDRESS": self.address,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_path),
        }

    def _start(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_TMPDIR")}
        env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)})
        common = (
            "--node-ip-address=127.0.0.1",
            "--disable-usage-stats",
            f"--object-store-memory={self.object_store_bytes}",
            "--min-worker-port=0",
            "--max-worker-port=0",
        )
        done = subprocess.run(
            [_ray_binary(), "start", *common, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"ray start {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )

    def start(self) -> None:
        """Start the head, then the worker nodes (about 3 s each); on failure, stop what started."""
        self.temp.chmod(0o700)
        old = os.umask(0o077)
        try:
            self.token_path.write_text(secrets.token_hex(32))
        finally:
            os.umask(old)
        try:
            self._start(
                "--head",
                f"--temp-dir={self.temp}",
                f"--port={self.gcs_port}",
                f"--ray-client-server-port={self.client_port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                f"--dashboard-agent-listen-port={free_port()}",
                "--num-cpus=0",
            )
            for _ in range(self.workers):
                self._start(
                    f"--address={self.address}",
                    f"--dashboard-agent-listen-port={free_port()}",
                    f"--num-cpus={self.worker_cpus}",
                )
        except BaseException:
            self.stop()
            raise

    def pids(self) -> set[int]:
        """This cluster's processes and all their descendants."""
        return processes_under(self.temp, client_port=self.client_port)

    def stop(self) -> None:
        """Stop every process of this cluster (:func:`stop_processes_under`)."""
        stop_processes_under(self.temp, client_port=self.client_port)


def processes_under(folder: Path, *, client_port: int | None = None) -> set[int]:
    """The user's processes whose command line names ``folder`` (or that are the Ray client
    server on ``client_port``), and all their descendants; zombies left out."""
    uid = os.getuid()
    parents: dict[int, int] = {}
    roots: set[int] = set()
    name = str(folder).encode()
    client = b"ray.util.client.server"
    port = f"--port={client_port}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if state == "Z":  # exited, waiting to be reaped: nothing to kill
            continue
        pid = int(entry.name)
        parents[pid] = int(parent)
        if any(name in arg for arg in argv) or (client_port is not None and client in argv and port in argv):
            roots.add(pid)
    roots.discard(os.getpid())
    found = set(roots)
    while children := {pid for pid, parent in parents.items() if parent in found} - found:
        found |= children
    return found


def stop_processes_under(folder: Path, *, client_port: int | None = None) -> None:
    """SIGTERM to :func:`processes_under`, SIGKILL to those left after 5 s; ``folder`` removed."""
    pids = processes_under(folder, client_port=client_port)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            pids = {pid for pid in pids if _alive(pid)}
            time.sleep(0.1)
        pids |= processes_under(folder, client_port=client_port)
        if not pids:
            break
    shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

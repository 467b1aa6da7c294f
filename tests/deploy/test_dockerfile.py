"""deploy/Dockerfile and .dockerignore, checked statically (no container engine on this machine).

The image must be multi-stage on python:3.11-slim, install under deploy/constraints.txt, build
with Ray's pinned version, run as a non-root user whose uid the Kubernetes pods ask for, and
start the CLI's own commands; .dockerignore must let every file the build copies through.
"""

from __future__ import annotations

import fnmatch
import json
import shlex

import pytest

from tests.deploy.helpers import DEPLOY, K8S, REPO, pinned_version

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert pending == "", "the Dockerfile ends inside a continued line"
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def global_args() -> dict[str, str]:
    args = {}
    for word, rest in instructions():
        if word == "FROM":
            break
        if word == "ARG":
            name, _, value = rest.partition("=")
            args[name] = value
    return args


def test_multi_stage_on_python_311_slim() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    images = [stage[0][1].split()[0] for stage in all_stages]
    base = global_args()["PYTHON_IMAGE"]
    assert base == "python:3.11-slim"
    assert set(images) == {"${PYTHON_IMAGE}"}
    names = [stage[0][1].split()[-1] for stage in all_stages]
    runtime = all_stages[-1]
    copied_from = {rest.split()[0].removeprefix("--from=") for word, rest in runtime if word == "COPY"}
    assert copied_from <= set(names[:-1])  # the runtime stage copies only from earlier stages


def test_installs_under_the_pinned_constraints_and_checks_ray() -> None:
    runs = [rest for word, rest in instructions() if word == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs and all("-c deploy/constraints.txt" in r for r in installs)
    ray_args = [rest for word, rest in instructions() if word == "ARG" and rest.startswith("RAY_VERSION=")]
    assert ray_args == [f"RAY_VERSION={pinned_version('ray')}"]
    assert any("ray.__version__" in r and "${RAY_VERSION}" in r for r in runs)


def test_runtime_user_is_non_root_and_matches_the_pods() -> None:
    users = [rest for word, rest in stages()[-1] if word == "USER"]
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    gateway = (K8S / "base" / "gateway.yaml").read_text()
    assert f"runAsUser: {uid}" in gateway and f"runAsGroup: {gid}" in gateway


def test_default_command_is_the_gateway() -> None:
    (cmd,) = [json.loads(rest) for word, rest in stages()[-1] if word == "CMD"]
    assert cmd[:2] == ["settle", "serve"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"  # reachable from outside the container


def test_the_cli_has_every_command_the_image_and_the_pods_run() -> None:
    try:
        import typer

        from settle.api.cli import app
    except ImportError as exc:
        pytest.skip(f"settle.api.cli cannot be imported ({exc})")
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    wanted = {
        "serve": {"--host", "--port"},
        "worker": {"--metrics-port"},
        "migrate": set(),
    }
    for name, options in wanted.items():
        assert name in commands, f"`settle {name}` is not a command of the CLI"
        have = {opt for param in commands[name].params for opt in getattr(param, "opts", [])}
        assert options <= have, f"`settle {name}` lacks {sorted(options - have)}"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes; a folder covers its files."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pat) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_lets_every_copied_path_through_and_keeps_the_rest_out() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            sources += shlex.split(rest)[:-1]
    assert sources
    for source in sources:
        inside = source + "/__init__.py" if (REPO / source).is_dir() else source
        assert (REPO / inside).is_file(), inside
        assert not _ignored(inside, patterns), inside
    outside = [".venv/bin/python", "tests/engine/test_money.py", "benchmarks/data/x.parquet", ".git/HEAD"]
    for path in outside:
        assert _ignored(path, patterns), path
    assert _ignored("engine/__pycache__/money.cpython-311.pyc", patterns)

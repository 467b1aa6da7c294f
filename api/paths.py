"""Input safety: every input location of a submitted job must fall under a data root.

``SETTLE_DATA_ROOTS`` lists local folders and URI prefixes (``s3://bucket/claims/``).  A local
location is made absolute (a relative one is relative to the first local root), then resolved
with :func:`os.path.realpath` (``..`` and symbolic links); it is accepted when the result lies
inside the real path of a local root.  A folder or glob is also listed, and every file found
must itself resolve inside a root (a symbolic link inside the root pointing out is refused).
``file://`` URIs are treated as local paths.  Any other URI must start with a URI root and may
contain no ``.`` or ``..`` segment.  A refusal is a :class:`PathNotAllowedError` naming the
field and the location.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow.fs as pafs

from settle.engine.errors import UserError
from settle.engine.readers import list_input_files

__all__ = ["PathNotAllowedError", "check_listed_files", "check_location"]


class PathNotAllowedError(UserError):
    """An input location lies outside the configured data roots."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _local_roots(roots: Sequence[str]) -> list[Path]:
    local = [r.removeprefix("file://") for r in roots if "://" not in r or r.startswith("file://")]
    return [Path(os.path.realpath(Path(r).expanduser())) for r in local]


def _uri_roots(roots: Sequence[str]) -> list[str]:
    return [r for r in roots if "://" in r and not r.startswith("file://")]


def _refuse(location: str, field: str, roots: Sequence[str]) -> PathNotAllowedError:
    return PathNotAllowedError(
        f"{field}: {location!r} is outside the data roots this server reads from "
        f"({', '.join(roots) or 'none configured'}); set SETTLE_DATA_ROOTS or move the data.",
        field=field,
    )


def check_location(location: str, roots: Sequence[str], field: str) -> str:
    """The normalised location if it lies under a data root, else :class:`PathNotAllowedError`."""
    if "://" in location and not location.startswith("file://"):
        scheme_rest = location.split("://", 1)[1]
        segments = scheme_rest.split("/")
        if any(seg in (".", "..") for seg in segments):
            raise _refuse(location, field, roots)
        for root in _uri_roots(roots):
            prefix = root if root.endswith("/") else root + "/"
            if location == root.rstrip("/") or location.startswith(prefix):
                return location
        raise _refuse(location, field, roots)
    raw = location.removeprefix("file://")
    local = _local_roots(roots)
    path = Path(raw).expanduser()
    if not path.is_absolute():
        if not local:
            raise _refuse(location, field, roots)
        path = local[0] / path
    real = Path(os.path.realpath(path))
    if not any(real == root or real.is_relative_to(root) for root in local):
        raise _refuse(location, field, roots)
    return str(real) + ("/" if raw.endswith("/") else "")


def check_listed_files(locations: Sequence[str], roots: Sequence[str], field: str) -> None:
    """Every local file a location lists must itself resolve under a local root."""
    local = _local_roots(roots)
    for f in list_input_files(list(locations)):
        if not isinstance(f.filesystem, pafs.LocalFileSystem):
            continue
        real = Path(os.path.realpath(f.path))
        if not any(real.is_relative_to(root) for root in local):
            raise _refuse(f.display, field, roots)

"""Turning an HTTP job body into the stored job document.

The body is validated as a job document (:func:`settle.engine.job.parse_job`); every input
location and a contracts path are checked against the data roots (:mod:`settle.api.paths`) and
stored resolved (absolute real paths), so the runner needs no base folder.  ``base_dir`` is
not accepted over HTTP.  A NUL character in any key or text of the body is refused (422 naming
the field): no file path can hold one and PostgreSQL cannot store one; so is a body nested
deeper than :data:`MAX_DEPTH` levels.  The body's hash, for idempotency, is the SHA-256 of its
canonical JSON (keys sorted, no spaces), so key order and white space do not matter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from settle.api.http_errors import ApiError
from settle.api.paths import check_listed_files, check_location
from settle.engine.errors import JobDocumentError, UserError
from settle.engine.job import parse_job

__all__ = ["MAX_DEPTH", "body_sha256", "normalise_job"]

MAX_DEPTH = 32
"""How deeply a job body may nest objects and arrays (a job document needs about five levels)."""


def body_sha256(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def normalise_job(body: Any, roots: Sequence[str]) -> dict[str, Any]:
    """The job document to store; raises :class:`ApiError` (422) naming the field."""
    _scan(body)
    if isinstance(body, dict) and "base_dir" in body:
        raise ApiError(
            422, "base_dir is not accepted over HTTP; give paths under the data roots", field="base_dir"
        )
    try:
        job = parse_job(body, source="job document")
    except JobDocumentError as exc:
        raise ApiError(422, str(exc), field=exc.field) from None
    document = job.model_dump(mode="json")
    inputs: dict[str, str | list[str]] = {}
    for table, raw in job.inputs.items():
        field = f"inputs.{table}"
        items = [raw] if isinstance(raw, str) else list(raw)
        checked = [_check(item, roots, field) for item in items]
        try:
            check_listed_files(checked, roots, field)
        except UserError as exc:
            raise ApiError(422, str(exc), field=field) from None
        inputs[table] = checked[0] if isinstance(raw, str) else checked
    document["inputs"] = inputs
    if isinstance(job.contracts, str):
        document["contracts"] = _check(job.contracts, roots, "contracts")
    return document


def _scan(body: Any) -> None:
    """Refuse a body nested deeper than :data:`MAX_DEPTH` or holding a NUL character in a key
    or text (422 naming the field); iterative, so no depth can exhaust the stack."""
    stack: list[tuple[str, Any, int]] = [("", body, 0)]
    while stack:
        field, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(422, f"{field}: nested deeper than {MAX_DEPTH} levels", field=field)
        if isinstance(value, str) and "\x00" in value:
            raise ApiError(
                422, f"{field or '(body)'}: a NUL character is not allowed", field=field or "(body)"
            )
        items = (
            value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        )
        for key, item in reversed(list(items)):
            inner = f"{field}.{key}" if field else str(key)
            if isinstance(key, str) and "\x00" in key:
                raise ApiError(422, f"{inner}: a NUL character is not allowed", field=inner)
            stack.append((inner, item, depth + 1))


def _check(location: str, roots: Sequence[str], field: str) -> str:
    try:
        return check_location(location, roots, field)
    except UserError as exc:
        raise ApiError(422, str(exc), code="path_not_allowed", field=field) from None

"""The job document: what to settle, from which files, over which period.

A job document is YAML (or the same shape as JSON, for the API)::

    name: synthetic-2025
    period: {start: 2025-01-01, end: 2025-12-31, runout_months: 3}
    inputs:            # table -> file, folder or glob; relative paths are relative to this file
      eligibility: eligibility/
      medical_claim: medical_claim/
      roster: roster.parquet
      quality: quality.parquet
    contracts: contracts.yaml   # a path, or an inline list of contract documents
    column_map:                 # optional: source column -> canonical column, per table
      medical_claim: {mbr_no: member_id}
    stratifiers: [dual_status_code]   # optional eligibility columns kept for equity reports

Loading validates the document with pydantic and raises :class:`JobDocumentError` naming the
field.  Relative input paths are resolved against the document's folder; URIs (``s3://``,
``gs://``, ``file://``) are left as they are.  The contracts are loaded as plain mappings here
and validated by :mod:`settle.engine.contracts`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from settle.engine.errors import JobDocumentError
from settle.engine.schemas import TABLES

__all__ = ["JobDocument", "Period", "format_validation_error", "load_job", "parse_job"]

REQUIRED_INPUTS = ("eligibility", "medical_claim", "roster")


class Period(BaseModel):
    """A performance period: first and last day (inclusive) and the claims run-out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: dt.date
    end: dt.date
    runout_months: int = Field(default=3, ge=0, le=24)

    @model_validator(mode="after")
    def _end_after_start(self) -> Period:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class JobDocument(BaseModel):
    """A settlement job, validated."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    period: Period
    inputs: dict[str, str | list[str]]
    contracts: str | list[dict[str, Any]]
    column_map: dict[str, dict[str, str]] = Field(default_factory=dict)
    stratifiers: list[str] = Field(default_factory=list)
    base_dir: str | None = Field(default=None, exclude=True)

    @field_validator("inputs")
    @classmethod
    def _known_tables(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        unknown = sorted(set(value) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; allowed: {sorted(TABLES)}")
        missing = [t for t in REQUIRED_INPUTS if t not in value]
        if missing:
            raise ValueError(f"missing required table(s) {missing}")
        return value

    @field_validator("column_map")
    @classmethod
    def _known_mapped_tables(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        unknown = sorted(set(value) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; allowed: {sorted(TABLES)}")
        return value

    def input_paths(self, table: str) -> list[str]:
        """The input locations of ``table``, relative paths resolved against ``base_dir``."""
        raw = self.inputs.get(table)
        if raw is None:
            return []
        items = [raw] if isinstance(raw, str) else list(raw)
        return [resolve_location(item, self.base_dir) for item in items]

    def contract_documents(self) -> list[dict[str, Any]]:
        """The contract documents as plain mappings (a path is read, YAML or JSON)."""
        if isinstance(self.contracts, list):
            return self.contracts
        location = resolve_location(self.contracts, self.base_dir)
        try:
            text = Path(location).read_text(encoding="utf-8")
        except OSError as exc:
            raise JobDocumentError(
                f"contracts: cannot read {location}: {exc.strerror or exc}", field="contracts"
            ) from exc
        data = _load_yaml_or_json(text, location)
        if isinstance(data, dict) and "contracts" in data:
            data = data["contracts"]
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise JobDocumentError(
                f"contracts: {location} must hold a list of contract documents", field="contracts"
            )
        return data


def resolve_location(item: str, base_dir: str | None) -> str:
    """Resolve a relative local path against ``base_dir``; leave URIs and absolute paths."""
    if "://" in item or base_dir is None or Path(item).is_absolute():
        return item
    return str(Path(base_dir) / item)


def _load_yaml_or_json(text: str, source: str) -> Any:
    try:
        if source.endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise JobDocumentError(f"{source} is not valid YAML or JSON: {exc}") from exc


def format_validation_error(exc: ValidationError, source: str) -> tuple[str, str]:
    """One paragraph naming every invalid field of a pydantic error; returns (message, first field)."""
    parts = []
    first = ""
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(document)"
        first = first or field
        message = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return f"{source}: invalid job document: " + "; ".join(parts) + ".", first


def parse_job(data: Any, *, source: str = "job document", base_dir: str | None = None) -> JobDocument:
    """Validate a job document given as a mapping (from YAML, JSON or an HTTP body)."""
    if not isinstance(data, dict):
        raise JobDocumentError(f"{source}: a job document must be a mapping of fields")
    try:
        job = JobDocument.model_validate(data)
    except ValidationError as exc:
        message, field = format_validation_error(exc, source)
        raise JobDocumentError(message, field=field, source=source) from exc
    job.base_dir = base_dir
    return job


def load_job(path: str | Path) -> JobDocument:
    """Read and validate a job document file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobDocumentError(f"cannot read job document {p}: {exc.strerror or exc}", source=str(p)) from exc
    data = _load_yaml_or_json(text, str(p))
    return parse_job(data, source=str(p), base_dir=str(p.resolve().parent))

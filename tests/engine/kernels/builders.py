"""Tiny canonical tables for kernel tests (the column names and types of engine/schemas.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

D = dt.date.fromisoformat

_ELIGIBILITY = {
    "member_id": pl.String,
    "group_id": pl.String,
    "enrollment_start_date": pl.Date,
    "enrollment_end_date": pl.Date,
    "_source_file": pl.String,
    "_row_number": pl.Int64,
}
_MEDICAL = {
    "claim_id": pl.String,
    "claim_line_number": pl.Int64,
    "claim_type": pl.String,
    "member_id": pl.String,
    "claim_start_date": pl.Date,
    "claim_line_start_date": pl.Date,
    "paid_date": pl.Date,
    "paid_cents": pl.Int64,
    "allowed_cents": pl.Int64,
    "rendering_npi": pl.String,
    "rendering_tin": pl.String,
    "billing_tin": pl.String,
    "billing_npi": pl.String,
    "hcpcs_code": pl.String,
    "_source_file": pl.String,
    "_row_number": pl.Int64,
}
_PHARMACY = {
    "claim_id": pl.String,
    "member_id": pl.String,
    "dispensing_date": pl.Date,
    "paid_date": pl.Date,
    "paid_cents": pl.Int64,
    "allowed_cents": pl.Int64,
    "_source_file": pl.String,
    "_row_number": pl.Int64,
}
_ROSTER = {
    "npi": pl.String,
    "tin": pl.String,
    "entity_id": pl.String,
    "specialty_code": pl.String,
    "effective_date": pl.Date,
    "termination_date": pl.Date,
    "_source_file": pl.String,
    "_row_number": pl.Int64,
}


def _date(value: Any) -> Any:
    return D(value) if isinstance(value, str) else value


def eligibility(*spans: tuple[Any, ...], extra: dict[str, list[Any]] | None = None) -> pl.DataFrame:
    """Spans as (member, group, start, end)."""
    rows = {
        "member_id": [s[0] for s in spans],
        "group_id": [s[1] for s in spans],
        "enrollment_start_date": [_date(s[2]) for s in spans],
        "enrollment_end_date": [_date(s[3]) for s in spans],
        "_source_file": ["eligibility.csv"] * len(spans),
        "_row_number": list(range(1, len(spans) + 1)),
    }
    frame = pl.DataFrame(rows, schema=_ELIGIBILITY)
    if extra:
        frame = frame.with_columns(pl.Series(k, v, dtype=pl.String) for k, v in extra.items())
    return frame


def line(
    member: str,
    date: str,
    allowed: int,
    *,
    npi: str | None = "1000000001",
    tin: str | None = "T1",
    hcpcs: str | None = "99213",
    claim: str | None = None,
    number: int = 1,
    paid: int | None = None,
    paid_date: str | None = None,
    line_date: str | None = None,
    billing_tin: str | None = None,
    billing_npi: str | None = None,
) -> dict[str, Any]:
    """One medical claim line; paid defaults to allowed, paid date to the service date."""
    return {
        "claim_id": claim,
        "claim_line_number": number,
        "claim_type": "professional",
        "member_id": member,
        "claim_start_date": D(date),
        "claim_line_start_date": D(line_date) if line_date else None,
        "paid_date": D(paid_date) if paid_date else D(date),
        "paid_cents": allowed if paid is None else paid,
        "allowed_cents": allowed,
        "rendering_npi": npi,
        "rendering_tin": tin,
        "billing_tin": billing_tin,
        "billing_npi": billing_npi,
        "hcpcs_code": hcpcs,
    }


def medical(*lines: dict[str, Any]) -> pl.DataFrame:
    """Lines in order; a missing claim id becomes c<row>; provenance medical.csv row i."""
    rows = []
    for i, item in enumerate(lines, start=1):
        row = dict(item)
        row["claim_id"] = row["claim_id"] or f"c{i}"
        row["_source_file"] = "medical.csv"
        row["_row_number"] = i
        rows.append(row)
    return pl.DataFrame(rows, schema=_MEDICAL)


def pharmacy(*fills: tuple[str, str, int]) -> pl.DataFrame:
    """Fills as (member, dispensing date, amount)."""
    return pl.DataFrame(
        {
            "claim_id": [f"rx{i}" for i in range(1, len(fills) + 1)],
            "member_id": [f[0] for f in fills],
            "dispensing_date": [D(f[1]) for f in fills],
            "paid_date": [D(f[1]) for f in fills],
            "paid_cents": [f[2] for f in fills],
            "allowed_cents": [f[2] for f in fills],
            "_source_file": ["pharmacy.csv"] * len(fills),
            "_row_number": list(range(1, len(fills) + 1)),
        },
        schema=_PHARMACY,
    )


def roster(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """Rows as (npi or None, tin, entity, specialty, effective, termination or None)."""
    return pl.DataFrame(
        {
            "npi": [r[0] for r in rows],
            "tin": [r[1] for r in rows],
            "entity_id": [r[2] for r in rows],
            "specialty_code": [r[3] for r in rows],
            "effective_date": [_date(r[4]) for r in rows],
            "termination_date": [_date(r[5]) for r in rows],
            "_source_file": ["roster.csv"] * len(rows),
            "_row_number": list(range(1, len(rows) + 1)),
        },
        schema=_ROSTER,
    )


def alignment(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """Designations as (member, npi, signed date)."""
    return pl.DataFrame(
        {
            "member_id": [r[0] for r in rows],
            "npi": [r[1] for r in rows],
            "signed_date": [D(r[2]) for r in rows],
            "_source_file": ["alignment.csv"] * len(rows),
            "_row_number": list(range(1, len(rows) + 1)),
        },
        schema={
            "member_id": pl.String,
            "npi": pl.String,
            "signed_date": pl.Date,
            "_source_file": pl.String,
            "_row_number": pl.Int64,
        },
    )


def scores(*rows: tuple[str, str, float]) -> pl.DataFrame:
    """Risk scores as (member, period label, score)."""
    return pl.DataFrame(
        {
            "member_id": [r[0] for r in rows],
            "period": [r[1] for r in rows],
            "risk_score": [r[2] for r in rows],
        },
        schema={"member_id": pl.String, "period": pl.String, "risk_score": pl.Float64},
    )

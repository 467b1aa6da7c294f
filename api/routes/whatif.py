"""``POST /v1/whatif``: settle a shared-savings contract from aggregates in the body, synchronously."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
from fastapi import APIRouter

from settle.api.auth import Reader
from settle.api.http_errors import ApiError
from settle.api.models import ErrorBody, WhatIfRequest, WhatIfResponse
from settle.engine.errors import AggregatesError, ContractError
from settle.engine.whatif import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, whatif

__all__ = ["router"]

router = APIRouter(tags=["what-if"])


def _cell(value: str | int | float | bool | None) -> str | None:
    """Every cell as text, parsed strictly by the engine (floats by their shortest repr)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@router.post(
    "/v1/whatif",
    response_model=WhatIfResponse,
    summary="Settle a shared-savings contract from per-entity aggregates",
    responses={
        401: {"model": ErrorBody, "description": "no API key, or an unknown or revoked one"},
        422: {
            "model": ErrorBody,
            "description": "an invalid contract or aggregates row (the field is named)",
        },
    },
)
def post_whatif(body: WhatIfRequest, _key: Reader) -> WhatIfResponse:
    """The same arithmetic as `settle whatif`: one row per entity with every published figure.
    Money is returned as decimal strings (exact cents)."""
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    for i, row in enumerate(body.aggregates):
        unknown = sorted(set(row) - known)
        if unknown:
            raise ApiError(
                422, f"aggregates row {i + 1}: unknown column(s) {unknown}", field=f"aggregates.{i}"
            )
    columns = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if any(c in r for r in body.aggregates)]
    table = pa.table(
        {c: pa.array([_cell(r.get(c)) for r in body.aggregates], pa.string()) for c in columns}
        if columns
        else {"entity_id": pa.array([], pa.string())}
    )
    try:
        result = whatif(body.contract, table, source="aggregates", contract_source="contract")
    except AggregatesError as exc:
        raise ApiError(422, str(exc), field="aggregates") from None
    except ContractError as exc:
        raise ApiError(422, str(exc), field="contract" + (f".{exc.field}" if exc.field else "")) from None
    return WhatIfResponse(items=[{k: _json(v) for k, v in row.items()} for row in result.to_pylist()])

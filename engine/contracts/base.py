"""The base of every contract model, and the constrained number types the terms use.

Every contract model is frozen and forbids unknown fields; an unknown field is refused with
the list of the fields that are allowed (one message, naming the field).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Dollars", "Rate", "StrictModel", "Trend"]

Rate = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
"""A fraction in [0, 1] (0.5 = 50%)."""
Trend = Annotated[Decimal, Field(gt=-1, le=1, allow_inf_nan=False)]
"""An annual growth rate (0.035 = +3.5% a year)."""
Dollars = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
"""A non-negative decimal dollar amount."""


class StrictModel(BaseModel):
    """Base of every contract model: frozen, unknown fields refused with the allowed names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                allowed = ", ".join(cls.model_fields)
                raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
        return data

"""A job setting chosen from a few named values, given by the caller or by its environment
variable (``SETTLE_SPILL_COMPRESSION``, ``SETTLE_SPILL_DIRECT``): trimmed, lower-cased, and a
value outside the list is the user's mistake, naming the variable."""

from __future__ import annotations

import os
from collections.abc import Sequence

from settle.engine.errors import ConfigurationError

__all__ = ["setting_choice"]


def setting_choice(
    variable: str, choices: Sequence[str], given: str | None = None, default: str = "auto"
) -> str:
    """``given``, else the environment's ``variable``, else ``default``: one of ``choices``."""
    chosen = (given or os.environ.get(variable) or default).strip().lower()
    if chosen not in choices:
        raise ConfigurationError(
            f"{variable} is {chosen!r}; it must be one of {', '.join(choices)}.", variable=variable
        )
    return chosen

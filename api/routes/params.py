"""Query parameters shared by the routers.

``cursor`` is the ``next`` value of a previous page: a plain ASCII decimal of at most 18
digits (below 2**63, so it fits a 64-bit database integer).  Anything else (Unicode digits such
as ``²``, which :meth:`str.isdigit` accepts but :func:`int` refuses, or a number too large for
the database) is a 422 naming ``cursor``, checked by FastAPI before the route runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

__all__ = ["CURSOR_PATTERN", "Cursor"]

CURSOR_PATTERN = r"^[0-9]{1,18}$"

Cursor = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="`next` of the previous page", examples=["100"]),
]

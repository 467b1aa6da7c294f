"""Authentication and authorisation of HTTP requests.

A request carries ``Authorization: Bearer KEY``; the key's SHA-256 is looked up among the live
keys (:class:`~settle.api.store.keys.KeyStore`): in the gateway's key cache first, on the event
loop, and in the database (in a worker thread) when the cache does not hold it; a revoked key is
refused within ``SETTLE_KEY_CACHE_SECONDS`` (the rule is in :mod:`settle.api.store.keys`).
No key or an unknown or revoked key is 401.
A route needs a scope (``jobs:submit``, ``jobs:read``; ``admin`` has every scope), else 403.
Tenant isolation is done by the routes: a job of another tenant is answered 404, as if absent.
An employer-scoped key (one created with ``--employer``) sees only rows of its groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from settle.api.context import context_of
from settle.api.http_errors import ApiError
from settle.api.store.keys import ApiKey

__all__ = ["Reader", "Submitter", "current_key", "require"]

_bearer = HTTPBearer(auto_error=False, description="An API key made with `settle keys create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ApiKey:
    """The caller's API key, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiError(401, "an API key is required: send `Authorization: Bearer KEY`", headers=_CHALLENGE)
    keys = context_of(request).keys
    key = keys.cached(credentials.credentials)
    if key is None:
        key = await run_in_threadpool(keys.lookup, credentials.credentials)
    if key is None:
        raise ApiError(401, "the API key is unknown or revoked", headers=_CHALLENGE)
    return key


def require(scope: str) -> Callable[..., object]:
    """A dependency giving the caller's key when it has ``scope``, else 403."""

    async def dependency(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if not key.allows(scope):
            raise ApiError(403, f"the API key lacks the scope {scope}")
        return key

    return dependency


Reader = Annotated[ApiKey, Depends(require("jobs:read"))]
Submitter = Annotated[ApiKey, Depends(require("jobs:submit"))]

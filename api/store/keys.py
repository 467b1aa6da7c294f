"""API keys in the job store: created, listed, revoked and looked up by their SHA-256 hash.

A key is ``settle_<id>_<secret>``; only its SHA-256 hex digest is stored, so a lost key cannot
be shown again (create a new one and revoke the old).  ``id`` is public and names the key in
`settle keys list` and `settle keys revoke`.

**The gateway's key cache.**  A :class:`KeyStore` made with ``cache_seconds > 0`` (the gateway:
``SETTLE_KEY_CACHE_SECONDS``, default 5) remembers a live key's record for that many seconds
after reading it, so that a busy client costs one query per key every few seconds instead of one
per request.  Only live keys are remembered (an unknown or revoked key asks the database every
time), at most :data:`CACHE_SIZE` of them.  **Rule**: a key revoked with `settle keys revoke` (or
by another gateway replica) is refused by every gateway within ``SETTLE_KEY_CACHE_SECONDS``; a
revocation through this store object takes effect at once.  ``0`` turns the cache off.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from settle.api.store.database import read_tx, write_tx
from settle.api.store.tables import api_keys, as_utc, utcnow

__all__ = ["CACHE_SIZE", "SCOPES", "ApiKey", "KeyStore", "hash_key"]

SCOPES = ("jobs:submit", "jobs:read", "admin")
CACHE_SIZE = 1024


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key's stored record (never the key itself)."""

    id: str
    tenant: str
    scopes: frozenset[str]
    employer_groups: frozenset[str] | None
    name: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @classmethod
    def from_row(cls, row: Any) -> ApiKey:
        created = as_utc(row.created_at)
        assert created is not None
        groups = row.employer_groups
        return cls(
            id=row.id,
            tenant=row.tenant,
            scopes=frozenset(row.scopes),
            employer_groups=None if groups is None else frozenset(groups),
            name=row.name,
            created_at=created,
            revoked_at=as_utc(row.revoked_at),
        )


class KeyStore:
    """The ``api_keys`` table, with an optional cache of live keys (module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[ApiKey, float]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        *,
        tenant: str,
        scopes: list[str],
        employer_groups: list[str] | None = None,
        name: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key; returns its record and the key itself (shown once)."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise ValueError(f"scopes must be among {list(SCOPES)}, got {scopes}")
        key_id = "k" + secrets.token_hex(6)
        key = f"settle_{key_id}_{secrets.token_urlsafe(32)}"
        groups = sorted(set(employer_groups)) if employer_groups else None
        with write_tx(self.engine) as conn:
            conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    key_sha256=hash_key(key),
                    tenant=tenant,
                    scopes=sorted(set(scopes)),
                    employer_groups=groups,
                    name=name,
                    created_at=utcnow(),
                )
            )
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
        return ApiKey.from_row(row), key

    def cached(self, key: str) -> ApiKey | None:
        """The key's record if the cache holds it and it is fresh (no database query)."""
        if self.cache_seconds <= 0:
            return None
        digest = hash_key(key)
        with self._lock:
            hit = self._cache.get(digest)
            if hit is None:
                return None
            if hit[1] <= self._clock():
                del self._cache[digest]
                return None
            return hit[0]

    def lookup(self, key: str) -> ApiKey | None:
        """The live (not revoked) key with this value, if any (from the cache when fresh)."""
        found = self.cached(key)
        if found is not None:
            return found
        digest = hash_key(key)
        query = select(api_keys).where(api_keys.c.key_sha256 == digest, api_keys.c.revoked_at.is_(None))
        with read_tx(self.engine) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        record = ApiKey.from_row(row)
        if self.cache_seconds > 0:
            with self._lock:
                while len(self._cache) >= CACHE_SIZE:
                    del self._cache[next(iter(self._cache))]  # the oldest entry
                self._cache[digest] = (record, self._clock() + self.cache_seconds)
        return record

    def list_keys(self, tenant: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.tenant, api_keys.c.created_at, api_keys.c.id)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with read_tx(self.engine) as conn:
            return [ApiKey.from_row(r) for r in conn.execute(query)]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; ``False`` when no live key has that id."""
        with write_tx(self.engine) as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        with self._lock:
            for digest in [d for d, (record, _) in self._cache.items() if record.id == key_id]:
                del self._cache[digest]
        return result.rowcount == 1

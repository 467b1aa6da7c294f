"""API keys in the job store: created, listed, revoked and looked up by their SHA-256 hash.

A key is ``settle_<id>_<secret>``; only its SHA-256 hex digest is stored, so a lost key cannot
be shown again (create a new one and revoke the old).  ``id`` is public and names the key in
`settle keys list` and `settle keys revoke`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from settle.api.store.database import read_tx, write_tx
from settle.api.store.tables import api_keys, as_utc, utcnow

__all__ = ["SCOPES", "ApiKey", "KeyStore", "hash_key"]

SCOPES = ("jobs:submit", "jobs:read", "admin")


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
    """The ``api_keys`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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

    def lookup(self, key: str) -> ApiKey | None:
        """The live (not revoked) key with this value, if any."""
        query = select(api_keys).where(
            api_keys.c.key_sha256 == hash_key(key), api_keys.c.revoked_at.is_(None)
        )
        with read_tx(self.engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else ApiKey.from_row(row)

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
            return result.rowcount == 1

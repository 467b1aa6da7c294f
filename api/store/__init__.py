"""The job store (``settle.api.store``): tables, connections and migrations, jobs, API keys."""

from settle.api.store.database import make_engine, migrate
from settle.api.store.jobs import Claim, IdempotencyConflict, JobRecord, JobStateConflict, JobStore
from settle.api.store.keys import SCOPES, ApiKey, KeyStore

__all__ = [
    "SCOPES",
    "ApiKey",
    "Claim",
    "IdempotencyConflict",
    "JobRecord",
    "JobStateConflict",
    "JobStore",
    "KeyStore",
    "make_engine",
    "migrate",
]

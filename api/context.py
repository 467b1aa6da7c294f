"""What every route needs: the settings, the stores and (when embedded) the runner."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from settle.api.runner import Runner
from settle.api.settings import Settings
from settle.api.store.jobs import JobStore
from settle.api.store.keys import KeyStore

__all__ = ["AppContext", "context_of"]


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    jobs: JobStore
    keys: KeyStore
    runner: Runner | None = None


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx

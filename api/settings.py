"""The gateway's settings: one pydantic-settings object read from ``SETTLE_*`` variables.

Every variable is listed in ``docs/api.md``.  In ``SETTLE_ENV=production`` the settings refuse
the defaults that are only safe on a laptop (see :meth:`Settings.check_production`); a refused
setting is a :class:`~settle.engine.errors.UserError` naming the variable.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from settle.engine.errors import ConfigurationError

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(ConfigurationError):
    """An environment variable of the gateway is missing, invalid or unsafe."""


def _default_home() -> Path:
    home = Path.home()
    if home.is_dir() and os.access(home, os.W_OK):
        return home / ".settle"
    return Path.cwd() / ".settle"


class Settings(BaseSettings):
    """Configuration of `settle serve`, `settle worker`, `settle keys` and `settle migrate`."""

    model_config = SettingsConfigDict(env_prefix="SETTLE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    home: Path = Field(default_factory=_default_home)
    database_url: str | None = None
    data_roots: Annotated[list[str], NoDecode] = Field(default_factory=list)
    results: str | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    lease_seconds: float = Field(default=30.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    auto_migrate: bool = True
    runner: bool = True
    job_nice: int = Field(default=10, ge=0, le=19)
    key_cache_seconds: float = Field(default=5.0, ge=0)

    @field_validator("data_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL: ``SETTLE_DATABASE_URL``, else SQLite under ``SETTLE_HOME``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.expanduser() / 'settle.db'}"

    @cached_property
    def resolved_data_roots(self) -> list[str]:
        """Where job inputs may come from: ``SETTLE_DATA_ROOTS``, else ``SETTLE_HOME/data``."""
        return self.data_roots or [str(self.home.expanduser() / "data")]

    @cached_property
    def resolved_results(self) -> str:
        """Where job outputs go: ``SETTLE_RESULTS``, else ``SETTLE_HOME/results``."""
        return self.results or str(self.home.expanduser() / "results")

    def job_output(self, job_id: str) -> str:
        """The output location of one job (a local folder or an object-store URI)."""
        base = self.resolved_results
        if "://" in base:
            return base.rstrip("/") + "/" + job_id
        return str(Path(base) / job_id)

    def check_production(self) -> None:
        """Refuse laptop defaults when ``SETTLE_ENV=production``."""
        if self.env != "production":
            return
        if not self.database_url:
            raise SettingsError(
                "SETTLE_DATABASE_URL must be set when SETTLE_ENV=production (the default SQLite "
                "file under SETTLE_HOME is for a single development machine).",
                variable="SETTLE_DATABASE_URL",
            )
        if not self.data_roots:
            raise SettingsError(
                "SETTLE_DATA_ROOTS must name at least one data folder or URI prefix when "
                "SETTLE_ENV=production.",
                variable="SETTLE_DATA_ROOTS",
            )
        for root in self.data_roots:
            if "://" not in root and Path(root).expanduser().resolve() == Path("/"):
                raise SettingsError(
                    "SETTLE_DATA_ROOTS must not contain the filesystem root / when SETTLE_ENV=production.",
                    variable="SETTLE_DATA_ROOTS",
                )
        if not self.results:
            raise SettingsError(
                "SETTLE_RESULTS must be set when SETTLE_ENV=production.", variable="SETTLE_RESULTS"
            )


def load_settings() -> Settings:
    """Read the settings from the environment; a bad variable is a :class:`SettingsError`."""
    try:
        settings = Settings()
    except ValidationError as exc:
        parts = []
        first = None
        for err in exc.errors():
            name = "SETTLE_" + ".".join(str(p) for p in err["loc"]).upper()
            first = first or name
            parts.append(f"{name}: {str(err['msg']).removeprefix('Value error, ')}")
        raise SettingsError("invalid settings: " + "; ".join(parts) + ".", variable=first) from None
    settings.check_production()
    return settings

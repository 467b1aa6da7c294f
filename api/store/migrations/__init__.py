"""Alembic migrations of the job store (run with `settle migrate`)."""

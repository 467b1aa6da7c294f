"""The one error hierarchy of Settle.

Every error Settle raises on purpose is a :class:`SettleError`.  User mistakes and system
failures are different types, because they are reported differently: a user mistake prints
one paragraph at the command line (exit code 2) or becomes an HTTP 4xx with a JSON body; a
system failure keeps its full traceback (exit code 1, HTTP 5xx).

    SettleError
    ├── UserError                  the input is wrong; the message says where
    │   ├── JobDocumentError       a job document field is missing or invalid
    │   ├── ContractError          a contract document field is missing or invalid
    │   ├── InputFileError         an input file cannot be read as its table
    │   │   └── MissingInputError  an input path matches no file
    │   ├── AggregatesError        a what-if aggregates file is malformed
    │   ├── RiskDataError          risk scores cannot support the contract's risk rules
    │   ├── SynthOptionError       a synthetic claim-set option is invalid
    │   └── ConfigurationError     an environment variable is missing, invalid or unsafe
    └── SettleSystemError          something failed that the user cannot fix
        └── InvariantViolation     a conservation or balance check failed (a bug)

Foreign exceptions (Arrow's, Polars', pydantic's, Ray's, SQLAlchemy's) are translated into
these at the boundary that catches them; they never reach a user unwrapped.
"""

from __future__ import annotations

__all__ = [
    "AggregatesError",
    "ConfigurationError",
    "ContractError",
    "InputFileError",
    "InvariantViolation",
    "JobDocumentError",
    "MissingInputError",
    "RiskDataError",
    "SettleError",
    "SettleSystemError",
    "SynthOptionError",
    "UserError",
]


class SettleError(Exception):
    """Base class of every error Settle raises on purpose."""


class UserError(SettleError):
    """The user's input is wrong.  The message is one paragraph that names the field, file,
    row or column, and contains no member-level data."""


class JobDocumentError(UserError):
    """A job document is missing a field or has an invalid value."""

    def __init__(self, message: str, *, field: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.source = source


class ContractError(UserError):
    """A contract document is missing a field or has an invalid value."""

    def __init__(self, message: str, *, field: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.source = source


class InputFileError(UserError):
    """An input file cannot be read as the table it was given for (missing required columns,
    columns of a type that cannot be converted, not a Parquet or CSV file)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        table: str | None = None,
        columns: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.path = path
        self.table = table
        self.columns = columns


class MissingInputError(InputFileError):
    """An input path (file, folder or glob) matches no file."""


class AggregatesError(UserError):
    """A what-if aggregates file is missing a column or has an invalid value."""


class SettleSystemError(SettleError):
    """A failure the user cannot fix by changing their input; reported with its traceback."""


class InvariantViolation(SettleSystemError):
    """A conservation or balance invariant failed: a bug in Settle, never a user mistake."""


class RiskDataError(UserError):
    """Risk adjustment or renormalisation was asked for, but the risk scores cannot support it
    (no scored member months in a period, or a baseline risk that is missing or not positive)."""


class SynthOptionError(UserError):
    """A synthetic claim-set option is invalid (a count, the seed, the layout, the year) or the
    output folder already holds files."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class ConfigurationError(UserError):
    """An environment variable (``SETTLE_*``) is missing, invalid or unsafe; ``variable``
    names it."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable

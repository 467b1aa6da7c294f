"""The code lists attribution uses: primary-care HCPCS codes and CMS specialty roles.

Shipped as data in ``engine/data`` (packaged with ``*.csv``):

* ``primary_care_hcpcs.csv`` (``hcpcs_code,description``): office/outpatient, home and
  facility E&M visits, wellness visits, care management (CCM, TCM, PCM, BHI), advance care
  planning and virtual check-ins, after the MSSP primary-care service list;
* ``specialties.csv`` (``specialty_code,description,role``): role ``primary_care`` for the
  step-1 clinicians (01, 08, 11, 37, 38, 50, 89, 97) and ``specialist`` for the step-2 list.

A contract may override the HCPCS list with ``attribution.primary_care_codes`` (a CSV path: a
column named ``hcpcs_code``, else the first column; header required) and the specialty lists
with :class:`~settle.engine.kernels.rules.AttributionRules` fields.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from settle.engine.errors import ContractError
from settle.engine.kernels.rules import AttributionRules

__all__ = ["CodeLists", "code_lists", "read_code_csv", "shipped_primary_care_codes", "shipped_specialties"]


@dataclass(frozen=True)
class CodeLists:
    """The resolved lists one attribution run uses."""

    primary_care_codes: frozenset[str]
    primary_care_specialties: frozenset[str]
    specialist_specialties: frozenset[str]


def _shipped_text(name: str) -> str:
    return resources.files("settle.engine.data").joinpath(name).read_text(encoding="utf-8")


def read_code_csv(text: str, column: str, *, source: str) -> frozenset[str]:
    """The non-empty values of ``column`` (else the first column) of a CSV with a header."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ContractError(f"{source}: the code list is empty (a header row is required)", source=source)
    index = header.index(column) if column in header else 0
    return frozenset(row[index].strip() for row in reader if len(row) > index and row[index].strip())


@cache
def shipped_primary_care_codes() -> frozenset[str]:
    """The shipped primary-care HCPCS list."""
    name = "primary_care_hcpcs.csv"
    return read_code_csv(_shipped_text(name), "hcpcs_code", source=name)


@cache
def shipped_specialties() -> dict[str, frozenset[str]]:
    """Shipped CMS specialty codes by role (``primary_care``, ``specialist``)."""
    roles: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(_shipped_text("specialties.csv"))):
        roles.setdefault(row["role"], set()).add(row["specialty_code"].strip())
    return {role: frozenset(codes) for role, codes in roles.items()}


def _override_codes(value: str | frozenset[str]) -> frozenset[str]:
    if not isinstance(value, str):
        return value
    try:
        text = Path(value).read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(
            f"attribution.primary_care_codes: cannot read {value}: {exc.strerror or exc}",
            field="attribution.primary_care_codes",
        ) from exc
    return read_code_csv(text, "hcpcs_code", source=value)


def code_lists(rules: AttributionRules) -> CodeLists:
    """The lists ``rules`` asks for: its overrides where given, the shipped lists elsewhere."""
    shipped = shipped_specialties()
    primary, specialists = rules.primary_care_specialties, rules.specialist_specialties
    return CodeLists(
        primary_care_codes=(
            shipped_primary_care_codes()
            if rules.primary_care_codes is None
            else _override_codes(rules.primary_care_codes)
        ),
        primary_care_specialties=shipped["primary_care"] if primary is None else primary,
        specialist_specialties=shipped["specialist"] if specialists is None else specialists,
    )

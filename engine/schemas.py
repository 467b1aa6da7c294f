"""Canonical Arrow schemas of every input table (the contract between readers and kernels).

Column names follow the Tuva Project input layer where one exists, so data already shaped for
Tuva loads unchanged; extra columns in a file are ignored (or kept, when they are declared
stratifiers).  Each :class:`TableSpec` states the table's grain, every column's meaning, and
which columns are required.

Canonical types, after the readers have parsed a file:

* identifiers and codes (member ids, NPIs, TINs, HCPCS, group ids) are ``string``: they are
  codes, not numbers, and leading zeros survive;
* dates are ``date32``;
* money is ``int64`` **cents**, in columns whose names end in ``_cents`` (the source column
  ``paid_amount`` in dollars becomes ``paid_cents``);
* scores and rates that are not money (risk scores, quality scores) are ``float64``.

Every accepted row also carries its provenance: ``_source_file`` and ``_row_number`` (int64,
1-based record index within that file, header not counted), so any downstream reject can name
where the row came from.  ``_source_file`` is dictionary-encoded (:data:`SOURCE_FILE_TYPE`; a
Polars ``Categorical``, which sorts lexically): a plain string column repeats a ~90-byte path on
every row, and building and copying it was a sixth of a one-shard job's time.  Rejects name the
file as plain text (``source_file``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = [
    "CODE_FORMATS",
    "PROVENANCE_FIELDS",
    "SOURCE_FILE_TYPE",
    "TABLES",
    "Column",
    "TableSpec",
    "canonical_schema",
]


@dataclass(frozen=True)
class Column:
    """One canonical column.

    ``source`` is the column's name in an input file when it differs from the canonical name
    (money: ``paid_amount`` in dollars -> ``paid_cents``).  ``aliases`` are other accepted
    source names (``employer_id`` for ``group_id``).  ``kind`` drives parsing: ``id`` (string
    code), ``text``, ``date``, ``money`` (dollars -> int64 cents), ``int``, ``float``, ``bool``.
    ``format`` holds an ``id`` column to a stricter rule (a key of :data:`CODE_FORMATS`):
    ``npi`` (10 digits), ``tin`` (9 digits), ``hcpcs`` (5 letters or digits), ``pos`` and
    ``specialty`` (2 characters), ``claim_type`` (professional or institutional).
    """

    name: str
    kind: str
    required: bool
    doc: str
    source: str | None = None
    aliases: tuple[str, ...] = ()
    format: str | None = None

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.kind]

    @property
    def coded(self) -> bool:
        """Whether the column's values come from a short list: codes with a format (NPIs,
        TINs, HCPCS, place of service, claim type) and labels (kind ``text``: source system,
        payer, plan).  Identifiers without a format (claim, member, group ids) are not.  The
        partition stage reads coded text columns of Parquet files dictionary-encoded
        (:func:`settle.engine.readers.iter_file`)."""
        return self.kind == "text" or (self.kind == "id" and self.format is not None)


_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.string(),
    "text": pa.string(),
    "date": pa.date32(),
    "money": pa.int64(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}

CODE_FORMATS: dict[str, str] = {
    "npi": "10 digits",
    "tin": "9 digits (hyphens removed)",
    "hcpcs": "5 letters or digits",
    "pos": "2 digits",
    "specialty": "2 letters or digits",
    "claim_type": "professional or institutional",
}
"""The formats an ``id`` column may be held to, with the phrase that rejects quote."""

SOURCE_FILE_TYPE = pa.dictionary(pa.int32(), pa.string())
"""The type of ``_source_file``: one dictionary entry per file, an int32 index per row."""

PROVENANCE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("_source_file", SOURCE_FILE_TYPE, nullable=False),
    pa.field("_row_number", pa.int64(), nullable=False),
)


@dataclass(frozen=True)
class TableSpec:
    """A canonical input table: its name, grain and columns."""

    name: str
    grain: str
    columns: tuple[Column, ...]
    optional_table: bool = False

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, kind: str, required: bool, doc: str, **kw: object) -> Column:
    return Column(name, kind, required, doc, **kw)  # type: ignore[arg-type]


ELIGIBILITY = TableSpec(
    "eligibility",
    "one enrollment span of one member with one employer group",
    (
        _c("member_id", "id", True, "The payer's member identifier."),
        _c(
            "group_id",
            "id",
            True,
            "The employer group (a fully-insured book is one group).",
            aliases=("employer_id",),
        ),
        _c("enrollment_start_date", "date", True, "First day of the span."),
        _c("enrollment_end_date", "date", True, "Last day of the span (inclusive)."),
        _c("group_name", "text", False, "The employer group's name."),
        _c("person_id", "id", False, "Tuva's person identifier (kept, not used)."),
        _c("birth_date", "date", False, "Date of birth."),
        _c("gender", "text", False, "Gender as the source codes it."),
        _c("dual_status_code", "id", False, "Medicare/Medicaid dual status (a stratifier)."),
        _c("medicare_status_code", "id", False, "Medicare status code."),
        _c("payer", "text", False, "Payer name."),
        _c("payer_type", "text", False, "Payer type (commercial, medicaid, medicare)."),
        _c("plan", "text", False, "Plan name."),
        _c("data_source", "text", False, "Source system."),
    ),
)

MEDICAL_CLAIM = TableSpec(
    "medical_claim",
    "one claim line; reversals and adjustments are further lines with negative amounts",
    (
        _c("claim_id", "id", True, "Claim identifier."),
        _c("claim_line_number", "int", True, "Line number within the claim."),
        _c("claim_type", "id", True, "professional or institutional.", format="claim_type"),
        _c("member_id", "id", True, "The member the service was for."),
        _c("claim_start_date", "date", True, "Service date (start) of the claim."),
        _c("paid_date", "date", True, "Date the line was paid (or reversed)."),
        _c("paid_cents", "money", True, "Amount paid, cents.", source="paid_amount"),
        _c("allowed_cents", "money", True, "Amount allowed, cents.", source="allowed_amount"),
        _c("rendering_npi", "id", False, "NPI of the rendering clinician.", format="npi"),
        _c("rendering_tin", "id", False, "TIN the rendering clinician billed under.", format="tin"),
        _c("billing_tin", "id", False, "Billing TIN.", format="tin"),
        _c("billing_npi", "id", False, "Billing NPI (mapped to a TIN through the roster).", format="npi"),
        _c("hcpcs_code", "id", False, "HCPCS/CPT procedure code.", format="hcpcs"),
        _c("place_of_service_code", "id", False, "CMS place-of-service code.", format="pos"),
        _c("claim_end_date", "date", False, "Service end date of the claim."),
        _c("claim_line_start_date", "date", False, "Service date of the line, when given."),
        _c("data_source", "text", False, "Source system."),
    ),
)

PHARMACY_CLAIM = TableSpec(
    "pharmacy_claim",
    "one fill",
    (
        _c("claim_id", "id", True, "Claim identifier."),
        _c("member_id", "id", True, "The member the fill was for."),
        _c("dispensing_date", "date", True, "Date dispensed (the service date)."),
        _c("paid_date", "date", True, "Date paid."),
        _c("paid_cents", "money", True, "Amount paid, cents.", source="paid_amount"),
        _c("allowed_cents", "money", True, "Amount allowed, cents.", source="allowed_amount"),
        _c("claim_line_number", "int", False, "Line number, when the source has one."),
        _c("prescribing_provider_npi", "id", False, "Prescriber NPI.", format="npi"),
        _c("ndc_code", "id", False, "National drug code."),
    ),
    optional_table=True,
)

ROSTER = TableSpec(
    "roster",
    "one clinician (or a whole TIN) in one contract entity over a date range",
    (
        _c("tin", "id", True, "Taxpayer id the clinician bills under.", format="tin"),
        _c("entity_id", "id", True, "The contract entity (ACO, IHP, medical group)."),
        _c("effective_date", "date", True, "First day of participation."),
        _c("npi", "id", False, "Clinician NPI; empty for whole-TIN participation.", format="npi"),
        _c("specialty_code", "id", False, "CMS specialty code, two characters (08).", format="specialty"),
        _c("termination_date", "date", False, "Last day of participation; empty = open."),
    ),
)

RISK_SCORES = TableSpec(
    "risk_scores",
    "one member's risk score for one period",
    (
        _c("member_id", "id", True, "Member."),
        _c("period", "id", True, "Period label, e.g. 2025 or baseline."),
        _c("risk_score", "float", True, "Risk score (1.0 = average)."),
    ),
    optional_table=True,
)

QUALITY = TableSpec(
    "quality",
    "one entity's quality result for one period (per measure, or a composite)",
    (
        _c("entity_id", "id", True, "Contract entity."),
        _c("period", "id", True, "Period label."),
        _c("measure_id", "id", False, "Measure, when per-measure scores are given."),
        _c("score", "float", False, "Measure score in [0, 1]."),
        _c("quality_score", "float", False, "Precomputed composite in [0, 1]."),
        _c("met_standard", "bool", False, "Whether the quality standard was met."),
    ),
)

PREMIUMS = TableSpec(
    "premiums",
    "premium earned for one employer group (or member) in one month",
    (
        _c("group_id", "id", True, "Employer group.", aliases=("employer_id",)),
        _c("month", "date", True, "First day of the month."),
        _c("premium_cents", "money", True, "Premium earned, cents.", source="premium_amount"),
        _c("member_id", "id", False, "Member, when premiums are per member."),
    ),
    optional_table=True,
)

VOLUNTARY_ALIGNMENT = TableSpec(
    "voluntary_alignment",
    "one member's designated clinician",
    (
        _c("member_id", "id", True, "Member."),
        _c("npi", "id", True, "Designated clinician's NPI.", format="npi"),
        _c("signed_date", "date", True, "Date the designation was signed."),
    ),
    optional_table=True,
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        ELIGIBILITY,
        MEDICAL_CLAIM,
        PHARMACY_CLAIM,
        ROSTER,
        RISK_SCORES,
        QUALITY,
        PREMIUMS,
        VOLUNTARY_ALIGNMENT,
    )
}


def canonical_schema(
    table: str, *, present: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()
) -> pa.Schema:
    """The canonical Arrow schema of ``table``.

    ``present`` limits the optional columns to those named (required columns are always
    included); ``extra`` appends string columns (declared stratifiers).  Provenance fields
    come last.
    """
    spec = TABLES[table]
    fields = [
        pa.field(c.name, c.arrow_type, nullable=not c.required)
        for c in spec.columns
        if c.required or present is None or c.name in present
    ]
    fields += [pa.field(name, pa.string()) for name in extra]
    fields += list(PROVENANCE_FIELDS)
    return pa.schema(fields)

"""The job document: validation errors name the field; relative paths resolve to the file's folder."""

from pathlib import Path

import pytest

from settle.engine.errors import JobDocumentError
from settle.engine.job import load_job, parse_job

GOOD = """
name: synthetic-2025
period: {start: 2025-01-01, end: 2025-12-31, runout_months: 3}
inputs:
  eligibility: eligibility/
  medical_claim: [claims/a.parquet, "s3://bucket/claims/b.parquet"]
  roster: roster.parquet
contracts: contracts.yaml
"""


def test_good_document_resolves_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(GOOD)
    (tmp_path / "contracts.yaml").write_text("contracts:\n  - {id: c1, kind: withhold, terms: {}}\n")
    job = load_job(tmp_path / "job.yaml")
    assert job.period.runout_months == 3
    assert job.input_paths("eligibility") == [str(tmp_path.resolve() / "eligibility/")]
    # URIs are left alone, local relative paths are resolved against the job file's folder.
    assert job.input_paths("medical_claim") == [
        str(tmp_path.resolve() / "claims/a.parquet"),
        "s3://bucket/claims/b.parquet",
    ]
    assert job.input_paths("quality") == []
    assert job.contract_documents() == [{"id": "c1", "kind": "withhold", "terms": {}}]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"period": {"start": "2025-01-01", "end": "2024-12-31"}}, "period"),
        ({"period": {"start": "2025-13-01", "end": "2025-12-31"}}, "period.start"),
        ({"inputs": {"eligibility": "e", "medical_claim": "m"}}, "inputs"),
        ({"inputs": {"eligibility": "e", "medical_claim": "m", "roster": "r", "claims": "x"}}, "inputs"),
        ({"name": ""}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_document_names_the_field(patch: dict[str, object], field: str) -> None:
    doc: dict[str, object] = {
        "name": "x",
        "period": {"start": "2025-01-01", "end": "2025-12-31"},
        "inputs": {"eligibility": "e", "medical_claim": "m", "roster": "r"},
        "contracts": [],
    }
    doc.update(patch)
    with pytest.raises(JobDocumentError) as info:
        parse_job(doc, source="job.yaml")
    assert info.value.field == field
    assert str(info.value).startswith("job.yaml: invalid job document: " + field)
    assert "\n" not in str(info.value)


def test_unreadable_contracts_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(GOOD)
    job = load_job(tmp_path / "job.yaml")
    with pytest.raises(JobDocumentError, match=r"contracts: cannot read .*contracts\.yaml"):
        job.contract_documents()


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(JobDocumentError, match="cannot read job document"):
        load_job(tmp_path / "nope.yaml")

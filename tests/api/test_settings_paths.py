"""Gateway settings (production refuses laptop defaults) and the data-root check of input paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from settle.api.paths import PathNotAllowedError, check_listed_files, check_location
from settle.api.settings import Settings, SettingsError, load_settings


def test_data_roots_are_comma_separated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SETTLE_HOME", str(tmp_path))
    monkeypatch.setenv("SETTLE_DATA_ROOTS", f"{tmp_path}/a, s3://bucket/claims/ ,")
    settings = load_settings()
    assert settings.data_roots == [f"{tmp_path}/a", "s3://bucket/claims/"]
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/settle.db"
    assert settings.job_output("j1") == str(tmp_path / "results" / "j1")


def test_production_refuses_the_default_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SETTLE_HOME", str(tmp_path))
    monkeypatch.setenv("SETTLE_ENV", "production")
    monkeypatch.delenv("SETTLE_DATABASE_URL", raising=False)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.variable == "SETTLE_DATABASE_URL"
    monkeypatch.setenv("SETTLE_DATABASE_URL", "postgresql://db/settle")
    monkeypatch.setenv("SETTLE_RESULTS", "s3://bucket/results")
    monkeypatch.setenv("SETTLE_DATA_ROOTS", "/")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.variable == "SETTLE_DATA_ROOTS"
    monkeypatch.setenv("SETTLE_DATA_ROOTS", str(tmp_path))
    assert load_settings().env == "production"


def test_an_invalid_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_LEASE_SECONDS", "soon")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.variable == "SETTLE_LEASE_SECONDS"


def test_locations_under_a_root_are_resolved(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "book").mkdir(parents=True)
    roots = [str(root), "s3://bucket/claims/"]
    assert check_location("book/x.parquet", roots, "f") == str(root / "book" / "x.parquet")
    assert check_location(f"{root}/book/../book/", roots, "f") == f"{root / 'book'}/"
    assert check_location(f"file://{root}/book", roots, "f") == str(root / "book")
    assert (
        check_location("s3://bucket/claims/2025/*.parquet", roots, "f") == "s3://bucket/claims/2025/*.parquet"
    )


@pytest.mark.parametrize(
    "location",
    [
        "/etc/passwd",
        "../outside",
        "book/../../outside",
        "s3://bucket/claimsX/a.parquet",
        "s3://bucket/claims/../private/a.parquet",
        "s3://other/claims/a.parquet",
        "gs://bucket/claims/a.parquet",
    ],
)
def test_locations_outside_every_root_are_refused(tmp_path: Path, location: str) -> None:
    roots = [str(tmp_path / "data"), "s3://bucket/claims/"]
    with pytest.raises(PathNotAllowedError) as caught:
        check_location(location, roots, "inputs.roster")
    assert caught.value.field == "inputs.roster"
    assert location in str(caught.value)


def test_a_symlinked_file_inside_a_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "claims").mkdir(parents=True)
    (root / "claims" / "a.csv").write_text("member_id\n1\n")
    (tmp_path / "secret.csv").write_text("member_id\n2\n")
    check_listed_files([str(root / "claims")], [str(root)], "inputs.medical_claim")
    (root / "claims" / "b.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(PathNotAllowedError):
        check_listed_files([str(root / "claims")], [str(root)], "inputs.medical_claim")


def test_no_roots_refuses_everything(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.resolved_data_roots == [str(tmp_path / "data")]
    with pytest.raises(PathNotAllowedError):
        check_location("/anything", [], "inputs.roster")

"""A sharded job settles exactly like the in-process pipeline, at any shard count and for any
file layout of the same book; bad rows are rejected and counted; missing inputs are named."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from settle.cluster import job as cluster_job
from settle.cluster import plan as cluster_plan
from settle.cluster import reduce as cluster_reduce
from settle.cluster.job import run_job
from settle.engine.errors import MissingInputError
from settle.engine.job import load_job
from settle.engine.pipeline.plan import contract_plans
from settle.engine.pipeline.run import contract_summary, settle_in_process
from settle.engine.synth import generate

# 900 members make about 26,000 claim lines: with 2,000 lines per partition that is
# ceil(26,000 / 2,000) = 13 -> 16 partitions, enough for 7 shards.
LINES = 2_000
_KEYS = {
    "attribution": ["contract_id", "member_id"],
    "member_costs": ["contract_id", "member_id", "group_id"],
    "rejects": ["table", "source_file", "row_number", "reason"],
}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def _same_content(folder: Path, reference: dict[str, object]) -> None:
    """Each output table holds the in-process result's rows (the member-level ones in another
    row order: partition by partition)."""
    for name, table in reference.items():
        got = pl.read_parquet(folder / f"{name}.parquet")
        expected = pl.from_arrow(table)
        assert isinstance(expected, pl.DataFrame)
        keys = _KEYS.get(name)
        if keys:
            got, expected = got.sort(keys), expected.sort(keys)
        assert got.columns == expected.columns, name
        assert got.equals(expected), name


@pytest.mark.usefixtures("ray_session")
def test_one_and_seven_shards_and_the_feed_layout_write_identical_files(
    books: dict[str, Path], tmp_path: Path
) -> None:
    job = load_job(books["by_group"] / "job.yaml")
    one = run_job(job, tmp_path / "one", shards=1, partition_lines=LINES)
    seven = run_job(job, tmp_path / "seven", shards=7, partition_lines=LINES)
    feed = run_job(load_job(books["feed"] / "job.yaml"), tmp_path / "feed", shards=3, partition_lines=LINES)
    lines = one.manifest["plan"]["estimated_claim_lines"]
    assert one.manifest["plan"]["partitions"] == -(-lines // LINES) > 7  # ceil(lines / LINES)
    assert one.manifest["plan"]["shards"] == 1 and not one.manifest["plan"]["partition_stage"]
    assert seven.manifest["plan"]["shards"] == 7 and seven.manifest["plan"]["partition_stage"]
    assert sum(seven.manifest["plan"]["shard_claim_lines"]) == seven.result.counts["claim_lines"]
    reference = _files(tmp_path / "one")
    assert sorted(reference) == [
        "attribution.parquet",
        "ledger.parquet",
        "member_costs.parquet",
        "rejects.parquet",
        "statements.json",
        "statements.parquet",
    ]
    assert _files(tmp_path / "seven") == reference
    assert _files(tmp_path / "feed") == reference
    assert seven.result.counts == one.result.counts
    # The feed has other files, so only the per-table file counts differ.
    for name, counts in feed.result.counts["tables"].items():
        assert {**counts, "files": 0} == {**one.result.counts["tables"][name], "files": 0}


@pytest.mark.usefixtures("ray_session")
def test_outputs_equal_the_in_process_pipeline(books: dict[str, Path], tmp_path: Path) -> None:
    job = load_job(books["by_group"] / "job.yaml")
    reference = settle_in_process(job)
    outcome = run_job(job, tmp_path / "out", shards=5, partition_lines=LINES)
    out = tmp_path / "out"
    assert (out / "statements.json").read_text() == reference.statements_json
    _same_content(out, reference.tables)
    assert outcome.result.counts == reference.counts
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == reference.counts


@pytest.mark.usefixtures("ray_session")
@pytest.mark.parametrize("shards", [1, 3])
def test_statements_settled_a_few_at_a_time_are_the_in_process_ones(
    books: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shards: int
) -> None:
    # The driver settles, renders and writes batches of SETTLE_BATCH settlements (by Ray tasks
    # when the job runs on Ray, shards > 1); with 3 a batch the book's statements take many
    # batches, and every output must still be the in-process one.
    monkeypatch.setattr(cluster_job, "SETTLE_BATCH", 3)
    # and the partitions' settlement cells added into the running total at every part
    monkeypatch.setattr(cluster_reduce, "FOLD_ROWS", 0)
    job = load_job(books["by_group"] / "job.yaml")
    reference = settle_in_process(job)
    assert len(reference.settlements) > 3 * 4
    outcome = run_job(job, tmp_path / "out", shards=shards, partition_lines=LINES)
    assert outcome.manifest["plan"]["partition_stage"] is (shards > 1)
    assert (tmp_path / "out" / "statements.json").read_text() == reference.statements_json
    for name in ("statements", "ledger"):
        assert pq.read_table(tmp_path / "out" / f"{name}.parquet").equals(reference.tables[name]), name
    assert outcome.result.settlements == [] and outcome.result.tables == {}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rows = {f["name"]: f["rows"] for f in manifest["outputs"]}
    assert rows["statements.json"] == len(reference.settlements)
    assert rows["statements.parquet"] == reference.tables["statements"].num_rows
    assert rows["ledger.parquet"] == reference.tables["ledger"].num_rows
    # The summary is read from the statements table; tallied here from the statement objects.
    expected = []
    for plan in reference.plans:
        mine = [s.statement for s in reference.settlements if s.statement.contract_id == plan.contract_id]
        paid = sum(s.amount_cents for s in mine if s.amount_cents > 0)
        owed = -sum(s.amount_cents for s in mine if s.amount_cents < 0)
        expected.append(
            {
                "contract_id": plan.contract_id,
                "kind": plan.contract.kind,
                "statements": len(mine),
                "entities_paid": len({s.entity_id for s in mine if s.amount_cents > 0}),
                "entities_owing": len({s.entity_id for s in mine if s.amount_cents < 0}),
                "paid_to_entities_cents": paid,
                "owed_by_entities_cents": owed,
                "net_cents": paid - owed,
            }
        )
    assert contract_summary(outcome.result) == contract_summary(reference) == expected
    assert any(row["paid_to_entities_cents"] for row in expected)


@pytest.mark.usefixtures("ray_session")
def test_bad_rows_are_rejected_and_counted(books: dict[str, Path], tmp_path: Path) -> None:
    job = load_job(books["bad"] / "job.yaml")
    outcome = run_job(job, tmp_path / "out", shards=4, partition_lines=1_000)
    counts = json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"]
    medical = counts["tables"]["medical_claim"]
    assert medical["accepted"] + medical["rejected"] == medical["read"]
    # 12 injected rows cycle through 10 kinds: missing_value, negative without original,
    # duplicate and service outside enrollment twice, the other six once; bad_code covers the
    # HCPCS and NPI kinds.  The two outside-enrollment lines of this book have service dates
    # outside every contract's range, so they are counted as unused lines, not rejected.
    assert medical["rejected_by_reason"] == {
        "missing_value": 2,
        "bad_code": 2,
        "end_before_start": 1,
        "duplicate_line": 2,
        "negative_allowed_without_original": 2,
        "missing_member": 1,
    }
    assert counts["rejects_after_validation"] == 0 and counts["unused_claim_lines"] == 2
    rejects = pl.read_parquet(tmp_path / "out" / "rejects.parquet")
    assert rejects.height == 10
    assert set(rejects["table"]) == {"medical_claim"}
    assert outcome.result.counts == settle_in_process(job).counts


def test_a_missing_input_names_its_path(tmp_path: Path) -> None:
    summary = generate(tmp_path / "book", members=300, seed=2)
    text = summary.job_path.read_text().replace(
        "medical_claim: medical_claim/", "medical_claim: gone/claims/"
    )
    summary.job_path.write_text(text)
    with pytest.raises(MissingInputError, match="gone/claims"):
        run_job(load_job(summary.job_path), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["book"]


def _one_round_job(book: Path, folder: Path) -> Path:
    """The book's job with only the contracts that need no population facts (no percentile
    truncation, no renormalised risk): such a job validates and maps in one task per shard."""
    contracts = yaml.safe_load((book / "contracts.yaml").read_text())["contracts"]
    kept = [
        c
        for c in contracts
        if "percentile" not in (c.get("cost", {}).get("truncation") or {})
        and not c.get("risk", {}).get("renormalize", False)
    ]
    assert 0 < len(kept) < len(contracts)
    job = yaml.safe_load((book / "job.yaml").read_text())
    job["inputs"] = {t: str(book / p) for t, p in job["inputs"].items()}
    job["contracts"] = kept
    folder.mkdir()
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


@pytest.mark.usefixtures("ray_session")
def test_the_spill_settings_change_no_output_file(
    books: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compression and the way spill files are written (around the page cache or through it)
    are the job's own business: the outputs are byte for byte the same."""
    job = load_job(books["by_group"] / "job.yaml")
    for compression, direct in (("none", "always"), ("lz4", "never"), ("zstd", "always"), ("none", "never")):
        monkeypatch.setenv("SETTLE_SPILL_COMPRESSION", compression)
        monkeypatch.setenv("SETTLE_SPILL_DIRECT", direct)
        run_job(job, tmp_path / f"{compression}-{direct}", shards=5, partition_lines=LINES)
    first = _files(tmp_path / "none-always")
    assert all(_files(tmp_path / f) == first for f in ("lz4-never", "zstd-always", "none-never"))


@pytest.mark.usefixtures("ray_session")
def test_a_one_round_job_equals_the_in_process_pipeline_at_any_shard_count(
    books: dict[str, Path], tmp_path: Path
) -> None:
    job = load_job(_one_round_job(books["by_group"], tmp_path / "job"))
    assert not any(p.needs_population_pass for p in contract_plans(job))
    reference = settle_in_process(job)
    one = run_job(job, tmp_path / "one", shards=1, partition_lines=LINES)
    six = run_job(job, tmp_path / "six", shards=6, partition_lines=LINES)
    assert six.manifest["plan"]["shards"] == 6 and six.manifest["plan"]["partition_stage"]
    assert _files(tmp_path / "six") == _files(tmp_path / "one")
    assert (tmp_path / "six" / "statements.json").read_text() == reference.statements_json
    _same_content(tmp_path / "six", reference.tables)
    assert one.result.counts == six.result.counts == reference.counts


@pytest.mark.usefixtures("ray_session")
def test_one_big_claims_file_is_split_by_row_groups_with_the_same_outputs(
    books: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feed's claims rewritten as one Parquet file of 2,000-row groups; with tasks of about
    20 kB the partition stage reads it in many row-group runs, and nothing changes."""
    book = books["by_group"]
    claims = pa.concat_tables(
        pq.read_table(p) for p in sorted((books["feed"] / "medical_claim").glob("*.parquet"))
    )
    big = tmp_path / "claims" / "all.parquet"
    big.parent.mkdir()
    pq.write_table(claims, big, row_group_size=2_000)
    job = yaml.safe_load((book / "job.yaml").read_text())
    job["inputs"] = {t: str(book / p) for t, p in job["inputs"].items()} | {"medical_claim": str(big)}
    job["contracts"] = str(book / job["contracts"])
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    monkeypatch.setattr(cluster_plan, "TASK_BYTES", 20_000)
    split = run_job(load_job(tmp_path / "job.yaml"), tmp_path / "split", shards=4, partition_lines=LINES)
    assert split.manifest["plan"]["partition_tasks"] > 10
    reference = run_job(load_job(book / "job.yaml"), tmp_path / "one", shards=1, partition_lines=LINES)
    assert _files(tmp_path / "split") == _files(tmp_path / "one")
    assert split.result.counts["tables"]["medical_claim"]["read"] == claims.num_rows
    assert split.result.counts == {**reference.result.counts, "tables": split.result.counts["tables"]}


@pytest.mark.usefixtures("ray_session")
def test_claims_files_of_different_column_types_settle_as_one_shard_does(
    books: dict[str, Path], tmp_path: Path
) -> None:
    """Two claims files, the second writing ``claim_line_number`` as int32: the partition stage
    keeps raw types, so a partition's pieces come in two schemas, which validation reads apart
    (``task_codes.join_pieces`` joins only pieces of one schema); the sharded job writes what
    the one-shard job writes."""
    book = books["by_group"]
    claims = pa.concat_tables(
        pq.read_table(p) for p in sorted((books["feed"] / "medical_claim").glob("*.parquet"))
    )
    half = claims.num_rows // 2
    folder = tmp_path / "claims"
    folder.mkdir()
    pq.write_table(claims.slice(0, half), folder / "a.parquet")
    second = claims.slice(half)
    at = second.schema.get_field_index("claim_line_number")
    second = second.set_column(at, "claim_line_number", second["claim_line_number"].cast(pa.int32()))
    pq.write_table(second, folder / "b.parquet")
    job = yaml.safe_load((book / "job.yaml").read_text())
    job["inputs"] = {t: str(book / p) for t, p in job["inputs"].items()} | {"medical_claim": str(folder)}
    job["contracts"] = str(book / job["contracts"])
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    sharded = run_job(load_job(tmp_path / "job.yaml"), tmp_path / "sharded", shards=4, partition_lines=LINES)
    one = run_job(load_job(tmp_path / "job.yaml"), tmp_path / "one", shards=1, partition_lines=LINES)
    assert _files(tmp_path / "sharded") == _files(tmp_path / "one")
    assert sharded.result.counts == {**one.result.counts, "tables": sharded.result.counts["tables"]}
    assert sharded.result.counts["tables"]["medical_claim"]["read"] == claims.num_rows

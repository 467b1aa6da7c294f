"""The partition stage keeps every row's provenance: a piece row's (``_source_file``,
``_row_number``) names the input file and row it was read from, for a task of many files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from settle.cluster import partition_stage as partition_stage_module
from settle.cluster.partition_stage import partition_stage
from settle.cluster.partitioning import partitions_of
from settle.cluster.plan import InputTask
from settle.cluster.spill import partitions_in, read_partition, read_spill_schema
from settle.cluster.spill_widths import widen
from settle.cluster.stages import ShardContext
from settle.engine.job import load_job
from settle.engine.readers import list_input_files
from settle.engine.schemas import SOURCE_FILE_TYPE
from settle.engine.validate_rows import prechecked_in


def claims_context(work: Path, partitions: int) -> ShardContext:
    """A partitioned job's context for the partition stage of claims alone."""
    return ShardContext(
        work=str(work),
        partitions=partitions,
        plans=[],
        tables=("medical_claim",),
        column_maps={},
        stratifiers=(),
        roster=pa.table({"npi": pa.array([], pa.string())}),
        roster_npis=pl.Series("id", [], dtype=pl.String),
        partitioned=True,
    )


@pytest.mark.parametrize("held_bytes", [1, partition_stage_module.PIECE_BUFFER_BYTES])
def test_pieces_of_a_many_file_task_name_each_rows_file_and_row(
    books: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held_bytes: int
) -> None:
    """Whether the task writes its held rows after every split slice (1 byte held at most: a
    new piece each time) or once at the end, each piece holds its partitions' rows in file and
    row order, as one record batch per partition with the code columns dictionary-encoded."""
    monkeypatch.setattr(partition_stage_module, "PIECE_BUFFER_BYTES", held_bytes)
    monkeypatch.setattr(partition_stage_module, "SPLIT_ROWS", 500)  # several split batches on the small book
    job = load_job(books["by_group"] / "job.yaml")
    files = list_input_files(job.input_paths("medical_claim"))
    assert len(files) > 5
    ctx = claims_context(tmp_path, partitions=8)
    rows, read = partition_stage(ctx, InputTask("medical_claim", 0, tuple(files)))

    originals = pl.concat(
        pl.read_parquet(
            f.path, columns=["claim_id", "claim_line_number", "member_id", "rendering_npi"]
        ).with_columns(
            pl.lit(f.display).alias("_source_file"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_row_number"),
        )
        for f in files
    )
    assert read == originals.height == sum(rows.values())

    pieces = sorted((tmp_path / "pieces" / "medical_claim").glob("*.arrow"))
    got = []
    files_per_partition: Counter[int] = Counter()
    for piece in pieces:
        listed = partitions_in(piece)
        with pa.memory_map(str(piece)) as source:
            # One record batch per partition the piece holds, in partition order.
            assert ipc.open_file(source).num_record_batches == len(listed) > 0
        assert listed == sorted(listed)
        for partition in listed:
            files_per_partition[partition] += 1
            stored = read_partition(piece, partition)
            assert stored is not None and stored.num_rows > 0
            # Stored as narrow as the task's rows allow (a few files, a few hundred NPIs, ids
            # of one length), read back as the split made them (settle.cluster.spill_widths).
            assert stored.schema.field("_source_file").type.index_type == pa.int8()
            assert stored.schema.field("rendering_npi").type.index_type in (pa.int8(), pa.int16())
            assert pa.types.is_fixed_size_binary(stored.schema.field("member_id").type)
            table = widen(stored)
            # File order (the dictionary lists the task's files in order), then row order.
            files_of = table["_source_file"].combine_chunks().indices.to_pylist()
            order = list(zip(files_of, table["_row_number"].to_pylist(), strict=True))
            assert order == sorted(order)
            assert table.schema.field("_source_file").type == SOURCE_FILE_TYPE
            # Every row of the batch belongs to the batch's partition.
            assert set(partitions_of(table, "medical_claim", 8).tolist()) == {partition}
            assert table.schema.field("rendering_npi").type == pa.dictionary(pa.int32(), pa.string())
            assert table.schema.field("claim_id").type == pa.string()
            table = table.set_column(
                table.schema.get_field_index("rendering_npi"),
                "rendering_npi",
                table["rendering_npi"].cast(pa.string()),
            )
            frame = pl.from_arrow(
                table.select(["claim_id", "claim_line_number", "member_id", "rendering_npi", "_row_number"])
            )
            assert isinstance(frame, pl.DataFrame)
            got.append(frame.with_columns(pl.Series("_source_file", table["_source_file"].cast(pa.string()))))
    assert set(files_per_partition) == set(rows)
    # Held to the end: one piece file for the task; written after every split slice: several,
    # and a partition's rows in several of them (their names sort in the order written).
    if held_bytes > 1:
        assert len(pieces) == 1
    else:
        assert len(pieces) > 1 and max(files_per_partition.values()) > 1
    pieced = pl.concat(got).select(originals.columns)
    # The same rows, each with the file and row it came from; none lost, none repeated.
    joined = originals.join(pieced, on=["_source_file", "_row_number"], how="inner", suffix="_piece")
    assert joined.height == originals.height == pieced.height
    assert joined["claim_id"].equals(joined["claim_id_piece"], check_names=False)
    assert joined["member_id"].equals(joined["member_id_piece"], check_names=False)
    assert joined["rendering_npi"].equals(joined["rendering_npi_piece"], check_names=False)
    assert Counter(pieced["_source_file"]) == Counter(originals["_source_file"])


def test_columns_no_row_can_fail_on_are_left_out_of_the_pieces(
    books: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claims' unread columns (claim type, place of service, end date, source) are not
    spilled where every row of a split batch passes their checks, and are named in the piece's
    schema; the batch holding the bad book's end-before-start row keeps its end dates."""
    monkeypatch.setattr(partition_stage_module, "SPLIT_ROWS", 500)
    unread = {"claim_type", "place_of_service_code", "claim_end_date", "data_source"}
    kept_end_dates = 0
    for name in ("by_group", "bad"):
        job = load_job(books[name] / "job.yaml")
        work = tmp_path / name
        ctx = claims_context(work, partitions=4)
        partition_stage(
            ctx, InputTask("medical_claim", 0, tuple(list_input_files(job.input_paths("medical_claim"))))
        )
        for piece in sorted((work / "pieces" / "medical_claim").glob("*.arrow")):
            schema = read_spill_schema(piece)
            dropped = prechecked_in(schema)
            assert not dropped & set(schema.names)
            assert dropped | (unread & set(schema.names)) == unread
            if name == "by_group":
                assert dropped == unread
            kept_end_dates += "claim_end_date" in schema.names
    assert kept_end_dates > 0

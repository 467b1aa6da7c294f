"""Running one job document end to end and publishing its outputs with a manifest.

Today the job settles in this process (:func:`settle.engine.pipeline.run.settle_in_process`,
one shard holding every member); the Ray runner replaces that step with sharded tasks and
must publish byte-identical outputs.  Outputs (``DOMAIN.md``): ``statements`` (Parquet, one
row per step, and JSON), ``ledger``, ``attribution``, ``member_costs``, ``rejects`` and
``manifest.json`` (inputs with sizes and checksums, contracts, code version, row counts, and
every output's checksum).  The manifest carries no timings, so a re-run is byte-identical.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settle.cluster.outputs import OutputWriter
from settle.cluster.progress import ProgressCallback, ProgressTracker
from settle.engine import __version__
from settle.engine.job import JobDocument
from settle.engine.pipeline.run import JobResult, settle_in_process
from settle.engine.readers import list_input_files

__all__ = ["JobOutcome", "run_job"]

OUTPUT_TABLES = ("statements", "ledger", "attribution", "member_costs", "rejects")


@dataclass(frozen=True)
class JobOutcome:
    """A finished job: where its outputs are, and the in-memory result."""

    output: str
    result: JobResult
    manifest: dict[str, Any]


def _checksum(file: Any) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with file.filesystem.open_input_stream(file.path) as stream:
        while chunk := stream.read(1 << 22):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


def _inputs(job: JobDocument) -> dict[str, list[dict[str, Any]]]:
    listed: dict[str, list[dict[str, Any]]] = {}
    for table in sorted(job.inputs):
        entries = []
        for f in list_input_files(job.input_paths(table)):
            size, sha = _checksum(f)
            entries.append({"path": f.display, "bytes": size, "sha256": sha})
        listed[table] = entries
    return listed


def run_job(job: JobDocument, out: str | Path, progress: ProgressCallback | None = None) -> JobOutcome:
    """Settle ``job`` and publish its outputs at ``out`` (a local folder or an object-store URI)."""
    tracker = ProgressTracker(progress)
    tracker.enter("map", shards_total=1)
    result = settle_in_process(job)
    tracker.shard_done(result.counts["claim_lines"])
    tracker.enter("write")
    writer = OutputWriter(str(out))
    try:
        for name in OUTPUT_TABLES:
            writer.write_parquet(name, result.tables[name])
        writer.write_bytes("statements.json", result.statements_json.encode(), len(result.settlements))
        manifest = {
            "job": job.name,
            "settle_version": __version__,
            "period": job.period.model_dump(mode="json"),
            "inputs": _inputs(job),
            "contracts": [p.contract.model_dump(mode="json") for p in result.plans],
            "counts": result.counts,
            "shards": 1,
        }
        location = writer.commit(manifest)
    except BaseException:
        writer.abort()
        raise
    tracker.enter("done")
    return JobOutcome(location, result, manifest)

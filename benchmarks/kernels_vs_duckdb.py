"""Claim lines per second: the engine kernels (attribution + cost) vs an equivalent DuckDB query.

Usage (the data goes under /tmp, never into the repository)::

    .venv/bin/python benchmarks/kernels_vs_duckdb.py --members 1000000 --dir /tmp/settle-bench-1m

Steps:

1. ``settle.engine.synth.generate`` writes a synthetic book (feed layout) under
   ``<dir>/source`` unless it is already there.
2. The book is turned into *canonical* Parquet under ``<dir>/canonical`` (dollars -> int64
   cents, ``_source_file`` / ``_row_number`` provenance), the tables the kernels take after
   validation.  Not timed.
3. Timed, single process, same files, same run: the kernels (``attribute`` + ``claim_costs``
   on lazy scans of the canonical files, results collected), then one DuckDB SQL script that
   implements the same rules (netting, roster matching with NPI-before-TIN precedence and
   dates, specialty fallback, the two steps, tie-breaks, voluntary alignment, merged spans,
   group assignment, rejects).  Both read the Parquet files themselves.
4. The two results are compared (attributed members per entity and step, cost per group,
   rejected lines and paid cents) and the figures printed as one JSON object.

The contract: period 2025, run-out 3 months, ``plurality_primary_care``, prospective 12
months, voluntary alignment on, every group and entity, cost basis allowed, medical only.
Lines per second = medical claim lines in the files / wall seconds.  Benchmarks are not
tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.parquet as pq

from settle.engine.job import Period
from settle.engine.kernels.attribution import attribute
from settle.engine.kernels.codes import shipped_primary_care_codes, shipped_specialties
from settle.engine.kernels.cost import claim_costs
from settle.engine.kernels.rules import AttributionRules, CostRules, Scope

PERIOD = Period.model_validate({"start": "2025-01-01", "end": "2025-12-31", "runout_months": 3})
TABLES = ("eligibility", "medical_claim", "roster", "voluntary_alignment")


def _generate(source: Path, members: int, seed: int) -> None:
    if (source / "job.yaml").exists():
        return
    from settle.engine.synth import generate  # the generator is only needed for a new book

    started = time.perf_counter()
    summary = generate(source, members=members, seed=seed, layout="feed")
    print(f"generated {members} members in {time.perf_counter() - started:.0f} s: {dict(summary.rows)}")


def _files(source: Path, table: str) -> list[Path]:
    single = source / f"{table}.parquet"
    return [single] if single.exists() else sorted((source / table).glob("*.parquet"))


def _canonical(source: Path, target: Path) -> None:
    """Dollars to cents and provenance, file by file (row numbers restart in each file)."""
    target.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        out = target / f"{table}.parquet"
        if out.exists():
            continue
        parts = []
        for path in _files(source, table):
            lf = pl.scan_parquet(path).with_row_index("_row_number", offset=1)
            names = lf.collect_schema().names()
            money = [c for c in ("paid_amount", "allowed_amount") if c in names]
            lf = lf.with_columns(
                *((pl.col(c) * 100).cast(pl.Int64).alias(c.replace("_amount", "_cents")) for c in money),
                pl.col("_row_number").cast(pl.Int64),
                pl.lit(path.name).alias("_source_file"),
            ).drop(money)
            parts.append(lf)
        pl.concat(parts).sink_parquet(out)


def _kernels(canon: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    claims = pl.scan_parquet(canon / "medical_claim.parquet")
    eligibility = pl.scan_parquet(canon / "eligibility.parquet")
    roster = pl.read_parquet(canon / "roster.parquet")
    alignment = pl.read_parquet(canon / "voluntary_alignment.parquet")
    attribution = attribute(claims, roster, eligibility, PERIOD, AttributionRules(), Scope(), alignment)
    costs = claim_costs(claims, eligibility, PERIOD, CostRules(), Scope())
    seconds = time.perf_counter() - started
    return seconds, _summary(
        attribution.filter(pl.col("entity_id").is_not_null()).group_by("entity_id", "step").len(),
        costs.costs.group_by("group_id").agg(pl.col("raw_cost_cents").sum()),
        costs.rejected_lines,
        costs.rejected_paid_cents,
    )


def _summary(
    attributed: pl.DataFrame, by_group: pl.DataFrame, rejected: int, rejected_paid: int
) -> dict[str, Any]:
    return {
        "attributed": sorted((r[0], r[1], int(r[2])) for r in attributed.rows()),
        "cost_by_group": sorted((r[0], int(r[1])) for r in by_group.rows()),
        "rejected_lines": int(rejected),
        "rejected_paid_cents": int(rejected_paid),
    }


def _sql_list(values: frozenset[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


SQL = """
CREATE TEMP TABLE population AS
  SELECT DISTINCT member_id FROM '{canon}/eligibility.parquet'
  WHERE enrollment_start_date <= DATE '2025-12-31' AND enrollment_end_date >= DATE '2025-01-01';
CREATE TEMP TABLE roster AS SELECT * FROM '{canon}/roster.parquet';
CREATE TEMP TABLE att_lines AS
  WITH raw AS (
    SELECT claim_id, claim_line_number, member_id, claim_start_date AS service_date, allowed_cents,
           rendering_npi AS npi, coalesce(rendering_tin, billing_tin) AS tin
    FROM '{canon}/medical_claim.parquet'
    WHERE member_id IN (SELECT member_id FROM population)
      AND claim_start_date BETWEEN DATE '2024-01-01' AND DATE '2024-12-31'
      AND paid_date <= DATE '2025-03-31' AND hcpcs_code IN ({codes}))
  SELECT claim_id, claim_line_number, sum(allowed_cents) AS allowed_cents,
         min(member_id) FILTER (WHERE allowed_cents >= 0) AS member_id,
         min(service_date) FILTER (WHERE allowed_cents >= 0) AS service_date,
         min(npi) FILTER (WHERE allowed_cents >= 0) AS npi,
         min(tin) FILTER (WHERE allowed_cents >= 0) AS tin
  FROM raw GROUP BY claim_id, claim_line_number
  HAVING NOT (bool_or(allowed_cents < 0) AND sum(allowed_cents) <= 0);
CREATE TEMP TABLE winners AS
  WITH matches AS (
    SELECT l.claim_id, l.claim_line_number, r.entity_id, r.specialty_code, 0 AS prec
    FROM att_lines l JOIN roster r ON r.npi = l.npi AND r.tin = l.tin
    WHERE r.effective_date <= l.service_date
      AND (r.termination_date IS NULL OR l.service_date <= r.termination_date)
    UNION ALL
    SELECT l.claim_id, l.claim_line_number, r.entity_id, r.specialty_code, 1 AS prec
    FROM att_lines l JOIN roster r ON r.npi IS NULL AND r.tin = l.tin
    WHERE r.effective_date <= l.service_date
      AND (r.termination_date IS NULL OR l.service_date <= r.termination_date)),
  best AS (
    SELECT claim_id, claim_line_number,
           first(entity_id ORDER BY prec, entity_id) AS entity_id,
           first(specialty_code ORDER BY prec, entity_id) AS spec
    FROM matches GROUP BY claim_id, claim_line_number),
  npi_spec AS (
    SELECT npi, first(specialty_code ORDER BY effective_date DESC, specialty_code) AS spec
    FROM roster WHERE npi IS NOT NULL AND specialty_code IS NOT NULL GROUP BY npi),
  comp AS (
    SELECT l.member_id, l.service_date, l.allowed_cents,
           coalesce(b.entity_id,
                    CASE WHEN l.tin IS NOT NULL THEN 'tin:' || l.tin
                         WHEN l.npi IS NOT NULL THEN 'npi:' || l.npi ELSE 'unknown' END) AS competitor,
           b.entity_id IS NOT NULL AS is_entity,
           CASE WHEN coalesce(b.spec, s.spec) IS NULL OR coalesce(b.spec, s.spec) IN ({primary}) THEN 1
                WHEN coalesce(b.spec, s.spec) IN ({specialists}) THEN 2 END AS step
    FROM att_lines l
    LEFT JOIN best b USING (claim_id, claim_line_number)
    LEFT JOIN npi_spec s ON s.npi = l.npi),
  stepped AS (
    SELECT * FROM comp WHERE step IS NOT NULL
    QUALIFY step = min(step) OVER (PARTITION BY member_id)),
  totals AS (
    SELECT member_id, competitor, any_value(is_entity) AS is_entity, min(step) AS step,
           sum(allowed_cents) AS amount, max(service_date) AS last_date
    FROM stepped GROUP BY member_id, competitor)
  SELECT * FROM totals
  QUALIFY row_number() OVER (PARTITION BY member_id
                             ORDER BY amount DESC, last_date DESC, is_entity ASC, competitor ASC) = 1;
CREATE TEMP TABLE voluntary AS
  WITH latest AS (
    SELECT member_id, first(npi ORDER BY signed_date DESC, npi) AS npi
    FROM '{canon}/voluntary_alignment.parquet'
    WHERE member_id IN (SELECT member_id FROM population) AND signed_date <= DATE '2024-12-31'
    GROUP BY member_id)
  SELECT v.member_id, min(r.entity_id) AS entity_id
  FROM latest v JOIN roster r ON r.npi = v.npi
  WHERE r.effective_date <= DATE '2024-12-31'
    AND (r.termination_date IS NULL OR DATE '2024-12-31' <= r.termination_date)
  GROUP BY v.member_id;
CREATE TEMP TABLE attribution AS
  SELECT p.member_id,
         coalesce(v.entity_id, CASE WHEN w.is_entity THEN w.competitor END) AS entity_id,
         CASE WHEN v.entity_id IS NOT NULL THEN 'voluntary'
              WHEN w.step IS NOT NULL THEN 'step' || w.step END AS step
  FROM population p
  LEFT JOIN winners w USING (member_id)
  LEFT JOIN voluntary v USING (member_id);
CREATE TEMP TABLE spans AS
  WITH ordered AS (
    SELECT member_id, group_id, enrollment_start_date AS st, enrollment_end_date AS en,
           max(enrollment_end_date) OVER (PARTITION BY member_id, group_id ORDER BY enrollment_start_date,
               enrollment_end_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prior_end
    FROM '{canon}/eligibility.parquet'),
  flagged AS (
    SELECT *, sum(CASE WHEN prior_end IS NULL OR st > prior_end + 1 THEN 1 ELSE 0 END)
              OVER (PARTITION BY member_id, group_id ORDER BY st, en ROWS UNBOUNDED PRECEDING) AS span
    FROM ordered)
  SELECT member_id, group_id, min(st) AS st, max(en) AS en FROM flagged GROUP BY member_id, group_id, span;
CREATE TEMP TABLE cost_lines AS
  SELECT member_id, claim_start_date AS service_date, paid_cents, allowed_cents
  FROM '{canon}/medical_claim.parquet'
  WHERE claim_start_date BETWEEN DATE '2025-01-01' AND DATE '2025-12-31' AND paid_date <= DATE '2026-03-31';
CREATE TEMP TABLE covered AS
  SELECT d.member_id, d.service_date, first(s.group_id ORDER BY s.st DESC, s.group_id) AS group_id
  FROM (SELECT DISTINCT member_id, service_date FROM cost_lines) d
  JOIN spans s ON s.member_id = d.member_id AND d.service_date BETWEEN s.st AND s.en
  GROUP BY d.member_id, d.service_date;
CREATE TEMP TABLE costs AS
  SELECT l.member_id, c.group_id, sum(l.allowed_cents) AS raw_cost_cents,
         count(*) AS lines, sum(l.paid_cents) AS paid_cents
  FROM cost_lines l LEFT JOIN covered c USING (member_id, service_date)
  GROUP BY l.member_id, c.group_id;
"""


def _duckdb(canon: Path, threads: int) -> tuple[float, dict[str, Any]]:
    roles = shipped_specialties()
    script = SQL.format(
        canon=canon,
        codes=_sql_list(shipped_primary_care_codes()),
        primary=_sql_list(roles["primary_care"]),
        specialists=_sql_list(roles["specialist"]),
    )
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    con.execute(script)
    attributed = con.sql(
        "SELECT entity_id, step, count(*) FROM attribution WHERE entity_id IS NOT NULL GROUP BY ALL"
    ).pl()
    by_group = con.sql(
        "SELECT group_id, sum(raw_cost_cents) FROM costs WHERE group_id IS NOT NULL GROUP BY ALL"
    ).pl()
    rejected = con.execute(
        "SELECT coalesce(sum(lines), 0), coalesce(sum(paid_cents), 0) FROM costs WHERE group_id IS NULL"
    ).fetchone()
    lines, paid = rejected if rejected is not None else (0, 0)
    seconds = time.perf_counter() - started
    con.close()
    return seconds, _summary(attributed, by_group, lines, paid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/settle-bench-1m"))
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each engine (best is kept)")
    args = parser.parse_args()
    source, canon = args.dir / "source", args.dir / "canonical"
    _generate(source, args.members, args.seed)
    _canonical(source, canon)
    lines = pq.ParquetFile(canon / "medical_claim.parquet").metadata.num_rows
    threads = os.cpu_count() or 1
    kernel_runs = [_kernels(canon) for _ in range(args.repeat)]
    duck_runs = [_duckdb(canon, threads) for _ in range(args.repeat)]
    kernel_s = min(s for s, _ in kernel_runs)
    duck_s = min(s for s, _ in duck_runs)
    kernel_result, duck_result = kernel_runs[0][1], duck_runs[0][1]
    attributed = sum(n for _, _, n in kernel_result["attributed"])
    print(
        json.dumps(
            {
                "members": args.members,
                "medical_claim_lines": lines,
                "cpu_count": threads,
                "machine": platform.machine(),
                "polars": pl.__version__,
                "duckdb": duckdb.__version__,
                "load_average_1m": round(os.getloadavg()[0], 2),
                "kernels_runs_seconds": [round(s, 2) for s, _ in kernel_runs],
                "duckdb_runs_seconds": [round(s, 2) for s, _ in duck_runs],
                "kernels_seconds": round(kernel_s, 2),
                "kernels_lines_per_second": round(lines / kernel_s),
                "duckdb_seconds": round(duck_s, 2),
                "duckdb_lines_per_second": round(lines / duck_s),
                "attributed_members": attributed,
                "rejected_lines": kernel_result["rejected_lines"],
                "results_agree": kernel_result == duck_result,
            },
            indent=2,
        )
    )
    if kernel_result != duck_result:
        for key in kernel_result:
            if kernel_result[key] != duck_result[key]:
                print(f"differs: {key}")


if __name__ == "__main__":
    main()

"""The core computation as ONE DuckDB SQL query over the book's source Parquet files.

The query reads the files as the generator wrote them (dollars as ``decimal(12, 2)``,
converted to cents exactly inside the query) and returns the entity x group table of
:mod:`benchmarks.core`.  Its steps, as CTEs:

* ``population``: members with an enrolled day in the period;
* ``att_lines`` .. ``winners``: primary-care lines of the lookback year netted per claim line
  (a line with a negative row that nets to <= 0 is dropped), matched to an entity by NPI + TIN
  then whole TIN on the service date (smallest entity), specialty from the matched row else the
  NPI's latest, step 1 (primary care or unknown) before step 2 (specialists), plurality of
  allowed cents, ties: latest service date, a TIN before an entity, smallest id;
* ``mm``: any-day member months (distinct covered months of the clipped spans) x 377,580 units;
* ``spans`` .. ``costs``: merged spans, each member-day's cost to the covering span that
  started last (then smallest group), summed per member x group;
* ``cells`` .. ``alloc``: each member's total truncated at the cap and split back across
  groups by largest remainder (weights = positive raw costs, all zero -> equal; ties to the
  smaller group), exact ``HUGEINT`` arithmetic;
* the final ``GROUP BY entity_id, group_id``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from benchmarks.core import CoreParams, normalise

__all__ = ["SQL", "duckdb_reference", "render_sql"]

SQL = """
WITH
elig AS (
  SELECT member_id, group_id, enrollment_start_date AS st, enrollment_end_date AS en
  FROM read_parquet({eligibility})),
claims AS (
  SELECT claim_id, claim_line_number, member_id, claim_start_date AS service_date, paid_date,
         CAST(allowed_amount * 100 AS BIGINT) AS allowed_cents,
         rendering_npi AS npi, coalesce(rendering_tin, billing_tin) AS tin, hcpcs_code
  FROM read_parquet({medical_claim})),
roster AS (SELECT * FROM read_parquet({roster})),
population AS (
  SELECT DISTINCT member_id FROM elig WHERE st <= DATE '{end}' AND en >= DATE '{start}'),
att_lines AS (
  SELECT claim_id, claim_line_number, sum(allowed_cents) AS allowed_cents,
         min(member_id) FILTER (WHERE allowed_cents >= 0) AS member_id,
         min(service_date) FILTER (WHERE allowed_cents >= 0) AS service_date,
         min(npi) FILTER (WHERE allowed_cents >= 0) AS npi,
         min(tin) FILTER (WHERE allowed_cents >= 0) AS tin
  FROM claims
  WHERE service_date BETWEEN DATE '{window_start}' AND DATE '{window_end}'
    AND paid_date <= DATE '{window_paid_cutoff}' AND hcpcs_code IN ({codes})
    AND member_id IN (SELECT member_id FROM population)
  GROUP BY claim_id, claim_line_number
  HAVING NOT (bool_or(allowed_cents < 0) AND sum(allowed_cents) <= 0)),
matches AS (
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
         coalesce(b.entity_id, 'tin:' || l.tin, 'npi:' || l.npi, 'unknown') AS competitor,
         b.entity_id IS NOT NULL AS is_entity,
         CASE WHEN coalesce(b.spec, s.spec) IS NULL OR coalesce(b.spec, s.spec) IN ({primary}) THEN 1
              WHEN coalesce(b.spec, s.spec) IN ({specialists}) THEN 2 END AS step
  FROM att_lines l
  LEFT JOIN best b USING (claim_id, claim_line_number)
  LEFT JOIN npi_spec s ON s.npi = l.npi),
stepped AS (
  SELECT * FROM comp WHERE step IS NOT NULL QUALIFY step = min(step) OVER (PARTITION BY member_id)),
totals AS (
  SELECT member_id, competitor, bool_or(is_entity) AS is_entity,
         sum(allowed_cents) AS amount, max(service_date) AS last_date
  FROM stepped GROUP BY member_id, competitor),
winners AS (
  SELECT member_id, CASE WHEN is_entity THEN competitor END AS entity_id FROM totals
  QUALIFY row_number() OVER (PARTITION BY member_id
                             ORDER BY amount DESC, last_date DESC, is_entity ASC, competitor ASC) = 1),
mm AS (
  SELECT member_id, group_id, count(*) * {units} AS member_month_units
  FROM (SELECT DISTINCT member_id, group_id, unnest(range(
               year(greatest(st, DATE '{start}')) * 12 + month(greatest(st, DATE '{start}')),
               year(least(en, DATE '{end}')) * 12 + month(least(en, DATE '{end}')) + 1)) AS m
        FROM elig WHERE st <= DATE '{end}' AND en >= DATE '{start}')
  GROUP BY member_id, group_id),
ordered AS (
  SELECT member_id, group_id, st, en,
         max(en) OVER (PARTITION BY member_id, group_id ORDER BY st, en
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prior_end
  FROM elig),
flagged AS (
  SELECT *, sum(CASE WHEN prior_end IS NULL OR st > prior_end + 1 THEN 1 ELSE 0 END)
            OVER (PARTITION BY member_id, group_id ORDER BY st, en ROWS UNBOUNDED PRECEDING) AS span
  FROM ordered),
spans AS (
  SELECT member_id, group_id, min(st) AS st, max(en) AS en FROM flagged GROUP BY member_id, group_id, span),
days AS (
  SELECT member_id, service_date, sum(allowed_cents) AS cents FROM claims
  WHERE service_date BETWEEN DATE '{start}' AND DATE '{end}' AND paid_date <= DATE '{cost_paid_cutoff}'
  GROUP BY member_id, service_date),
covered AS (
  SELECT d.member_id, d.service_date, any_value(d.cents) AS cents,
         first(s.group_id ORDER BY s.st DESC, s.group_id) AS group_id
  FROM days d JOIN spans s ON s.member_id = d.member_id AND d.service_date BETWEEN s.st AND s.en
  GROUP BY d.member_id, d.service_date),
costs AS (
  SELECT member_id, group_id, sum(cents) AS raw_cost_cents FROM covered GROUP BY member_id, group_id),
cells AS (
  SELECT member_id, group_id, coalesce(m.member_month_units, 0) AS member_month_units,
         coalesce(c.raw_cost_cents, 0) AS raw
  FROM mm m FULL JOIN costs c USING (member_id, group_id)),
member AS (
  SELECT *, sum(raw) OVER w AS total, sum(greatest(raw, 0)) OVER w AS wsum, count(*) OVER w AS n
  FROM cells WINDOW w AS (PARTITION BY member_id)),
shares AS (
  SELECT *, CAST(abs(least(total, {cap})) AS HUGEINT) AS t, sign(least(total, {cap})) AS sgn,
         CAST(CASE WHEN wsum = 0 THEN 1 ELSE greatest(raw, 0) END AS HUGEINT) AS w,
         CAST(CASE WHEN wsum = 0 THEN n ELSE wsum END AS HUGEINT) AS d
  FROM member),
parts AS (
  SELECT *, t * w // d AS fl, t * w % d AS rem FROM shares),
alloc AS (
  SELECT member_id, group_id, member_month_units, raw,
         CAST((fl + CASE WHEN row_number() OVER (PARTITION BY member_id ORDER BY rem DESC, group_id) - 1
                             < t - sum(fl) OVER (PARTITION BY member_id) THEN 1 ELSE 0 END) * sgn AS BIGINT)
           AS truncated
  FROM parts)
SELECT w.entity_id, a.group_id, count(*) AS attributed_members,
       sum(a.member_month_units) AS member_month_units, sum(a.raw) AS raw_cost_cents,
       sum(a.truncated) AS truncated_cost_cents
FROM alloc a LEFT JOIN winners w USING (member_id)
GROUP BY w.entity_id, a.group_id
"""


def _files(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"


def _list(values: frozenset[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def render_sql(
    params: CoreParams, eligibility: Sequence[Path], medical_claim: Sequence[Path], roster: Path
) -> str:
    """The query with the files and every constant filled in."""
    return SQL.format(
        eligibility=_files(eligibility),
        medical_claim=_files(medical_claim),
        roster=_files([roster]),
        start=params.start,
        end=params.end,
        cost_paid_cutoff=params.cost_paid_cutoff,
        window_start=params.window_start,
        window_end=params.window_end,
        window_paid_cutoff=params.window_paid_cutoff,
        codes=_list(params.primary_care_codes),
        primary=_list(params.primary_care_specialties),
        specialists=_list(params.specialist_specialties),
        units=params.units_per_month,
        cap=params.truncation_cents,
    )


def duckdb_reference(
    params: CoreParams,
    eligibility: Sequence[Path],
    medical_claim: Sequence[Path],
    roster: Path,
    threads: int | None = None,
) -> tuple[float, pl.DataFrame]:
    """Run the query in a fresh in-memory DuckDB; (seconds, entity x group table).

    The clock covers the query and fetching its small result, not connecting."""
    sql = render_sql(params, eligibility, medical_claim, roster)
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        started = time.perf_counter()
        result = con.sql(sql).pl()
        seconds = time.perf_counter() - started
    finally:
        con.close()
    return seconds, normalise(result)

"""The synthetic claim-set generator: deterministic, complete, realistic where the kernels need it.

Books are tiny (a few thousand members); distribution checks use tolerances wide enough for
that size but narrow enough to catch a broken rule.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.engine.contracts.models import parse_contracts
from settle.engine.errors import SynthOptionError
from settle.engine.job import load_job
from settle.engine.schemas import TABLES
from settle.engine.synth import BLOCK_MEMBERS, SynthSummary, generate
from settle.engine.synth.arrow import GroupedDraw, day_number, money_array, npi_with_check_digit, padded_ids
from settle.engine.synth.badrows import BAD_ROW_KINDS, BAD_ROW_REASONS
from settle.engine.synth.codes import PC_SPECIALTIES, PRIMARY_CARE_CODES
from settle.engine.synth.io import StreamWriter, numbered_parts, plan_units
from settle.engine.synth.world import FAC, PCP, build_world

YEAR = 2025
MEMBERS = 5000  # three blocks of 2048, so chunking is exercised
LOOKBACK = (day_number(dt.date(YEAR - 1, 1, 1)), day_number(dt.date(YEAR - 1, 12, 31)))
PERFORMANCE = (day_number(dt.date(YEAR, 1, 1)), day_number(dt.date(YEAR, 12, 31)))
EXTRACT = day_number(dt.date(YEAR + 1, 3, 31))


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    return generate(tmp_path_factory.mktemp("book") / "out", members=MEMBERS, seed=1, groups=20)


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    return generate(tmp_path_factory.mktemp("feed") / "out", members=MEMBERS, seed=1, groups=20,
                    layout="feed", chunk_members=BLOCK_MEMBERS, feed_file_rows=40_000)


def _read(summary: SynthSummary, table: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in summary.files[table]])


def _days(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _cents(column: pa.ChunkedArray) -> np.ndarray:
    # Decimal(12, 2) -> exact integer cents through the unscaled value (x 100 is exact in decimal).
    scaled = pc.multiply(column.combine_chunks(), pa.scalar(Decimal(100), pa.decimal128(5, 0)))
    return np.asarray(scaled.cast(pa.int64()).to_numpy(zero_copy_only=False))


def _col(table: pa.Table, name: str) -> list[object]:
    return table[name].to_pylist()


def _spans(elig: pa.Table) -> dict[str, list[tuple[int, int, str]]]:
    """member -> [(first day, last day, group)] of its enrollment spans."""
    spans: dict[str, list[tuple[int, int, str]]] = {}
    rows = zip(_col(elig, "member_id"), _days(elig["enrollment_start_date"]).tolist(),
               _days(elig["enrollment_end_date"]).tolist(), _col(elig, "group_id"), strict=True)
    for m, s, e, g in rows:
        spans.setdefault(str(m), []).append((s, e, str(g)))
    return spans


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _member_years(elig: pa.Table, lo: int, hi: int) -> float:
    start, end = _days(elig["enrollment_start_date"]), _days(elig["enrollment_end_date"])
    return float(np.maximum(0, np.minimum(end, hi) - np.maximum(start, lo) + 1).sum() / (hi - lo + 1))


# --- determinism -----------------------------------------------------------------------------


def test_same_seed_gives_identical_files_whatever_the_chunk_size(book: SynthSummary, tmp_path: Path) -> None:
    # chunk_members=1 rounds up to one block per chunk: three chunks instead of one.
    again = generate(tmp_path / "again", members=MEMBERS, seed=1, groups=20, chunk_members=1)
    first, second = _files(book.out_dir), _files(again.out_dir)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


def test_different_seed_gives_different_claims(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", members=300, seed=1)
    b = generate(tmp_path / "b", members=300, seed=2)
    assert not _read(a, "medical_claim").equals(_read(b, "medical_claim"))
    assert not _read(a, "roster").equals(_read(b, "roster"))


def test_feed_holds_the_same_rows_as_by_group(book: SynthSummary, feed: SynthSummary) -> None:
    keys = {"medical_claim": ["claim_id", "claim_line_number", "paid_date"],
            "pharmacy_claim": ["claim_id", "paid_date"],
            "eligibility": ["member_id", "enrollment_start_date"]}
    for table, columns in keys.items():
        order = [(c, "ascending") for c in columns]
        a, b = _read(book, table).sort_by(order), _read(feed, table).sort_by(order)
        assert a.num_rows == b.num_rows == book.rows[table] == feed.rows[table]
        assert a.equals(b), table


def test_feed_is_in_paid_date_order_across_files_mixing_groups(feed: SynthSummary) -> None:
    files = feed.files["medical_claim"]
    assert len(files) >= 2  # 40,000 rows per file
    claims = pa.concat_tables([pq.read_table(p) for p in files])
    paid = _days(claims["paid_date"])
    assert (np.diff(paid) >= 0).all()
    # Within a paid date, rows are ordered by claim id then line number.
    ids = claims["claim_id"].to_pylist()
    lines = claims["claim_line_number"].to_pylist()
    keys = list(zip(paid.tolist(), ids, lines, strict=True))
    assert keys == sorted(keys)
    # The first file mixes members of many groups.
    elig = _read(feed, "eligibility")
    group_of = dict(zip(elig["member_id"].to_pylist(), elig["group_id"].to_pylist(), strict=True))
    first = pq.read_table(files[0])
    assert len({group_of[m] for m in first["member_id"].to_pylist()}) >= 10
    assert feed.files["eligibility"] == (feed.out_dir / "eligibility" / "part-00000.parquet",)


def test_by_group_files_hold_only_their_groups_claims(book: SynthSummary) -> None:
    elig = _read(book, "eligibility")
    spans = _spans(elig)
    moved_files = 0
    for path in book.files["medical_claim"]:
        group = path.parent.name
        moved_files += path.name.startswith("moved-")
        claims = pq.read_table(path, columns=["member_id", "claim_start_date"])
        for m, day in zip(claims["member_id"].to_pylist(), _days(claims["claim_start_date"]).tolist(),
                          strict=True):
            assert [g for s, e, g in spans[m] if s <= day <= e] == [group]
    assert moved_files >= 1  # members who changed employer have rows in their new group's folder
    assert {p.parent.name for p in book.files["eligibility"]} <= set(elig["group_id"].to_pylist())


# --- tables and documents -----------------------------------------------------------------------


_TYPES = {"id": pa.types.is_string, "text": pa.types.is_string, "date": pa.types.is_date32,
          "int": pa.types.is_int64, "float": pa.types.is_float64, "bool": pa.types.is_boolean}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_has_the_source_columns_and_types(book: SynthSummary, table: str) -> None:
    spec = TABLES[table]
    data = _read(book, table)
    assert data.num_rows > 0
    by_source = {c.source_name: c for c in spec.columns}
    assert set(data.column_names) <= set(by_source), "only the schema's source column names"
    for column in spec.required:
        assert column.source_name in data.column_names
        assert data[column.source_name].null_count == 0, column.source_name
    for name in data.column_names:
        kind, typ = by_source[name].kind, data.schema.field(name).type
        if kind == "money":  # dollars, exact: decimal with two places, never float
            assert pa.types.is_decimal(typ) and typ.scale == 2, name
        else:
            assert _TYPES[kind](typ), (name, typ)


def test_job_document_and_contracts_are_ready(book: SynthSummary) -> None:
    job = load_job(book.job_path)
    assert job.period.start == dt.date(YEAR, 1, 1) and job.period.runout_months == 3
    for table in TABLES:
        for location in job.input_paths(table):
            assert Path(location).exists(), location
    contracts = parse_contracts(job.contract_documents(), "contracts.yaml")
    kinds = Counter(c.kind for c in contracts)
    assert set(kinds) == {"shared_savings", "withhold", "bonus_pool", "population_payment", "margin_share"}
    sides = {c.terms.risk for c in contracts if c.kind == "shared_savings"}  # type: ignore[union-attr]
    assert sides == {"one_sided", "two_sided"}
    # Scoped contracts name groups that exist.
    groups = set(_read(book, "eligibility")["group_id"].to_pylist())
    for c in contracts:
        if c.scope.groups != "all":
            assert set(c.scope.groups) <= groups


def test_premiums_quality_and_alignment(book: SynthSummary) -> None:
    premiums = _read(book, "premiums")
    months = _days(premiums["month"])
    first_days = {dt.date(1970, 1, 1) + dt.timedelta(int(d)) for d in months}
    assert first_days == {dt.date(YEAR, m, 1) for m in range(1, 13)}
    assert (_cents(premiums["premium_amount"]) > 0).all()
    assert len(set(premiums["group_id"].to_pylist())) == book.groups
    quality = _read(book, "quality")
    performance = quality.filter(pc.equal(quality["period"], str(YEAR)))
    assert performance.num_rows == book.entities
    assert set(performance["met_standard"].to_pylist()) == {True, False}
    scores = np.asarray(quality["quality_score"])
    assert ((scores >= 0) & (scores <= 1)).all()
    aligned = _read(book, "voluntary_alignment").num_rows
    assert 0.01 * MEMBERS < aligned < 0.05 * MEMBERS  # about 3% of members


# --- distributions ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def claims(book: SynthSummary) -> pa.Table:
    return _read(book, "medical_claim")


def test_lines_per_member_year_and_paid_window(book: SynthSummary, claims: pa.Table) -> None:
    elig = _read(book, "eligibility")
    start, paid = _days(claims["claim_start_date"]), _days(claims["paid_date"])
    lookback = (start >= LOOKBACK[0]) & (start <= LOOKBACK[1])
    performance = (start >= PERFORMANCE[0]) & (start <= PERFORMANCE[1])
    assert (lookback | performance).all()  # a full lookback year and the performance year, nothing else
    assert 15 <= lookback.sum() / _member_years(elig, *LOOKBACK) <= 20
    assert paid.max() <= EXTRACT
    assert (performance & (paid > PERFORMANCE[1])).sum() > 0  # run-out claims paid after the period


def test_reversals_and_replacements(book: SynthSummary, claims: pa.Table) -> None:
    allowed = _cents(claims["allowed_amount"])
    assert 0.015 < (allowed < 0).sum() / (allowed > 0).sum() < 0.025  # about 2% of lines reversed
    assert book.reversal_lines == (allowed < 0).sum()
    keys = Counter(zip(claims["claim_id"].to_pylist(), claims["claim_line_number"].to_pylist(), strict=True))
    assert 0 < sum(1 for n in keys.values() if n == 3) == book.replacement_lines
    # Every reversal nets against its original: same key, later paid date, negated amounts.
    rows = sorted(zip(_col(claims, "claim_id"), _col(claims, "claim_line_number"),
                      _days(claims["paid_date"]).tolist(), allowed.tolist(), strict=True))
    for _, group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        lines = list(group)
        if len(lines) > 1:
            assert lines[1][3] == -lines[0][3] and lines[1][2] > lines[0][2]


def test_primary_care_codes_and_professional_share(claims: pa.Table) -> None:
    codes = claims["hcpcs_code"].to_pylist()
    share = sum(c in PRIMARY_CARE_CODES for c in codes) / len(codes)
    assert 0.20 < share < 0.40
    professional = np.asarray(pc.equal(claims["claim_type"], "professional")).mean()
    assert 0.75 < professional < 0.95


def test_costs_are_heavy_tailed_and_risk_follows_cost(book: SynthSummary, claims: pa.Table) -> None:
    start = _days(claims["claim_start_date"])
    year = claims.filter(pa.array((start >= PERFORMANCE[0]) & (start <= PERFORMANCE[1])))
    members, index = np.unique(np.asarray(year["member_id"].to_pylist()), return_inverse=True)
    cost = np.bincount(index, weights=_cents(year["allowed_amount"])) / 100
    assert (cost > 125_000).sum() >= 3  # about 0.3% of member-years at this size: ~13 expected
    top = np.sort(cost)[::-1][: len(cost) // 100]
    assert top.sum() / cost.sum() > 0.2  # the top 1% of members carry over a fifth of the cost
    risk = _read(book, "risk_scores")
    risk = risk.filter(pc.equal(risk["period"], str(YEAR)))
    score = dict(zip(risk["member_id"].to_pylist(), risk["risk_score"].to_pylist(), strict=True))
    scores = np.array([score[m] for m in members])
    assert np.corrcoef(np.log1p(cost), scores)[0, 1] > 0.3
    assert 0.8 < np.mean(list(score.values())) < 1.2


def test_enrollment_is_partial_for_some_and_some_change_employer(book: SynthSummary) -> None:
    elig = _read(book, "eligibility")
    start, end = _days(elig["enrollment_start_date"]), _days(elig["enrollment_end_date"])
    joins = (start > PERFORMANCE[0]) & (start <= PERFORMANCE[1])
    leaves = (end >= PERFORMANCE[0]) & (end < PERFORMANCE[1])
    inside = joins | leaves
    partial = set(np.asarray(elig["member_id"].to_pylist())[inside])
    assert 0.05 * MEMBERS < len(partial) < 0.4 * MEMBERS
    groups_of: dict[str, set[str]] = {}
    for m, g in zip(elig["member_id"].to_pylist(), elig["group_id"].to_pylist(), strict=True):
        groups_of.setdefault(m, set()).add(g)
    switchers = sum(len(g) > 1 for g in groups_of.values())
    assert 0.01 * MEMBERS < switchers < 0.08 * MEMBERS  # about 4% of members


def test_group_sizes_are_skewed(book: SynthSummary) -> None:
    elig = _read(book, "eligibility")
    sizes = sorted(Counter(elig["group_id"].to_pylist()).values(), reverse=True)
    assert len(sizes) == 20
    assert sizes[0] >= 4 * sizes[len(sizes) // 2]  # Zipf: the largest is many times the median


def test_claims_stay_inside_enrollment_and_with_one_primary_care_clinician(book: SynthSummary,
                                                                          claims: pa.Table) -> None:
    spans = _spans(_read(book, "eligibility"))
    for m, day in zip(_col(claims, "member_id"), _days(claims["claim_start_date"]).tolist(), strict=True):
        assert any(s <= day <= e for s, e, _ in spans[str(m)])
    # Primary-care visits of a member in a year go mostly to one clinician.
    codes = {str(c) for c, _ in PC_SPECIALTIES}
    roster = _read(book, "roster")
    pc_npis = {n for n, s in zip(roster["npi"].to_pylist(), roster["specialty_code"].to_pylist(), strict=True)
               if s in codes}
    start = _days(claims["claim_start_date"])
    visits: dict[tuple[str, bool], Counter[str]] = {}
    rows = zip(_col(claims, "member_id"), _col(claims, "rendering_npi"), _col(claims, "hcpcs_code"),
               _col(claims, "claim_line_number"), start.tolist(), strict=True)
    for m, npi, code, line, day in rows:
        if line == 1 and code in PRIMARY_CARE_CODES and npi in pc_npis:
            visits.setdefault((str(m), day >= PERFORMANCE[0]), Counter())[str(npi)] += 1
    loyal = [c.most_common(1)[0][1] / sum(c.values()) for c in visits.values() if sum(c.values()) >= 3]
    assert len(loyal) > 100 and np.mean(loyal) > 0.7


def test_some_clinicians_are_outside_every_entity(book: SynthSummary, claims: pa.Table) -> None:
    roster = _read(book, "roster")
    in_roster = set(roster["npi"].drop_null().to_pylist())
    whole_tins = set(roster.filter(pc.is_null(roster["npi"]))["tin"].to_pylist())
    npis = set(claims["rendering_npi"].to_pylist())
    pairs = zip(_col(claims, "rendering_npi"), _col(claims, "rendering_tin"), strict=True)
    outside = {n for n, t in pairs if n not in in_roster and t not in whole_tins}
    assert outside and npis & in_roster


def test_world_entities_skewed_with_valid_npis_and_tins() -> None:
    world = build_world(np.random.default_rng(5), members=200_000, year=YEAR, groups=100, entities=25)
    clinicians = world.roster.filter(pc.is_valid(world.roster["npi"]))
    sizes = sorted(Counter(clinicians["entity_id"].to_pylist()).values(), reverse=True)
    assert len(sizes) == 25 and sizes[0] >= 3 * sizes[len(sizes) // 2]
    inside = world.prov_entity >= 0
    assert 0.3 < inside[world.prov_kind == PCP].mean() < 0.9  # many, not all, primary-care clinicians join
    assert (~inside[world.prov_kind == FAC]).any()
    npis = world.prov_npi.to_pylist()
    assert len(set(npis)) == len(npis)
    assert all(len(n) == 10 and n.isdigit() for n in npis)
    assert npi_with_check_digit(np.array([int(n[:9]) for n in npis])).tolist() == [int(n) for n in npis]
    assert all(len(t) == 9 and t.isdigit() for t in world.prov_tin.to_pylist())


# --- bad rows and options -----------------------------------------------------------------------


def test_bad_rows_are_injected_and_rejected_by_validation(tmp_path: Path) -> None:
    from settle.engine.validate import validate_job

    summary = generate(tmp_path / "bad", members=400, seed=3, bad_rows=len(BAD_ROW_KINDS))
    assert [kind for kind, _ in summary.bad_rows] == list(BAD_ROW_KINDS)
    claims = _read(summary, "medical_claim")
    # The feed layout gets the same bad rows.
    feed = generate(tmp_path / "bad-feed", members=400, seed=3, bad_rows=len(BAD_ROW_KINDS), layout="feed")
    assert feed.bad_rows == summary.bad_rows
    order = [(c, "ascending") for c in ("claim_id", "claim_line_number", "paid_date", "allowed_amount")]
    assert _read(feed, "medical_claim").sort_by(order).equals(claims.sort_by(order))
    ids = Counter(claims["claim_id"].to_pylist())
    for kind, claim_id in summary.bad_rows:
        assert ids[claim_id] >= (2 if kind == "duplicate_line" else 1)
    result = validate_job(load_job(summary.job_path))
    rejects = result.tables["medical_claim"].rejects
    reasons = set(rejects["reason"].to_pylist())
    expected = {r for k, r in BAD_ROW_REASONS.items() if k != "service_outside_enrollment"}
    assert expected <= reasons  # (service dates outside enrollment are found later, by the kernels)


def test_clean_book_passes_validation(tmp_path: Path) -> None:
    from settle.engine.validate import validate_job

    summary = generate(tmp_path / "clean", members=400, seed=4, layout="feed")
    result = validate_job(load_job(summary.job_path))
    for name, table in result.tables.items():
        assert table.counts.rejected == 0, name
        assert table.counts.read == summary.rows[name], name


@pytest.mark.parametrize(("options", "option"), [
    ({"members": 99}, "members"), ({"seed": -1}, "seed"), ({"layout": "sorted"}, "layout"),
    ({"bad_rows": -1}, "bad_rows"), ({"groups": 0}, "groups"), ({"chunk_members": 0}, "chunk_members"),
])
def test_invalid_options_name_the_option(tmp_path: Path, options: dict[str, object], option: str) -> None:
    kwargs: dict[str, object] = {"members": 300, "seed": 1, **options}
    with pytest.raises(SynthOptionError, match=option) as info:
        generate(tmp_path / "x", **kwargs)  # type: ignore[arg-type]
    assert info.value.option == option


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SynthOptionError, match="not empty"):
        generate(tmp_path, members=300, seed=1)
    assert (tmp_path / "keep.txt").read_text() == "mine"


# --- helpers ------------------------------------------------------------------------------------


def test_npi_check_digit_matches_the_cms_example() -> None:
    # CMS: NPI 123456789 -> Luhn over 80840123456789: doubled digits 9,7,5,3,1 -> 18,14,10,6,2 ->
    # digit sums 9+5+1+6+2 = 23; others 8+6+4+2 = 20; + 24 for the prefix = 67; check = 3.
    assert npi_with_check_digit(np.array([123456789])).tolist() == [1234567893]


def test_grouped_draw_by_hand() -> None:
    # group 0: items 0 (weight 1), 1 (weight 3) -> cumulative 0.25, 1.0; group 1: item 2 alone;
    # group 2 has no item.
    draw = GroupedDraw.build([0, 0, 1], [1.0, 3.0, 2.0], 3)
    got = draw.draw(np.array([0, 0, 0, 1, 2]), np.array([0.0, 0.2499, 0.25, 0.9, 0.5]))
    assert got.tolist() == [0, 0, 1, 2, -1]


@given(st.lists(st.integers(-(10**12) + 1, 10**12 - 1), max_size=50))
def test_money_array_is_exact(cents: list[int]) -> None:
    array = money_array(np.array(cents, dtype=np.int64))
    assert array.type == pa.decimal128(12, 2)
    assert array.to_pylist() == [Decimal(c).scaleb(-2) for c in cents]


def test_padded_ids() -> None:
    assert padded_ids("M", np.array([1, 42]), 5).to_pylist() == ["M00001", "M00042"]


@given(st.lists(st.integers(1, 9), min_size=1, max_size=30), st.integers(1, 5))
@settings(max_examples=25, deadline=None)
def test_stream_writer_bytes_do_not_depend_on_how_rows_arrive(tmp_path_factory: pytest.TempPathFactory,
                                                              sizes: list[int], file_rows: int) -> None:
    table = pa.table({"x": pa.array(np.arange(sum(sizes)))})
    outputs = []
    starts = np.cumsum([0, *sizes[:-1]])
    for pieces in ([table], [table.slice(a, n) for a, n in zip(starts, sizes, strict=True)]):
        folder = tmp_path_factory.mktemp("stream")
        writer = StreamWriter(numbered_parts(folder), table.schema, file_rows=file_rows)
        for piece in pieces:
            writer.write(piece)
        outputs.append([p.read_bytes() for p in writer.close()])
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == -(-sum(sizes) // file_rows)  # ceil(rows / file_rows) files


@given(st.lists(st.integers(0, 50), min_size=1, max_size=8), st.integers(1, 40))
def test_units_grow_with_member_number(sizes: list[int], file_rows: int) -> None:
    first = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    plan = plan_units(np.array(sizes, dtype=np.float64), first, file_rows=file_rows, bucket_rows=30)
    members = np.arange(first[-1])
    groups = np.searchsorted(first, members, side="right") - 1
    units = plan.units(groups, members)
    assert (np.diff(units) >= 0).all()
    assert (plan.group_of_unit[units] == groups).all()
    assert (np.diff(plan.bucket_of_unit) >= 0).all()

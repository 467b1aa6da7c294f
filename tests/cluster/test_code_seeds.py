"""Seeded code dictionaries: every partition task's NPI and TIN dictionaries start with the
roster's values, and validation joins the pieces of many tasks over that shared prefix with
every row's text unchanged."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settle.cluster import code_seeds
from settle.cluster.code_seeds import SEEDED_KEY, Seed, declaration, roster_code_seeds, seeds_for
from settle.cluster.task_codes import TaskCodes, compact_dictionaries, join_pieces


def _piece(codes: TaskCodes, values: list[str | None]) -> pa.Table:
    """``values`` read as one row group by a task, written as a piece as the partition stage
    does: encoded into the task's dictionary, restored over it, declaring what is seeded."""
    column = pa.array(values, pa.string()).dictionary_encode()
    restored = codes.restore(codes.encode(pa.table({"rendering_npi": column})))
    return restored.replace_schema_metadata({SEEDED_KEY: declaration(codes.seeded())})


def _seed(values: list[str]) -> Seed:
    return roster_code_seeds(pa.table({"npi": pa.array(values, pa.string())}))["npi"]


def test_seeds_are_the_rosters_distinct_values_in_the_order_first_met() -> None:
    roster = pa.table(
        {
            "npi": pa.array(["2", "1", "2", None, "3"], pa.large_string()),
            "tin": pa.array(["t9", "t9", "t8", "t8", None]),
            "entity_id": pa.array(["e1", "e2", "e1", "e3", "e4"]),
        }
    )
    seeds = roster_code_seeds(roster)
    assert seeds["npi"].values.to_pylist() == ["2", "1", "3"]
    assert seeds["tin"].values.to_pylist() == ["t9", "t8"]
    assert seeds["npi"].fingerprint != seeds["tin"].fingerprint
    claim = seeds_for("medical_claim", seeds)
    assert sorted(claim) == ["billing_npi", "billing_tin", "rendering_npi", "rendering_tin"]
    assert claim["billing_npi"] is seeds["npi"] and claim["rendering_tin"] is seeds["tin"]
    assert seeds_for("eligibility", seeds) == {}


def test_a_roster_with_too_many_values_of_a_format_seeds_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_seeds, "MAX_SEED_VALUES", 2)
    roster = pa.table({"npi": pa.array(["1", "2", "3", "1"]), "tin": pa.array(["t1", "t2", "t1", "t2"])})
    assert sorted(roster_code_seeds(roster)) == ["tin"]


def test_joining_seeded_pieces_by_hand() -> None:
    """Seed [a, b, c].  Task 1 reads c, x, a: its dictionary [a, b, c, x], indices 2, 3, 0.
    Task 2 reads y, b, null: [a, b, c, y], indices 3, 1, null.  Joined: [a, b, c, x, y], the
    second piece's y (3) moved to 4, the rest kept."""
    seed = _seed(["a", "b", "c"])
    first = _piece(TaskCodes({"rendering_npi": seed}), ["c", "x", "a"])
    second = _piece(TaskCodes({"rendering_npi": seed}), ["y", "b", None])
    assert first["rendering_npi"].chunk(0).dictionary.to_pylist() == ["a", "b", "c", "x"]
    assert first["rendering_npi"].chunk(0).indices.to_pylist() == [2, 3, 0]
    pieces = [compact_dictionaries(p) for p in (first, second)]
    assert pieces[1]["rendering_npi"].chunk(0).dictionary.to_pylist() == ["a", "b", "c", "y"]  # not cut
    [joined] = join_pieces(pieces)
    npi = joined["rendering_npi"].chunk(0)
    assert npi.dictionary.to_pylist() == ["a", "b", "c", "x", "y"]
    assert npi.indices.to_pylist() == [2, 3, 0, 4, 1, None]
    assert SEEDED_KEY not in (joined.schema.metadata or {})


def test_pieces_of_different_seeds_are_laid_end_to_end() -> None:
    """Pieces whose seeds differ (another fingerprint) share no prefix: their dictionaries are
    laid end to end, as unseeded pieces' are, and every row keeps its text."""
    first = _piece(TaskCodes({"rendering_npi": _seed(["a", "b"])}), ["b", "z"])
    second = _piece(TaskCodes({"rendering_npi": _seed(["b", "a"])}), ["a", "b"])
    [joined] = join_pieces([first, second])
    npi = joined["rendering_npi"].chunk(0)
    assert npi.dictionary.to_pylist() == ["a", "b", "z", "b", "a"]
    assert npi.cast(pa.string()).to_pylist() == ["b", "z", "a", "b"]


def test_a_task_declares_a_seeded_column_canonical_by_all_its_values_seed_included() -> None:
    """The seed is part of the task's dictionary: canonical NPIs keep the column declared
    canonical, one malformed roster value (unused by any row) keeps it undeclared."""
    codes = TaskCodes({"rendering_npi": _seed(["1234567893"])})
    _piece(codes, ["2345678901"])
    assert codes.canonical("medical_claim") == ["rendering_npi"]
    codes = TaskCodes({"rendering_npi": _seed(["12345678X3"])})
    _piece(codes, ["2345678901"])
    assert codes.canonical("medical_claim") == []


SEED_VALUES = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=5)
ROW_VALUES = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e", "x", "y", "z"]))
GROUPS = st.lists(ROW_VALUES, max_size=8)  # the values of one row group


@settings(max_examples=80, deadline=None)
@given(
    seed=SEED_VALUES,
    tasks=st.lists(st.lists(GROUPS, min_size=1, max_size=3), min_size=1, max_size=5),
)
def test_seeded_pieces_of_many_tasks_join_to_the_values_read(
    seed: list[str], tasks: list[list[list[str | None]]]
) -> None:
    """Tasks reading row groups of any values (in the seed or not, nulls) give pieces that
    join into one chunk with every row's text as read, over a dictionary that holds the seed
    once, first, then each piece's own values."""
    seeded = {"rendering_npi": _seed(seed)} if seed else {}
    pieces, expected = [], []
    for groups in tasks:
        codes = TaskCodes(seeded)
        for values in groups:
            pieces.append(compact_dictionaries(_piece(codes, values)))
            expected += values
    [joined] = join_pieces(pieces)
    npi = joined["rendering_npi"]
    assert npi.num_chunks == 1
    assert npi.cast(pa.string()).to_pylist() == expected
    if seed and len(pieces) > 1:
        assert npi.chunk(0).dictionary.to_pylist()[: len(seed)] == seed
        tails = sum(len(p["rendering_npi"].chunk(0).dictionary) - len(seed) for p in pieces)
        assert len(npi.chunk(0).dictionary) == len(seed) + tails

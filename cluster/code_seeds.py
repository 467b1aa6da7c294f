"""The values every partition task's dictionary of a provider code column starts with.

Each partition task grows its own dictionary per code column (:class:`~settle.cluster.task_codes.TaskCodes`),
in the order it meets the values, so the dictionaries of two tasks share nothing by position.
A validate task joins one batch of every piece file, each with its task's dictionary, and had
to cut each to the values its rows use and lay them end to end: at 10M members 56 pieces gave
a partition's 2.0 M claim lines an NPI dictionary of 1.73 M values, most of them repeats,
which every later step over the dictionary paid for.

The NPIs and TINs of claim lines are mostly the roster's.  So the driver takes the roster's
distinct NPIs and TINs once (:func:`roster_code_seeds`) and every task's dictionary of a code
column of that format starts with them, in the same order; a task only appends the values the
roster lacks.  The pieces of every task then share one dictionary prefix, which a piece
declares under :data:`SEEDED_KEY` (its length and a fingerprint of its values), and
validation joins them as the prefix once plus each piece's own tail
(:func:`join_prefixed`), without cutting or hashing anything.

Seeding changes no text: a dictionary's order is invisible once the codes are read as text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from settle.engine.schemas import TABLES

__all__ = [
    "MAX_SEED_VALUES",
    "SEEDED_KEY",
    "Seed",
    "declaration",
    "declared_seeds",
    "join_prefixed",
    "roster_code_seeds",
    "seeds_for",
]

SEEDED_KEY = b"settle.seeded"  # schema metadata: "column=length:fingerprint,..."
# A roster with more distinct values of a format seeds nothing: every piece would carry them all
# uncompacted, and a partition's validation would convert them all, however few its rows use
# (65,536: indices still fit ``uint16``; the 10M benchmark book's roster has 38,700 NPIs).
MAX_SEED_VALUES = 1 << 16
_SEED_FORMATS = ("npi", "tin")


@dataclass(frozen=True)
class Seed:
    """The first values of a task's dictionary of a code column, and their fingerprint."""

    values: pa.Array  # distinct, no nulls, pa.string()
    fingerprint: str

    @property
    def declaration(self) -> str:
        return f"{len(self.values)}:{self.fingerprint}"


def roster_code_seeds(roster: pa.Table) -> dict[str, Seed]:
    """By format (``npi``, ``tin``): the distinct values of the (validated) roster's column of
    that format, in the order first met; none for a format with more than
    :data:`MAX_SEED_VALUES` of them."""
    seeds: dict[str, Seed] = {}
    for column in TABLES["roster"].columns:
        if column.format not in _SEED_FORMATS or column.name not in roster.column_names:
            continue
        values = pc.unique(roster.column(column.name).cast(pa.string()).combine_chunks().drop_null())
        if 0 < len(values) <= MAX_SEED_VALUES:
            seeds[column.format] = Seed(values, _fingerprint(values))
    return seeds


def _fingerprint(values: pa.Array) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for buffer in values.buffers():
        if buffer is not None:
            digest.update(memoryview(buffer))
    return digest.hexdigest()


def seeds_for(table: str, seeds: Mapping[str, Seed]) -> dict[str, Seed]:
    """The seeds of ``table``'s code columns, by the column's name as the partition stage
    reads it (its source name)."""
    return {
        c.source_name: seeds[c.format]
        for c in TABLES[table].columns
        if c.coded and c.format is not None and c.format in seeds
    }


def declared_seeds(schema: pa.Schema) -> dict[str, str]:
    """The columns a piece's schema declares seeded, with their declarations."""
    raw = (schema.metadata or {}).get(SEEDED_KEY, b"").decode()
    return dict(item.split("=", 1) for item in raw.split(",") if item)


def declaration(seeded: Mapping[str, str]) -> bytes:
    return ",".join(f"{name}={value}" for name, value in sorted(seeded.items())).encode()


def join_prefixed(chunks: Sequence[pa.DictionaryArray], shared: int) -> pa.DictionaryArray:
    """One array over a dictionary whose first ``shared`` values every chunk's dictionary
    starts with: those values once, then each chunk's own values after them, laid end to end.
    A chunk's index below ``shared`` is kept; one above is moved by where its tail lands
    (nulls stay null).  With ``shared`` 0 the dictionaries are simply laid end to end, each
    chunk's indices shifted by the lengths of the dictionaries before its own."""
    tails, indices, end = [], [], shared
    for chunk in chunks:
        tail = chunk.dictionary.slice(shared)
        moved = chunk.indices
        if len(tail) and end != shared:
            shifted = pc.add(moved, pa.scalar(end - shared, moved.type))
            if shared:  # indices into the shared prefix stay
                shifted = pc.if_else(pc.less(moved, pa.scalar(shared, moved.type)), moved, shifted)
            moved = shifted
        tails.append(tail)
        indices.append(moved)
        end += len(tail)
    dictionary = pa.concat_arrays([chunks[0].dictionary.slice(0, shared), *tails])
    # Every index is below its chunk's dictionary length, so it lands within ``dictionary``.
    return pa.DictionaryArray.from_arrays(pa.concat_arrays(indices), dictionary, safe=False)

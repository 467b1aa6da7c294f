"""Input readers: find the files of an input location and read them as raw canonical tables.

A *location* is a file, a folder (searched recursively for ``*.parquet``, ``*.pq``, ``*.csv``
and ``*.csv.gz``; names starting with ``.`` or ``_`` are skipped, as Spark's ``_SUCCESS`` is),
or a glob (``*``, ``?``, ``[...]`` within one path segment, ``**`` for any number of segments),
local or behind a URI that :func:`pyarrow.fs.FileSystem.from_uri` understands (``s3://``,
``gs://``, ``file://``).  Files are listed in sorted order of their recorded path, so a job's
result never depends on the order a file system lists them.  A location that matches no file
raises :class:`MissingInputError`.

Reading yields *raw* tables: the columns a table needs, renamed to their canonical source
names (``paid_amount``, not ``paid_cents``), still holding the values as the file stores them,
plus the provenance columns ``_source_file`` and ``_row_number`` (1-based record index within
the file, header not counted).  Parsing values strictly is :mod:`settle.engine.validate`'s job.

* CSV: every column is read as a string, so leading zeros survive (``00123`` stays
  ``00123``); the file must be UTF-8 with a header row, and fields must not contain line
  breaks.
* Parquet: typed columns are accepted where they can be converted: dates as ``date32``,
  ``date64``, ``timestamp`` or string; money as decimal, integer, float or string; ids as
  string or integer (an integer id is turned into its decimal string: leading zeros are
  already lost in such files).  Dictionary-encoded and binary columns are decoded.
* Column names: the job's ``column_map`` renames a file's columns first (source -> canonical
  source name, or canonical name); then each canonical column is found by its exact name,
  then by a case-insensitive match, then by an alias (``employer_id`` -> ``group_id``).
  Extra columns are ignored, except declared stratifiers of ``eligibility``.
* Hive partition folders (``group_id=G1/``) supply a column the files lack.

A file lacking a required column, holding a column of a type that cannot be converted (a list
or struct where a date belongs), or that is not valid Parquet/CSV raises
:class:`InputFileError` naming the file, the table and the columns.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from settle.engine.errors import InputFileError, MissingInputError
from settle.engine.schemas import PROVENANCE_FIELDS, TABLES, Column, TableSpec

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "InputFile",
    "iter_file",
    "iter_tables",
    "list_input_files",
    "parquet_row_groups",
    "read_table",
]

DEFAULT_BATCH_ROWS = 1_000_000
_CODE_TYPE = pa.dictionary(pa.int32(), pa.string())  # a code column kept as read (keep_codes)
_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
_GLOB_CHARS = frozenset("*?[")
_CSV_BLOCK_BYTES = 64 << 20

# Besides its required columns, a file must hold at least one group of these (all of a group).
_ONE_OF: dict[str, tuple[tuple[str, ...], ...]] = {
    "medical_claim": (("rendering_npi",), ("rendering_tin",), ("billing_tin",), ("billing_npi",)),
    "quality": (("measure_id", "score"), ("quality_score",)),
}


@dataclass(frozen=True)
class InputFile:
    """One file of an input location.

    ``display`` is what provenance records (``_source_file``): the absolute local path, or the
    URI for object stores.  ``partitions`` are the ``key=value`` folder names between the
    location's root and the file.
    """

    display: str
    path: str
    format: Literal["parquet", "csv"]
    filesystem: pafs.FileSystem
    partitions: tuple[tuple[str, str | None], ...] = ()


# --- listing ------------------------------------------------------------------------------


def list_input_files(locations: str | Sequence[str]) -> list[InputFile]:
    """Every file of one or more locations, deduplicated, sorted by recorded path."""
    items = [locations] if isinstance(locations, str) else list(locations)
    found: dict[str, InputFile] = {}
    for location in items:
        for f in _list_location(location):
            found.setdefault(f.display, f)
    return [found[k] for k in sorted(found)]


def _list_location(location: str) -> list[InputFile]:
    fs, path, prefix = _filesystem(location)
    try:
        if any(ch in _GLOB_CHARS for ch in path):
            files = _glob(fs, path, prefix)
        else:
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.File:
                folders = path.split("/")[:-1]
                files = [InputFile(prefix + path, path, _format_of(fs, path), fs, _partitions(folders))]
            elif info.type == pafs.FileType.Directory:
                files = _walk(fs, path, prefix)
            else:
                files = []
    except OSError as exc:
        raise InputFileError(f"{location}: cannot list the input location: {exc}", path=location) from exc
    if not files:
        raise MissingInputError(
            f"{location}: no Parquet or CSV file found at this input location", path=location
        )
    return files


def _filesystem(location: str) -> tuple[pafs.FileSystem, str, str]:
    """(file system, path within it, prefix that turns a path back into what we record)."""
    if "://" in location:
        try:
            fs, path = pafs.FileSystem.from_uri(location)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as exc:
            raise InputFileError(f"{location}: unsupported or unreachable URI: {exc}", path=location) from exc
        scheme = location.split("://", 1)[0]
        return fs, path, f"{scheme}://"
    path = os.path.abspath(location).replace(os.sep, "/")
    return pafs.LocalFileSystem(), path, ""


def _walk(
    fs: pafs.FileSystem, root: str, prefix: str, keep: Callable[[list[str]], bool] | None = None
) -> list[InputFile]:
    """Data files under ``root`` (hidden and non-data files skipped) that ``keep`` accepts."""
    root = root.rstrip("/")
    out = []
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        rel = info.path[len(root) :].lstrip("/").split("/")
        lower = info.path.lower()
        if any(part.startswith((".", "_")) for part in rel) or not lower.endswith(_SUFFIXES):
            continue
        if keep is not None and not keep(rel):
            continue
        fmt: Literal["parquet", "csv"] = "csv" if lower.endswith((".csv", ".csv.gz")) else "parquet"
        out.append(InputFile(prefix + info.path, info.path, fmt, fs, _partitions(rel[:-1])))
    return out


def _glob(fs: pafs.FileSystem, pattern: str, prefix: str) -> list[InputFile]:
    parts = pattern.split("/")
    fixed = 0
    while fixed < len(parts) and not any(ch in _GLOB_CHARS for ch in parts[fixed]):
        fixed += 1
    root = "/".join(parts[:fixed]) or "/"
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    rest = parts[fixed:]
    return _walk(fs, root, prefix, lambda rel: _match(rel, rest))


def _match(segments: list[str], pattern: list[str]) -> bool:
    """Match path segments against glob segments; ``**`` spans any number of segments."""
    if not pattern:
        return not segments
    if pattern[0] == "**":
        return any(_match(segments[i:], pattern[1:]) for i in range(len(segments) + 1))
    return (
        bool(segments) and fnmatch.fnmatchcase(segments[0], pattern[0]) and _match(segments[1:], pattern[1:])
    )


def _partitions(folders: list[str]) -> tuple[tuple[str, str | None], ...]:
    out = []
    for folder in folders:
        if "=" in folder:
            key, value = folder.split("=", 1)
            out.append((key, None if value == "__HIVE_DEFAULT_PARTITION__" else unquote(value)))
    return tuple(out)


def _format_of(fs: pafs.FileSystem, path: str) -> Literal["parquet", "csv"]:
    lower = path.lower()
    if lower.endswith((".parquet", ".pq", ".parq")):
        return "parquet"
    if lower.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    with fs.open_input_file(path) as f:
        magic = f.read(4)
    return "parquet" if magic == b"PAR1" else "csv"


# --- column plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Which file columns to read, and the canonical source name each becomes."""

    select: tuple[tuple[str, str], ...]  # (file column, target name)
    constants: tuple[tuple[str, str | None], ...]  # (target name, value) from partition folders


def _targets(spec: TableSpec, stratifiers: Sequence[str]) -> dict[str, Column | None]:
    """Every name a file column may become: canonical source names, plus stratifiers."""
    out: dict[str, Column | None] = {c.source_name: c for c in spec.columns}
    for s in stratifiers:
        out.setdefault(s, None)
    return out


def _plan(
    file: InputFile,
    names: Sequence[str],
    table: str,
    column_map: Mapping[str, str],
    stratifiers: Sequence[str],
) -> _Plan:
    spec = TABLES[table]
    targets = _targets(spec, stratifiers)
    canonical_to_source = {c.name: c.source_name for c in spec.columns}
    mapped = [canonical_to_source.get(column_map.get(n, n), column_map.get(n, n)) for n in names]
    chosen: dict[str, str] = {}
    # Exact names first, then case-insensitive names, then aliases: the first match wins.
    lower = {t.lower(): t for t in targets}
    aliases = {a.lower(): c.source_name for c in spec.columns for a in c.aliases}
    for resolve in (
        lambda n: n if n in targets else None,
        lambda n: lower.get(n.strip().lower()),
        lambda n: aliases.get(n.strip().lower()),
    ):
        for file_name, name in zip(names, mapped, strict=True):
            target = resolve(name)
            if target is not None and target not in chosen and file_name not in chosen.values():
                chosen[target] = file_name
    constants = tuple(
        (target, value)
        for key, value in file.partitions
        if (target := lower.get(key.lower()) or aliases.get(key.lower())) and target not in chosen
    )
    present = set(chosen) | {t for t, _ in constants}
    missing = [c.source_name for c in spec.required if c.source_name not in present]
    missing += [s for s in stratifiers if s not in present]
    groups = _ONE_OF.get(table, ())
    if groups and not any(all(c in present for c in g) for g in groups):
        missing.append(" or ".join("+".join(g) for g in groups))
    if missing:
        found = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
        raise InputFileError(
            f"{file.display}: not a valid {table} file: missing required column(s) "
            f"{', '.join(missing)} (columns found: {found or 'none'}).",
            path=file.display,
            table=table,
            columns=tuple(missing),
        )
    return _Plan(tuple((chosen[t], t) for t in targets if t in chosen), constants)


def _check_types(
    file: InputFile, schema: pa.Schema, plan: _Plan, table: str, stratifiers: Sequence[str]
) -> None:
    targets = _targets(TABLES[table], stratifiers)
    bad = []
    for file_name, target in plan.select:
        col = targets[target]
        typ = schema.field(file_name).type
        if not _convertible(col.kind if col else "text", typ):
            bad.append(f"{file_name} ({typ})")
    if bad:
        raise InputFileError(
            f"{file.display}: not a valid {table} file: column(s) of a type that cannot be "
            f"converted: {', '.join(bad)}.",
            path=file.display,
            table=table,
            columns=tuple(b.split(" ", 1)[0] for b in bad),
        )


def _convertible(kind: str, typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    t = pa.types
    if t.is_null(typ) or t.is_string(typ) or t.is_large_string(typ) or t.is_string_view(typ):
        return True
    if t.is_binary(typ) or t.is_large_binary(typ):
        return True
    number = bool(t.is_integer(typ) or t.is_floating(typ) or t.is_decimal(typ))
    allowed: dict[str, bool] = {
        "id": bool(t.is_integer(typ) or t.is_floating(typ)),
        "text": bool(number or t.is_boolean(typ) or t.is_temporal(typ)),
        "date": bool(t.is_date(typ) or t.is_timestamp(typ)),
        "money": number,
        "int": number,
        "float": number,
        "bool": bool(t.is_boolean(typ) or t.is_integer(typ)),
    }
    return allowed.get(kind, False)


# --- reading ------------------------------------------------------------------------------


def iter_file(
    file: InputFile,
    table: str,
    *,
    column_map: Mapping[str, str] | None = None,
    stratifiers: Sequence[str] = (),
    batch_rows: int = DEFAULT_BATCH_ROWS,
    row_groups: tuple[int, int] | None = None,
    keep_codes: bool = False,
) -> Iterator[pa.Table]:
    """Yield the raw rows of one file in batches (at least one batch, possibly empty).

    ``row_groups``: only the Parquet row groups ``[start, stop)`` of the file (so several
    tasks can share one big file); the provenance row numbers stay those of the whole file.

    ``keep_codes``: a Parquet file's text columns of codes and labels (``Column.coded``) come
    as ``dictionary<int32, string>`` arrays read from the file's dictionary pages, never
    expanded to one string per row.  The partition stage moves, spills and reads back 4-byte
    indices instead of the text (3.1 M claim lines, one thread, best of 3, with one dictionary
    per column for the task: 16 partitions uncompressed 1.60 -> 1.40 s, spill 179 -> 124 bytes
    a line; 128 partitions LZ4 3.02 -> 2.51 s, 76 -> 45 bytes); validation checks such a
    column as the text it stands for (``check_rows_frame``).  CSV cells always come as text."""
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}")
    if row_groups is not None and file.format != "parquet":
        raise ValueError("row_groups applies to Parquet files only")
    strat = tuple(stratifiers) if table == "eligibility" else ()
    offset = 0
    try:
        if file.format == "parquet":
            batches, offset = _iter_parquet(
                file, table, dict(column_map or {}), strat, batch_rows, row_groups, keep_codes
            )
        else:
            batches = _iter_csv(file, table, dict(column_map or {}), strat, batch_rows)
        for batch in batches:
            yield _with_provenance(batch, file.display, offset)
            offset += batch.num_rows
    except InputFileError:
        raise
    except (pa.ArrowException, pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InputFileError(
            f"{file.display}: cannot be read as {file.format.upper()} for the {table} table: "
            f"{_problem(exc, file.format)}.",
            path=file.display,
            table=table,
        ) from exc


def iter_tables(
    locations: str | Sequence[str],
    table: str,
    *,
    column_map: Mapping[str, str] | None = None,
    stratifiers: Sequence[str] = (),
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[tuple[InputFile, Iterator[pa.Table]]]:
    """Yield (file, its raw batches) for every file of the locations, in sorted order."""
    for f in list_input_files(locations):
        yield f, iter_file(f, table, column_map=column_map, stratifiers=stratifiers, batch_rows=batch_rows)


def read_table(
    locations: str | Sequence[str],
    table: str,
    *,
    column_map: Mapping[str, str] | None = None,
    stratifiers: Sequence[str] = (),
) -> pa.Table:
    """All raw rows of the locations in one table.  A column whose type differs between files
    is held as text (exactly: dates as ISO strings, decimals as written)."""
    parts = [
        b
        for _, batches in iter_tables(locations, table, column_map=column_map, stratifiers=stratifiers)
        for b in batches
    ]
    return concat_raw(parts)


def concat_raw(parts: Iterable[pa.Table]) -> pa.Table:
    """Concatenate raw tables; columns missing in some become null, mixed types become text."""
    tables = list(parts)
    types: dict[str, set[pa.DataType]] = {}
    for t in tables:
        for f in t.schema:
            types.setdefault(f.name, set()).add(f.type)
    unified: dict[str, pa.DataType] = {}
    for n, ts in types.items():
        non_null = ts - {pa.null()}
        unified[n] = next(iter(non_null)) if len(non_null) == 1 else (pa.string() if non_null else pa.null())
    out = []
    for t in tables:
        cols = [
            t[n].cast(unified[n]) if n in t.column_names else pa.nulls(t.num_rows, unified[n]) for n in types
        ]
        out.append(pa.table(cols, names=list(types)))
    return pa.concat_tables(out) if out else pa.table({})


def parquet_row_groups(file: InputFile) -> list[tuple[int, int]]:
    """(rows, compressed bytes) of each row group of a Parquet file, from its footer."""
    with file.filesystem.open_input_file(file.path) as handle:
        meta = pq.ParquetFile(handle).metadata
        return [
            (meta.row_group(i).num_rows, meta.row_group(i).total_byte_size)
            for i in range(meta.num_row_groups)
        ]


def _iter_parquet(
    file: InputFile,
    table: str,
    column_map: dict[str, str],
    strat: tuple[str, ...],
    batch_rows: int,
    row_groups: tuple[int, int] | None,
    keep_codes: bool = False,
) -> tuple[Iterator[pa.Table], int]:
    """The batches of the file (or of its row groups ``[start, stop)``) and the number of
    rows before the first of them.  The footer is read, and the types checked, right away."""
    handle = file.filesystem.open_input_file(file.path)
    try:
        pf = pq.ParquetFile(handle)
        schema = pf.schema_arrow
        plan = _plan(file, schema.names, table, column_map, strat)
        _check_types(file, schema, plan, table, strat)
        meta = pf.metadata
        start, stop = row_groups if row_groups is not None else (0, meta.num_row_groups)
        offset = sum(meta.row_group(i).num_rows for i in range(start))
    except BaseException:
        handle.close()
        raise

    columns = [f for f, _ in plan.select]
    codes = _code_columns(schema, plan, table, strat) if keep_codes else frozenset()
    if codes:
        # Read the code columns' dictionary pages as Arrow dictionaries (pyarrow's reader;
        # Polars' would expand them to strings).
        pf = pq.ParquetFile(handle, read_dictionary=sorted(codes), metadata=meta)
    # Polars decodes the columns that are not codes (all of them, without codes); pyarrow the
    # code columns, as dictionaries, from the same row groups (see _read_hybrid).
    decoded = [c for c in columns if c not in codes]
    by_polars = bool(decoded) and _polars_decodes(file, schema, decoded)

    def batches() -> Iterator[pa.Table]:
        with handle:
            produced = False
            if stop > start and by_polars:
                for g0, g1, first, rows in _row_group_spans(meta, start, stop, offset, batch_rows):
                    if codes:
                        raw = _read_hybrid(file.path, pf, columns, codes, (g0, g1), first, rows)
                    else:
                        raw = _read_with_polars(file.path, columns, first, rows)
                    run = _shape(raw, plan, codes)
                    for at in range(0, rows, batch_rows):  # zero-copy slices of batch_rows
                        produced = True
                        yield run.slice(at, batch_rows)
            elif stop > start:
                for batch in pf.iter_batches(
                    batch_size=batch_rows, columns=columns, row_groups=range(start, stop)
                ):
                    produced = True
                    yield _shape(pa.Table.from_batches([batch]), plan, codes)
            if not produced:
                yield _shape(schema.empty_table().select(columns), plan)

    return batches(), offset


def _code_columns(schema: pa.Schema, plan: _Plan, table: str, strat: tuple[str, ...]) -> frozenset[str]:
    """The file's text columns that hold a coded canonical column (``Column.coded``)."""
    targets = _targets(TABLES[table], strat)
    return frozenset(
        file_name
        for file_name, target in plan.select
        if (column := targets[target]) is not None
        and column.coded
        and (pa.types.is_string(typ := schema.field(file_name).type) or pa.types.is_large_string(typ))
    )


def _polars_decodes(file: InputFile, schema: pa.Schema, columns: Sequence[str]) -> bool:
    """Whether Polars' Parquet reader decodes the file's columns: a local file whose columns
    are all text, integers, floats, booleans, ``date32`` or ``decimal128``, the types it hands
    back to Arrow as pyarrow reads them (text as ``large_string``, which :func:`_shape` casts
    like any other).  Single-threaded it decodes about twice as fast as pyarrow's reader (2.36 M
    claim lines: 0.46 s + 0.33 s to Arrow, against 1.1-1.4 s); other files go through pyarrow.
    With codes kept, it is asked about the columns that are not codes (see :func:`_read_hybrid`)."""
    if not isinstance(file.filesystem, pafs.LocalFileSystem):
        return False
    t = pa.types
    return all(
        t.is_string(typ)
        or t.is_large_string(typ)
        or t.is_integer(typ)
        or t.is_float32(typ)
        or t.is_float64(typ)
        or t.is_boolean(typ)
        or t.is_date32(typ)
        or t.is_decimal128(typ)
        for typ in (schema.field(c).type for c in columns)
    )


def _row_group_spans(
    meta: pq.FileMetaData, start: int, stop: int, offset: int, batch_rows: int
) -> Iterator[tuple[int, int, int, int]]:
    """(first group, stop group, first row, rows) of consecutive row groups ``[start, stop)``
    joined to at least ``batch_rows`` rows (a row group is never cut; the last run may be
    shorter)."""
    group, first, rows = start, offset, 0
    for i in range(start, stop):
        rows += meta.row_group(i).num_rows
        if rows >= batch_rows:
            yield group, i + 1, first, rows
            group, first, rows = i + 1, first + rows, 0
    if rows:
        yield group, stop, first, rows


def _read_hybrid(
    path: str,
    pf: pq.ParquetFile,
    columns: Sequence[str],
    codes: frozenset[str],
    groups: tuple[int, int],
    first: int,
    rows: int,
) -> pa.Table:
    """Rows ``[first, first + rows)`` (row groups ``groups``) of ``columns``: the code columns
    as dictionaries by pyarrow's reader (``pf`` opened with ``read_dictionary``), the rest by
    Polars'.  Polars decodes Parquet's fixed-width decimals about six times as fast as pyarrow
    (2.36 M claim lines, one thread, both amounts: 0.04 s against 0.22 s; text 0.15 against
    0.18 s), which pyarrow's reader does one value at a time; pyarrow alone keeps the
    dictionary pages (Polars would expand them to one string per row)."""
    rest = _read_with_polars(path, [c for c in columns if c not in codes], first, rows)
    coded = pa.Table.from_batches(
        list(
            pf.iter_batches(
                batch_size=rows, columns=sorted(codes), row_groups=range(*groups), use_threads=False
            )
        )
    )
    if coded.num_rows != rows or rest.num_rows != rows:
        raise pa.ArrowInvalid(
            f"row groups {groups[0]}..{groups[1] - 1} read as {coded.num_rows} and "
            f"{rest.num_rows} rows, not {rows}"
        )
    return pa.table({c: coded[c] if c in codes else rest[c] for c in columns})


def _read_with_polars(path: str, columns: Sequence[str], first: int, rows: int) -> pa.Table:
    """Rows ``[first, first + rows)`` of ``columns`` of a local Parquet file (Polars reads only
    the row groups the range touches)."""
    frame = (
        pl.scan_parquet(path, hive_partitioning=False)
        .select([pl.col(c) for c in columns])
        .slice(first, rows)
        .collect()
    )
    return frame.to_arrow()


def _iter_csv(
    file: InputFile, table: str, column_map: dict[str, str], strat: tuple[str, ...], batch_rows: int
) -> Iterator[pa.Table]:
    names = _csv_header(file)
    plan = _plan(file, names, table, column_map, strat)
    columns = [f for f, _ in plan.select]
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), include_columns=columns, strings_can_be_null=False
    )
    stream = file.filesystem.open_input_stream(file.path, compression="detect")
    with pacsv.open_csv(
        stream, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES), convert_options=convert
    ) as reader:
        produced = False
        for batch in reader:
            produced = True
            yield _shape(pa.Table.from_batches([batch]), plan)
        if not produced:
            yield _shape(pa.schema([(c, pa.string()) for c in columns]).empty_table(), plan)


def _csv_header(file: InputFile) -> list[str]:
    with file.filesystem.open_input_stream(file.path, compression="detect") as stream:
        head = stream.read(1 << 20)
    text = head.decode("utf-8", errors="strict" if len(head) < (1 << 20) else "ignore").lstrip("\ufeff")
    row = next(csv.reader(io.StringIO(text)), None)
    if not row or not any(c.strip() for c in row):
        raise InputFileError(f"{file.display}: not a CSV file with a header row", path=file.display)
    if len(set(row)) != len(row):
        dup = sorted({c for c in row if row.count(c) > 1})
        raise InputFileError(
            f"{file.display}: the header names column(s) {', '.join(dup)} more than once",
            path=file.display,
            columns=tuple(dup),
        )
    return row


def _shape(raw: pa.Table, plan: _Plan, codes: frozenset[str] = frozenset()) -> pa.Table:
    """Rename to target names, decode dictionaries (but those of ``codes`` with string values)
    and binary, add partition constants."""
    cols: dict[str, pa.ChunkedArray | pa.Array] = {}
    for file_name, target in plan.select:
        col = raw[file_name]
        typ = col.type
        if file_name in codes and typ == _CODE_TYPE:
            cols[target] = col
            continue
        if pa.types.is_dictionary(typ):
            col = col.cast(typ.value_type)
            typ = typ.value_type
        if (
            pa.types.is_large_string(typ)
            or pa.types.is_string_view(typ)
            or pa.types.is_binary(typ)
            or pa.types.is_large_binary(typ)
        ):
            col = col.cast(pa.string())
        cols[target] = col
    for target, value in plan.constants:
        cols[target] = (
            pa.nulls(raw.num_rows, pa.string()).fill_null(value)
            if value is not None
            else pa.nulls(raw.num_rows, pa.string())
        )
    return pa.table(cols)


def _with_provenance(batch: pa.Table, display: str, offset: int) -> pa.Table:
    """``batch`` with the file and row of each row; without the file's schema metadata, so that
    no input can carry a key that Settle's own intermediate files use to say what was checked
    (``settle.prechecked``, ``settle.canonical``)."""
    batch = batch.replace_schema_metadata(None)
    n = batch.num_rows
    source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([display]))
    rows = pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
    return batch.append_column(PROVENANCE_FIELDS[0], source).append_column(PROVENANCE_FIELDS[1], rows)


def _problem(exc: BaseException, fmt: str) -> str:
    """A short description of a reader failure, without quoting file content."""
    msg = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in msg or "UTF-8" in msg:
        return "it is not UTF-8 text"
    if "Expected" in msg and "columns" in msg:
        head = msg.split(":", 2)
        counts = head[1].strip() if len(head) > 1 else ""
        return f"a row has the wrong number of columns ({counts.lower()})" if counts else "a ragged row"
    if "magic bytes" in msg or "Parquet" in msg:
        return "it is not a valid Parquet file"
    if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException):
        return exc.strerror or type(exc).__name__
    # Arrow's CSV messages may quote a row; say only what kind of file it is not.
    return f"it is not a valid {'CSV' if fmt == 'csv' else 'Parquet'} file"

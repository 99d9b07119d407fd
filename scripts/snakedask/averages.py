"""Average every numeric column of a large CSV per group, on the configured Dask cluster.

The answer is pandas' ``pd.read_csv(path, **read_options).groupby(key).mean(numeric_only=True)``
(and ``count()``/``size()`` for counts.csv), sorted by the key, computed without
holding the table: the file is cut into blocks of whole records, each block's
per-group sums and counts come from one Dask task (:func:`csv_blocks.group_sums`),
and the partial sums are added up and divided here.

pandas types a column from all its values; a block sees only its own. So each
block reports every column's kind, and a column is averaged only if pandas,
reading the whole file, would make it numeric or bool
(:func:`csv_blocks.column_kind`): a column that is numeric for a million rows
and holds ``"n.d."`` further down is text to pandas, and left out here too,
with a warning that names the value. A key column that is numeric in some
blocks and text in others is grouped by its text, as pandas does (a second pass).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
from dask.utils import parse_bytes

from snakedask.cluster import compute_logged, map_sending_data
from snakedask.csv_blocks import (
    BOOL,
    BOOL_WITH_MISSING,
    EMPTY,
    NO_ROWS,
    NUMBER,
    PLAIN_NUMBER,
    TEXT,
    CsvFormat,
    block_bytes,
    column_kind,
    group_sums,
    plan_blocks,
)
from snakedask.csv_records import record_offsets
from snakedask.errors import TableError
from snakedask.object_storage import object_size, open_binary
from snakedask.table_header import check_header, field_names

log = logging.getLogger("workflow.averages")

# More blocks than this and the per-task overhead outweighs the parsing (a small-file blocksize kept for a big file).
MANY_BLOCKS = 1000
# read_csv options a table entry may set: they change parsing, never what is read.
SAFE_READ_OPTIONS = ("sep", "decimal", "na_values", "comment", "quotechar", "thousands")


# A number as loggers and spreadsheets write it, perhaps with a decimal comma or a detection-limit sign.
_NUMBER_LIKE = re.compile(r"^\s*[<>~≤≥]?\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")


def numeric_looking_text(
    path: str | Path, encoding: str, read_options: dict[str, Any] | None, text_columns: list[str]
) -> dict[str, list[str]]:
    """Text columns most of whose first values look like numbers (``<0.01``, ``0,25``): up to 3 examples each."""
    if not text_columns:
        return {}
    with open_binary(path) as source:
        head = pd.read_csv(
            source, encoding=encoding, nrows=1000, dtype=str, usecols=text_columns, **(read_options or {})
        )
    found = {}
    for column in text_columns:
        values = head[column].dropna()
        matches = values[values.str.match(_NUMBER_LIKE)]
        if len(values) and len(matches) >= 0.5 * len(values):
            odd = [v for v in values if not re.match(PLAIN_NUMBER, v, re.IGNORECASE)]
            found[column] = list(dict.fromkeys(odd or list(values)))[:3]
    return found


def chosen_columns(
    path: str | Path, wanted: list[str], numeric: list[str], looks_numeric: dict[str, list[str]]
) -> list[str]:
    """The table's `columns:` (found in the file: :func:`table_header.check_header`), each read as numbers."""
    for column in wanted:
        if column not in numeric:
            examples = looks_numeric.get(column)
            why = f"values such as {', '.join(repr(v) for v in examples)}" if examples else "text values"
            raise TableError(
                f"{path}: column {column!r} (from the table's `columns:`) is not numeric: {why}. Read it as numbers "
                "with the table's `read_options: {decimal: ...}`, `na_values:` or `dtype:`, or remove it from "
                "`columns:`."
            )
    return list(dict.fromkeys(wanted))


def _block_sums(
    fmt: CsvFormat,
    ranges: list[tuple[int, int]],
    key: str,
    values: list[str],
    key_as_text: bool,
    send_blocks: bool = False,
) -> list[dict[str, Any]]:
    """Every block's :func:`csv_blocks.group_sums`, computed by Dask (progress in the log).

    ``send_blocks``: this process reads each block and sends its bytes (workers that do not see the file).
    """
    if send_blocks:
        calls = [
            ((fmt, start, end, key, values, key_as_text), partial(block_bytes, fmt.path, start, end))
            for start, end in ranges
        ]
        return map_sending_data(group_sums, calls, "blocks")
    block_sums = dask.delayed(group_sums, pure=True)
    tasks = [block_sums(fmt, start, end, key, values, key_as_text) for start, end in ranges]
    return compute_logged(tasks, "blocks")


def _key_needs_text(parts: list[dict[str, Any]]) -> bool:
    """Whether pandas would read the key column as text: text in some block, or numbers beside True/False."""
    kinds = {BOOL if part["key"] == BOOL_WITH_MISSING else part["key"] for part in parts} - {EMPTY, NO_ROWS}
    # Integers beyond int64 (uint64 in their block) beside negative ones in another: pandas reads text.
    indexes = [part["sums"].index for part in parts if not part["sums"].empty]
    unsigned = any(index.dtype.kind == "u" for index in indexes)
    negative = any(index.dtype.kind == "i" and index.min() < 0 for index in indexes)
    return TEXT in kinds or len(kinds) > 1 or (unsigned and negative)


def _report_text(
    path: str | Path,
    encoding: str,
    read_options: dict[str, Any] | None,
    key: str,
    columns: list[str],
    text: list[str],
    wanted: list[str] | None,
) -> list[str]:
    """The ``columns`` to average: those not ``text``, or the table's ``columns:`` (refused if text).

    Without ``columns:``, text columns that look numeric (``<0.01``, ``0,25``) are a warning, the others news.
    """
    candidates = [name for name in columns if name not in text]
    looks_numeric = numeric_looking_text(path, encoding, read_options, text)
    if wanted:
        candidates = chosen_columns(path, wanted, candidates, looks_numeric)
    else:
        for column, examples in looks_numeric.items():
            log.warning(
                "%s: column %r looks numeric but is read as text (values such as %s), so it is left out of "
                "the averages. Set the table's `read_options: {decimal: ...}`, `na_values:` or `dtype:` to "
                "read it as numbers.",
                path,
                column,
                ", ".join(repr(v) for v in examples),
            )
        if other := [c for c in text if c not in looks_numeric]:
            log.info("%s: text columns, not averaged: %s", path, ", ".join(other))
    if not candidates:
        raise TableError(
            f"{path}: no numeric column to average besides {key!r} (text columns: {text}). "
            "Check `sep`/`decimal` or set `dtype:` for the table."
        )
    return candidates


def _late_text(
    path: str | Path, parts: list[dict[str, Any]], values: list[str], wanted: list[str] | None
) -> dict[str, str]:
    """The columns that hold text further down than the sample, each with a value that makes it text:
    refused if named in `columns:`, else reported."""
    late = {}
    for name in values:
        if column_kind([part["kinds"][name] for part in parts]) == TEXT:
            late[name] = next((part["examples"][name] for part in parts if name in part["examples"]), "")
    for name, example in late.items():
        why = (
            f"column {name!r} is numeric in the first rows but holds {example!r} further down (or True/False "
            "beside missing values), so pandas reads it as text"
        )
        if wanted:
            raise TableError(
                f"{path}: {why}, and the table's `columns:` names it. Mark such values missing with the "
                "table's `read_options: {na_values: [...]}`, or remove the column from `columns:`."
            )
        log.warning(
            "%s: %s and it is left out of the averages, as in pandas' mean(numeric_only=True). To average it, "
            "add such values to the table's `read_options: {na_values: [...]}`.",
            path,
            why,
        )
    return late


def _add_up(parts: list[dict[str, Any]], key: str, values: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Means and counts per group from the blocks' partial sums, with the key typed as pandas types it."""
    frames = [part["sums"] for part in parts if not part["sums"].empty]
    # Keys beyond int64 in some block (pandas: uint64 for the column): every block's keys as uint64
    # before they meet, which would otherwise make them float64 and round them.
    kinds = {frame.index.dtype.kind for frame in frames}
    unsigned = "u" in kinds and kinds <= {"i", "u"}
    if unsigned:
        frames = [frame.set_axis(frame.index.astype("uint64")) for frame in frames]
    columns = ["rows", *(f"{name}.sum" for name in values), *(f"{name}.count" for name in values)]
    if frames:
        stacked = pd.concat([frame.reindex(columns=columns) for frame in frames])
        totals = stacked.groupby(level=0).sum()
        for name in values:  # a block's inf + -inf is NaN, and so is pandas' mean; sum() would skip it
            undefined = (
                (stacked[f"{name}.sum"].isna() & (stacked[f"{name}.count"] > 0)).groupby(level=0).any()
            )
            # By alignment, not .loc: a True/False key's labels would be read as a mask.
            totals[f"{name}.sum"] = totals[f"{name}.sum"].mask(
                undefined.reindex(totals.index, fill_value=False)
            )
    else:
        totals = pd.DataFrame(columns=columns, dtype="float64")
    key_kinds = {part["key"] for part in parts} - {EMPTY, NO_ROWS}
    if key_kinds == {NUMBER}:  # pandas' int64 key: integers, never missing; else float64
        integer = all(part["key_integer"] for part in parts)
        totals.index = totals.index.astype(("uint64" if unsigned else "int64") if integer else "float64")
    elif key_kinds <= {BOOL, BOOL_WITH_MISSING}:
        totals.index = totals.index.astype(bool)  # with missing keys too: pandas infers bool
    totals = totals.rename_axis(key).sort_index()
    means = pd.DataFrame({name: totals[f"{name}.sum"] / totals[f"{name}.count"] for name in values})
    counted = pd.DataFrame(
        {"rows": totals["rows"], **{name: totals[f"{name}.count"] for name in values}}
    ).astype("int64")
    return means.rename_axis(key), counted.rename_axis(key)


def compute_averages(
    path: str | Path,
    encoding: str,
    key: str = "year",
    blocksize: str | int | None = "20MB",
    dtype: dict[str, str] | None = None,
    read_options: dict[str, Any] | None = None,
    engine: str = "pyarrow",
    records: dict[str, Any] | None = None,
    columns: list[str] | None = None,
    counts: bool = False,
    send_blocks: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Per-``key`` means of the numeric (and bool) columns of the CSV at ``path``, computed by Dask.

    ``engine``: ``"pyarrow"`` parses blocks with pyarrow (pandas for the rows it
    cannot read), ``"pandas"`` with ``pd.read_csv``; the numbers are the same.
    ``columns``: the columns to average (None: every numeric one). ``records``:
    the file's :func:`csv_records.record_offsets` (computed here if not given).
    ``counts``: also return, from the same pass, each group's ``rows`` and its
    non-missing values per averaged column. ``send_blocks``: the blocks are read here and sent to the
    workers, for workers that cannot read ``path`` (no shared filesystem).
    """
    unknown = set(read_options or {}) - set(SAFE_READ_OPTIONS)
    if unknown:
        raise TableError(
            f"read_csv options {sorted(unknown)} are not allowed; allowed: {list(SAFE_READ_OPTIONS)}"
        )
    float32 = []  # `dtype:` columns pandas averages to float32
    for column, spelled in (
        dtype or {}
    ).items():  # pandas' extension types (Int64, category) have no block sums
        if spelled not in ("str", "string", "object", "bool"):
            try:
                kind = np.dtype(spelled)
            except TypeError:
                raise TableError(
                    f"{path}: `dtype: {{{column}: {spelled}}}` is not a NumPy type. Use int64, float64, bool or "
                    "str (missing values make pandas read a column as float64 anyway)."
                ) from None
            # Complex numbers, dates and durations have no mean here; pandas cannot read a missing value
            # into float16 (it raises KeyError).
            if kind.kind in "cmMV" or kind == np.float16:
                raise TableError(
                    f"{path}: `dtype: {{{column}: {spelled}}}` cannot be averaged. Use an integer type, float32, "
                    "float64, bool or str, or leave the column's type to pandas (remove the entry)."
                )
            if kind == np.float32:
                float32.append(column)
    wanted = columns
    if records is None or records["size"] != object_size(path):  # none, or of another version
        options = read_options or {}
        records = record_offsets(path, encoding, options.get("quotechar", '"'), options.get("sep", ","))
    if not records["splittable"]:
        log.info("%s is read in one piece, not in blocks: %s", path, records["reason"])
    elif records["quoted_line_breaks"]:
        log.info(
            "%s: %d line breaks inside quoted fields; blocks start only between records",
            path,
            records["quoted_line_breaks"],
        )
    names = check_header(path, encoding, key, wanted, read_options)
    step = parse_bytes(blocksize) if isinstance(blocksize, str) else blocksize or parse_bytes("64MB")
    fields = field_names(path, encoding, read_options)
    fmt, ranges, sample = plan_blocks(path, encoding, fields, records, step, read_options, dtype, engine)
    if len(ranges) > MANY_BLOCKS:
        log.warning(
            "%s: `blocksize: %s` cuts this %d-byte file into %d blocks, one Dask task each: the scheduling "
            "costs more than the parsing. Set the table's `blocksize:` to 64MB or more (%s).",
            path,
            blocksize,
            records["size"],
            len(ranges),
            f"{records['size'] // MANY_BLOCKS + 1} bytes or more gives at most {MANY_BLOCKS} blocks",
        )
    others = [name for name in names if name != key]
    # Columns that are text in the first ~1 MB are text to pandas whatever follows: never parsed again.
    # pandas itself types the sample (pyarrow also reads "0x10" and 20-digit integers as numbers).
    # A file read in one piece has no sample: its one block says what is text.
    first = group_sums(replace(fmt, engine="pandas"), *sample, key, others) if sample else None
    text = [name for name in others if first and first["kinds"][name] == TEXT]
    candidates = _report_text(path, encoding, read_options, key, others, text, wanted)
    key_as_text = bool(first) and first["key"] == TEXT
    parts = _block_sums(fmt, ranges, key, candidates, key_as_text, send_blocks)
    if not key_as_text and _key_needs_text(parts):
        log.info(
            "%s: the %r column holds text, so its values are grouped as text (as pandas does)", path, key
        )
        parts = _block_sums(fmt, ranges, key, candidates, True, send_blocks)
    if first is None:  # one block: its text columns are simply text
        text = [name for name in candidates if column_kind([parts[0]["kinds"][name]]) == TEXT]
        candidates = _report_text(path, encoding, read_options, key, candidates, text, wanted)
    late = _late_text(path, parts, candidates, wanted)
    averaged = [name for name in candidates if name not in late]
    if not averaged:
        raise TableError(
            f"{path}: no numeric column to average besides {key!r}: pandas reads every other column as text "
            f"({', '.join(f'{name!r} holds {value!r}' for name, value in late.items())}). Mark such values "
            "missing with the table's `read_options: {na_values: [...]}`, or check `sep`/`decimal`."
        )
    if counts and "rows" in averaged:
        raise TableError(
            f"{path}: its column 'rows' would be averaged, but counts.csv's 'rows' column holds each "
            f"{key!r} group's number of rows. Leave it out with the table's `columns:` (the columns to "
            "average), or rename it in the file's header."
        )
    means, counted = _add_up(parts, key, averaged)
    for name in float32:  # pandas' mean of a float32 column is float32 too
        if name in means:
            means[name] = means[name].astype(np.float32)
    if means.empty:
        raise TableError(f"{path} has a header but no data rows with a {key!r} value to average.")
    return (means, counted) if counts else means

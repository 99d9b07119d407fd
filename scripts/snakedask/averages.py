"""Average every numeric column of a large CSV per group, with dask.dataframe.

As in the lesson: read the CSV in ``blocksize`` blocks, then
``groupby(key).mean(numeric_only=True)``, here computed on the configured Dask
cluster and written, sorted by the key, to ``averages.csv``.

With ``engine: pandas`` that is the lesson's code: ``dd.read_csv`` and a Dask
DataFrame groupby. The default ``pyarrow`` engine computes the same numbers
the way that groupby does (per-block sums and counts, added up, divided) but
in one pyarrow pass per block (:func:`csv_blocks.group_sums`): the block's
rows are never converted to pandas, only the columns averaged are parsed,
and the job does not import ``dask.dataframe`` (together about 1.5 s of a
10x table's 8 s).

Dask infers column types from the first block only; an integer column that
gains ``NA`` further down raises at compute time. ``assume_missing=True``
(read integer-looking columns as float) and per-column ``dtype`` overrides
from config keep that from happening.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import pandas as pd
import pyarrow as pa

from snakedask.csv_blocks import group_sums, plan_blocks, pyarrow_can_read, read_csv_blocks
from snakedask.csv_records import record_index
from snakedask.errors import TableError
from snakedask.table_header import check_header, ragged

if TYPE_CHECKING:
    import dask.dataframe as dd

log = logging.getLogger("workflow.averages")

# read_csv options a table entry may set: they change parsing, never what is read.
SAFE_READ_OPTIONS = ("sep", "decimal", "na_values", "comment", "quotechar", "thousands")


def read_table(
    path: str | Path,
    encoding: str,
    blocksize: str | int | None = "20MB",
    dtype: dict[str, str] | None = None,
    read_options: dict[str, Any] | None = None,
    engine: str = "pyarrow",
    columns: list[str] | None = None,
    records: dict[str, Any] | None = None,
) -> dd.DataFrame:
    """Lazily read the CSV in blocks; integer-looking columns come in as float (NA-safe).

    ``engine="pyarrow"`` parses blocks with pyarrow (see :mod:`csv_blocks`);
    ``"pandas"``, or options pyarrow lacks (``comment``, ``thousands``), use
    ``dask.dataframe.read_csv`` as the lesson does. Blocks start only where a
    record starts (``records``, the file's :func:`csv_records.record_index`);
    ``dask.dataframe.read_csv`` splits at any line break, so there a file
    with line breaks inside quoted fields, or that cannot be split, is read
    in one piece.
    """
    unknown = set(read_options or {}) - set(SAFE_READ_OPTIONS)
    if unknown:
        raise TableError(
            f"read_csv options {sorted(unknown)} are not allowed; allowed: {list(SAFE_READ_OPTIONS)}"
        )
    quotechar = (read_options or {}).get("quotechar", '"')
    records = records or record_index(path, encoding, quotechar)
    if engine == "pyarrow" and pyarrow_can_read(read_options):
        return read_csv_blocks(path, encoding, blocksize or "64MB", read_options, dtype, columns, records)
    if not records["splittable"] or records["quoted_line_breaks"]:
        blocksize = None
    import dask.dataframe as dd

    return dd.read_csv(
        # Absolute: workers of an existing cluster run in other folders (or on other nodes).
        Path(path).absolute(),
        blocksize=blocksize,
        encoding=encoding,
        dtype=dtype or None,
        assume_missing=True,
        usecols=columns,
        **(read_options or {}),
    )


# A number as loggers and spreadsheets write it, perhaps with a decimal comma or a detection-limit sign.
_NUMBER_LIKE = re.compile(r"^\s*[<>~≤≥]?\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")


def numeric_looking_text(
    path: str | Path, encoding: str, read_options: dict[str, Any] | None, text_columns: list[str]
) -> dict[str, list[str]]:
    """Text columns most of whose first values look like numbers (``<0.01``, ``0,25``): up to 3 examples each."""
    if not text_columns:
        return {}
    head = pd.read_csv(
        path, encoding=encoding, nrows=1000, dtype=str, usecols=text_columns, **(read_options or {})
    )
    found = {}
    for column in text_columns:
        values = head[column].dropna()
        matches = values[values.str.match(_NUMBER_LIKE)]
        if len(values) and len(matches) >= 0.5 * len(values):
            odd = [v for v in values if not _plain_number(v)]
            found[column] = list(dict.fromkeys(odd or list(values)))[:3]
    return found


def _plain_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


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


def group_means(frame: dd.DataFrame | pd.DataFrame, key: str):
    """``frame.groupby(key).mean(numeric_only=True)`` (lazy for a Dask frame)."""
    if not isinstance(frame, pd.DataFrame):
        # A handful of groups: a tree reduction, never a shuffle (which dask may pick for many blocks).
        # dropna: dask 2026.8 keeps a group of rows without a key in mean() unless told (count() drops it).
        return frame.groupby(key, dropna=True).mean(numeric_only=True, split_out=1)
    return frame.groupby(key).mean(numeric_only=True)


def group_counts(frame: dd.DataFrame | pd.DataFrame, key: str):
    """Per group: ``rows`` (every row with a key) and the non-missing values of each other column."""
    grouped = frame.groupby(key, dropna=True)
    if not isinstance(frame, pd.DataFrame):
        present, rows = grouped.count(split_out=1), grouped.size(split_out=1)
        return present.assign(rows=rows)
    return grouped.count().assign(rows=grouped.size())


def _means_from_block_sums(blocks, key: str, numeric: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Means and counts per group from every block's :func:`csv_blocks.group_sums`, computed by Dask."""
    parse = blocks.parse_args([key, *numeric])
    block_sums = dask.delayed(group_sums, pure=True)
    partials = dask.compute(*(block_sums(blocks.path, start, end, **parse) for start, end in blocks.ranges))
    totals = pd.concat(partials).groupby(key).sum()
    means = pd.DataFrame({name: totals[f"{name}.sum"] / totals[f"{name}.count"] for name in numeric})
    counted = pd.DataFrame({"rows": totals["rows"], **{name: totals[f"{name}.count"] for name in numeric}})
    return means, counted


def _tidy(result: pd.DataFrame, key: str) -> pd.DataFrame:
    """Sort by the key; give back integer keys that ``assume_missing`` made float."""
    index = result.index
    if pd.api.types.is_float_dtype(index) and len(index) and (index == index.round()).all():
        result.index = index.astype("int64")
    result.index.name = key
    return result.sort_index()


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
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Per-``key`` means of the numeric columns of the CSV at ``path`` (computed by Dask).

    ``columns``: the columns to average (None: every numeric one). ``records``:
    the file's :func:`csv_records.record_index` (computed here if not given).
    ``counts``: also return, from the same pass, each group's ``rows`` and its
    non-missing values per averaged column (:func:`group_counts`).
    """
    wanted = columns
    if records is None or records["size"] != Path(path).stat().st_size:  # none, or of another version
        records = record_index(path, encoding, (read_options or {}).get("quotechar", '"'))
    if not records["splittable"]:
        log.info("%s is read in one piece, not in blocks: %s", path, records["reason"])
    elif records["quoted_line_breaks"]:
        log.info(
            "%s: %d line breaks inside quoted fields; blocks start only between records",
            path,
            records["quoted_line_breaks"],
        )
    check_header(path, encoding, key, wanted, read_options)
    blocks = None
    if engine == "pyarrow" and pyarrow_can_read(read_options):
        blocks = plan_blocks(path, encoding, blocksize or "64MB", read_options, dtype, records)
        dtypes = blocks.meta().dtypes
    else:
        dtypes = read_table(path, encoding, blocksize, dtype, read_options, engine, records=records).dtypes
    numeric = [
        c
        for c, t in dtypes.items()
        if c != key and pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
    ]
    text = [c for c in dtypes.index if c != key and c not in numeric]
    looks_numeric = numeric_looking_text(path, encoding, read_options, text)
    if wanted:
        numeric = chosen_columns(path, wanted, numeric, looks_numeric)
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
    if not numeric:
        raise TableError(
            f"{path}: no numeric column to average besides {key!r} (columns and types: "
            f"{dict(dtypes.astype(str))}). Check `sep`/`decimal` or set `dtype:` for the table."
        )
    try:
        if blocks is not None:
            result, counted = _means_from_block_sums(blocks, key, numeric)
        else:
            # Read only what the averages need: the text columns are never converted.
            frame = read_table(
                path,
                encoding,
                blocksize,
                dtype,
                read_options,
                engine,
                columns=[key, *numeric],
                records=records,
            )
            if counts:
                result, counted = dask.compute(group_means(frame, key), group_counts(frame, key))
            else:
                result = group_means(frame, key).compute()
    except (ValueError, pa.ArrowInvalid) as err:
        if isinstance(err, pd.errors.ParserError) or "CSV parse error" in str(err):
            raise ragged(path, err) from None
        if not isinstance(err, pa.ArrowInvalid) and "Mismatched dtypes" not in str(err):
            raise
        raise TableError(
            f"{path}: a column changes type between blocks. Set its type under the table's "
            f"`dtype:` key in config (e.g. `dtype: {{column: float}}` or `str`). The parser said: {err}"
        ) from None
    if result.empty:
        raise TableError(f"{path} has a header but no data rows with a {key!r} value to average.")
    if counts:
        return _tidy(result, key), _tidy(counted, key).loc[:, ["rows", *result.columns]]
    return _tidy(result, key)

"""A table's header, checked against its config before any Dask job: the columns named must exist.

Light on purpose (pandas only): rule inspect_table calls :func:`check_header`
right after the download, so a misspelt `groupby:` or `columns:` entry stops
the run before a cluster starts; rule averages calls it again on its own input.
"""

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd

from snakedask.errors import TableError, closest
from snakedask.object_storage import open_binary


def ragged(path: str | Path, err: Exception, where: tuple[int, int] | None = None) -> TableError:
    """The error for rows with more fields than the header (``where``: the block's byte range)."""
    place = f" in bytes {where[0]}-{where[1]}" if where else ""
    return TableError(
        f"{path}: not every row has the same number of fields as the header, or a quote is never "
        f"closed{place} (pandas: {err}). Fix the file, or the table's `read_options` (`sep`, `quotechar`) "
        "if they do not match it."
    )


def did_you_mean(name: str, choices: list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest of ``choices``, or ``""``."""
    match = closest(name, choices)
    return f" Did you mean {match!r}?" if match else ""


def read_head(path: str | Path, encoding: str, read_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """The CSV's first rows as pandas reads them; clear errors for an empty file or one without data rows."""
    try:
        with open_binary(path) as source:
            head = pd.read_csv(source, encoding=encoding, nrows=5, **(read_options or {}))
    except pd.errors.EmptyDataError:
        raise TableError(
            f"{path} is empty: it has no header line. Check the download or the table's `url`."
        ) from None
    except pd.errors.ParserError as err:
        raise ragged(path, err) from None
    if head.empty:
        raise TableError(
            f"{path} has a header but no data rows: {list(head.columns)}. Check the table's `url`."
        )
    return head


def read_header(path: str | Path, encoding: str, read_options: dict[str, Any] | None = None) -> list[str]:
    """Column names of the CSV, as pandas names them (``Unnamed: 0`` for an empty name, ``x.1`` for a repeat)."""
    return list(read_head(path, encoding, read_options).columns)


def field_names(path: str | Path, encoding: str, read_options: dict[str, Any] | None = None) -> list[str]:
    """A name for every field of a row, to parse rows without their header.

    The header's names, after a placeholder for each field pandas makes the
    row index: a header with fewer names than the rows have fields (R's
    ``write.table`` leaves out the row names' column) puts the first fields
    in the index, never among the columns averaged.
    """
    names = read_header(path, encoding, read_options)
    options = read_options or {}
    sep, comment = options.get("sep", ","), options.get("comment")
    if len(sep) != 1:
        return names  # a regular expression: pandas' python engine, which has no implicit index
    with io.TextIOWrapper(open_binary(path), encoding=encoding, errors="replace", newline="") as stream:
        rows = csv.reader(stream, delimiter=sep, quotechar=options.get("quotechar", '"'))
        # The header and the first data row, past the blank and comment lines pandas skips.
        lengths = []
        for row in rows:
            if any(field.strip() for field in row) and not (comment and row[0].startswith(comment)):
                lengths.append(len(row))
            if len(lengths) == 2:
                break
    extra = lengths[1] - lengths[0] if len(lengths) == 2 else 0
    return [f"<row index {level}>" for level in range(extra)] + names


def check_header(
    path: str | Path,
    encoding: str,
    key: str,
    columns: list[str] | None = None,
    read_options: dict[str, Any] | None = None,
) -> list[str]:
    """The file's columns, once the ``groupby`` key and each of ``columns`` are found among them
    (the key itself not among ``columns``). Whether ``columns`` are numeric is checked where the
    types are known (:func:`averages.chosen_columns`)."""
    found = read_header(path, encoding, read_options)
    if key not in found:
        # A name outside ASCII that is not there: most often the file read in the wrong encoding.
        garbled = (
            ""
            if key.isascii()
            else f" The file was read as {encoding}: if the names above look garbled, set the table's `encoding:`."
        )
        raise TableError(
            f"{path} has no column {key!r} to group by; columns found: {found}."
            + did_you_mean(key, found)
            + " Set the table's `groupby:` to one of them."
            + garbled
        )
    if key in (columns or []):
        raise TableError(
            f"{path}: the table's `columns:` lists {key!r}, the column it is grouped by (`groupby:`); "
            "the groups' own values are the index of averages.csv. Remove it from `columns:`."
        )
    for column in columns or []:
        if column not in found:
            raise TableError(
                f"{path} has no column {column!r} (from the table's `columns:`); columns found: {found}."
                + did_you_mean(column, found)
            )
    return found

"""Parse a large CSV in byte-range blocks and sum each block's groups, as pandas reads the whole file.

Blocks start only where a record starts outside quotes (:mod:`csv_records`),
so a quoted field may hold line breaks; a file that cannot be split safely
(quotes that do not pair up, UTF-16) is one block, header and all.

The answer must equal ``pd.read_csv(path).groupby(key).mean(numeric_only=True)``,
so a column is averaged exactly when pandas, reading the whole file, would
give it a numeric or bool dtype. Each block therefore reports every column's
*kind* as its own rows show it (:data:`NUMBER`, :data:`BOOL`, :data:`EMPTY`
or :data:`TEXT`) beside its per-group sums, and :func:`column_kind` combines
the blocks' kinds the way pandas combines a column's values: one text value
anywhere makes the column text, True/False with a missing value is text too.

Two parsers, one meaning. ``pyarrow`` (the default) parses a block in one C++
pass with pandas' NA and True/False spellings; a block it cannot read
(rows with fewer fields than the header, which pandas fills with NaN) goes to
pandas. ``pandas`` parses every block with ``pd.read_csv``. Either way a
block's result is a :class:`dict` from :func:`group_sums`.

Tasks call :func:`group_sums` by reference: a cluster's workers must be able
to import this module (``cluster.ship_package`` sends it).
"""

from __future__ import annotations

import codecs
import io
import math
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from snakedask.csv_records import block_ranges, data_start
from snakedask.encoding import single_byte_codec
from snakedask.errors import TableError
from snakedask.object_storage import is_s3, pinned_version, read_range
from snakedask.table_header import ragged

# pandas' default NA markers, which R's write.csv ("NA") and most loggers use
# (tests/unit/test_csv_blocks.py checks that pandas reads each of them as missing).
NULL_VALUES = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
]
# pandas' bool spellings; pyarrow's own defaults also take "1"/"0", which pandas reads as numbers.
TRUE_VALUES = ["True", "TRUE", "true"]
FALSE_VALUES = ["False", "FALSE", "false"]
# read_csv options that pyarrow cannot honour: tables using them go through pandas.
PANDAS_ONLY_OPTIONS = ("comment", "thousands")
SAMPLE_BYTES = 1 << 20

# A column's kind in a block, and in the whole file (:func:`column_kind`).
NUMBER, BOOL, EMPTY, TEXT = "number", "bool", "empty", "text"
# The kind of every column of a block without a single data row (only blank or comment lines): it says nothing.
NO_ROWS = "no rows"
# A key of True/False with missing values: pandas reads an object column of bools and groups by them.
BOOL_WITH_MISSING = "bool with missing"


def pyarrow_can_read(read_options: dict[str, Any] | None) -> bool:
    """Whether pyarrow's parser honours every option (no comments or thousands; a separator, quote and
    decimal mark that are one ASCII character each: pyarrow takes no other)."""
    options = read_options or {}
    marks = [
        options.get(key, default) for key, default in (("sep", ","), ("quotechar", '"'), ("decimal", "."))
    ]
    plain = all(len(mark) == 1 and mark.isascii() for mark in marks)
    return not any(options.get(key) for key in PANDAS_ONLY_OPTIONS) and plain


def na_spellings(na_values: list[str]) -> list[str]:
    """The texts pandas reads as missing for ``na_values``: each as given, and a whole number also as
    ``"N"`` and ``"N.0"`` (``"-0.0"`` makes ``"0"`` missing too), as documented for ``read_csv``."""
    spellings = []
    for value in na_values:
        spellings.append(str(value))
        try:
            number = float(value)
            if number == int(number):
                spellings += [f"{int(number)}.0", str(int(number))]
        except (ValueError, OverflowError):  # not a number, or inf
            pass
    return list(dict.fromkeys(spellings))


def numeric_na_values(read_options: dict[str, Any] | None) -> list[float]:
    """The ``na_values`` that are numbers: pandas also reads their other spellings (``-9999.0``,
    ``-9.999e3`` for ``"-9999"``) as missing."""
    found = []
    for value in (read_options or {}).get("na_values", []):
        try:
            number = float(value)
        except ValueError:
            continue
        if not math.isnan(number):
            found.append(number)
    if 0.0 in found:  # pandas compares numbers: -0.0 is 0 (a value set would tell them apart)
        found += [0.0, -0.0]
    return found


def column_kind(kinds: list[str]) -> str:
    """A column's kind in the whole file from its kinds in the blocks, as pandas would type it.

    Numbers (and blocks where it is all missing) give float64: :data:`NUMBER`.
    True/False in every block and never missing give bool: :data:`BOOL`. Anything
    else is an object or string column pandas' ``mean(numeric_only=True)`` leaves out.
    """
    kinds = [kind for kind in kinds if kind != NO_ROWS]
    present = set(kinds) - {EMPTY}
    if present <= {NUMBER}:
        return NUMBER
    if present == {BOOL} and EMPTY not in kinds:
        return BOOL
    return TEXT


def _arrow_type(name: str) -> pa.DataType:
    """A ``dtype`` override from config (pandas spelling) as a pyarrow type."""
    if name in ("str", "string", "object"):
        return pa.string()
    return pa.from_numpy_dtype(np.dtype(name))


def _single_byte_ascii_superset(encoding: str) -> bool:
    """True for Latin-1, cp1252 and the like: one byte per character, ASCII unchanged."""
    return single_byte_codec(encoding) and bytes(range(128)).decode(encoding, errors="replace") == bytes(
        range(128)
    ).decode("ascii")


@dataclass(frozen=True)
class CsvFormat:
    """How to parse any block of one CSV (what every task gets); see :func:`plan_blocks`."""

    path: str
    encoding: str
    names: list[str]  # every column, named as pandas names them ("Unnamed: 0", "x.1")
    read_options: dict[str, Any]
    dtype: dict[str, str]  # config's `dtype:` overrides, pandas spelling
    engine: str  # "pyarrow" or "pandas"
    whole_file: bool  # one range, header included (a file that cannot be split)
    multiline: bool  # line breaks inside quoted fields
    version: str | None = None  # an s3:// object's ETag: every block is read from that version

    def overrides(self, columns: list[str]) -> dict[str, str]:
        return {name: spelled for name, spelled in self.dtype.items() if name in columns}

    def arrow_encoding(self, text_read: bool) -> str:
        """The encoding to hand pyarrow: skip its (slow) transcoding when no column is read as text.

        In a single-byte, ASCII-compatible file the numbers, separators and quotes
        are plain ASCII bytes, so they parse the same undecoded; a text column
        holding other bytes is inferred as binary, which is text all the same.
        UTF-8 with a BOM is UTF-8 (the BOM is in the header line; pyarrow skips it).
        """
        if codecs.lookup(self.encoding).name in ("utf-8", "utf-8-sig"):
            return "utf8"
        if not text_read and not self.whole_file and _single_byte_ascii_superset(self.encoding):
            return "utf8"
        return self.encoding


def hex_prefixes(encoding: str) -> list[bytes]:
    """``0x`` and ``0X`` as ``encoding`` writes them (both byte orders of UTF-16/32, no byte order mark)."""
    name = codecs.lookup(encoding).name
    if name in ("utf-16", "utf-32"):
        spellings = [f"{name}-le", f"{name}-be"]
    else:
        spellings = ["utf-8" if name == "utf-8-sig" else name]
    return [prefix.encode(spelled) for spelled in spellings for prefix in ("0x", "0X")]


def holds_hex_prefix(fmt: CsvFormat, start: int, end: int, data: bytes | None = None) -> bool:
    """Whether bytes ``[start, end)`` (``data``, else read where they lie, not copied) hold ``0x`` or
    ``0X``: pyarrow reads ``0x1F`` as the integer 31, pandas as text."""
    prefixes = hex_prefixes(fmt.encoding)
    if data is not None:
        return any(prefix in data for prefix in prefixes)
    with open(fmt.path, "rb") as stream:
        if end <= start or os.fstat(stream.fileno()).st_size == 0:
            return False
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            # An x at all first (memchr: a tenth of the time of a two-byte search), then the prefixes.
            if all(mapped.find(x, start, end) < 0 for x in {prefix[-1:] for prefix in prefixes}):
                return False
            return any(mapped.find(prefix, start, end) >= 0 for prefix in prefixes)


def block_bytes(path: str | Path, start: int, end: int, version: str | None = None) -> bytes:
    """Bytes ``[start, end)`` of a local file, or of version ``version`` of an ``s3://`` object."""
    if is_s3(str(path)):
        return read_range(str(path), start, end, version)
    with open(path, "rb") as stream:
        stream.seek(start)
        return stream.read(end - start)


def read_arrow(
    fmt: CsvFormat,
    start: int,
    end: int,
    columns: list[str],
    types: dict[str, pa.DataType],
    decode_text: bool = False,
    data: bytes | None = None,
) -> pa.Table:
    """Parse the records in bytes ``[start, end)`` into a pyarrow table of ``columns``.

    Columns in ``types`` get that type; the others are typed from this block's
    values alone. Text is decoded where ``types`` asks for it, or everywhere
    with ``decode_text`` (else undecoded text may come out as binary). Raises
    ``pa.ArrowInvalid`` for rows pyarrow cannot read. ``data``: those bytes,
    sent by the rule (workers that cannot read the file), else read from ``fmt.path``.
    """
    options = fmt.read_options
    long_rows = []

    def invalid_row(row: pacsv.InvalidRow) -> str:
        if row.actual_columns > row.expected_columns:  # pandas refuses it; a short row it fills with NaN
            long_rows.append(row)
        return "error"

    parse = pacsv.ParseOptions(
        delimiter=options.get("sep", ","),
        quote_char=options.get("quotechar", '"'),
        # Line breaks inside quoted fields; pyarrow parses faster when it knows there are none.
        newlines_in_values=fmt.multiline,
        invalid_row_handler=invalid_row,
    )
    convert = pacsv.ConvertOptions(
        null_values=NULL_VALUES + na_spellings(options.get("na_values", [])),
        true_values=TRUE_VALUES,
        false_values=FALSE_VALUES,
        strings_can_be_null=True,
        decimal_point=options.get("decimal", "."),
        include_columns=columns,
        column_types=types,
    )
    read = pacsv.ReadOptions(
        encoding=fmt.arrow_encoding(decode_text or any(pa.types.is_string(t) for t in types.values())),
        # One pyarrow block per range: pyarrow types a column from its first block only.
        block_size=min(max(end - start + 1, 1 << 20), (1 << 31) - 1),
        use_threads=False,  # one thread per block: Dask already runs a block per core
        column_names=fmt.names,
        skip_rows=1 if fmt.whole_file else 0,  # the header line; its names are pandas'
    )
    if data is None and is_s3(fmt.path):  # read in place: one ranged GET
        data = block_bytes(fmt.path, start, end, fmt.version)
    try:
        if data is not None:
            return pacsv.read_csv(pa.BufferReader(data), read, parse, convert)
        with pa.memory_map(fmt.path) as source:  # parsed where it lies in the page cache, no copy
            source.seek(start)
            return pacsv.read_csv(pa.BufferReader(source.read_buffer(end - start)), read, parse, convert)
    except pa.ArrowInvalid:
        if long_rows:
            raise long_row(fmt.path, long_rows[0].expected_columns, long_rows[0].text, (start, end)) from None
        raise


def long_row(path: str, fields: int, text: str, where: tuple[int, int]) -> TableError:
    """The error for a row with more fields than the header, which pandas refuses (its numbers would
    shift into other columns: an unquoted separator in a text field, most often)."""
    shown = text if len(text) <= 200 else text[:200] + "..."
    return TableError(
        f"{path}: a row has more fields than the header's {fields} (bytes {where[0]}-{where[1]}): {shown!r}. "
        "pandas refuses such a file. Quote the field that holds the separator, or fix the table's "
        "`read_options` (`sep`, `quotechar`) if they do not match the file."
    )


def read_pandas(
    fmt: CsvFormat,
    start: int,
    end: int,
    columns: list[str],
    dtype: dict[str, str],
    data: bytes | None = None,
) -> pd.DataFrame:
    """Parse the records in bytes ``[start, end)`` (``data``, else read from ``fmt.path``) with
    ``pd.read_csv`` (``columns`` only)."""
    if data is None:
        data = block_bytes(fmt.path, start, end, fmt.version)
    # A column more than the header has, and not usecols: pandas reads a row with an extra field
    # silently with usecols, and as an index column when it is the block's first; here it fills that
    # column (two extra fields: pandas' ParserError). index_col=False: never an index column. (A file
    # read in one piece has its header: there pandas itself raises ParserError for such a row.)
    names = fmt.names if fmt.whole_file else [*fmt.names, EXTRA_FIELD]

    def read(types: dict[str, str] | str | None) -> pd.DataFrame:
        return pd.read_csv(
            io.BytesIO(data),
            encoding=fmt.encoding,
            names=names,
            header=0 if fmt.whole_file else None,
            index_col=False,
            dtype=types,
            **fmt.read_options,
        )

    frame = read(dtype or None)
    if not fmt.whole_file and frame[EXTRA_FIELD].notna().any():
        as_text = read(str)  # the row as written, for the message
        values = as_text.iloc[int(frame[EXTRA_FIELD].notna().to_numpy().argmax())].tolist()
        row = (fmt.read_options.get("sep") or ",").join("" if pd.isna(v) else v for v in values)
        raise long_row(fmt.path, len(fmt.names), row, (start, end))
    return frame[columns]


EXTRA_FIELD = "\x00a field past the header's"


def read_frame(fmt: CsvFormat, start: int, end: int, columns: list[str]) -> pd.DataFrame:
    """The block's rows as a pandas frame, parsed by the table's engine (for tests and inspection)."""
    if fmt.engine == "pyarrow":
        types = {name: _arrow_type(spelled) for name, spelled in fmt.overrides(columns).items()}
        return read_arrow(fmt, start, end, columns, types, decode_text=True).to_pandas()
    return read_pandas(fmt, start, end, columns, fmt.overrides(columns))


# A number as pandas reads it (Python's float() also takes "NAN" and "1_000", which pandas reads as text).
PLAIN_NUMBER = r"^\s*[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity)\s*$"


def _arrow_example(column: pa.ChunkedArray) -> str:
    """A value showing why a column is text: the first that is not a number."""
    values = pc.drop_null(column)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        numbers = pc.match_substring_regex(values, PLAIN_NUMBER, ignore_case=True)
        odd = values.filter(pc.invert(numbers))
        return str(odd[0].as_py() if len(odd) else values[0].as_py())
    if pa.types.is_binary(values.type):  # text in another encoding than UTF-8, never a number
        return values[0].as_py().decode("utf-8", errors="replace")
    return str(values[0].as_py())  # dates, times


def _pandas_example(column: pd.Series) -> str:
    values = column.dropna().astype(str)
    odd = values[~values.str.match(PLAIN_NUMBER, case=False)]
    if not len(odd):  # numbers all: text because some integer is beyond int64 (a Python int to pandas)
        odd = values[values.str.len() >= 19]
    return str((odd if len(odd) else values).iloc[0])


def _arrow_kind(column: pa.ChunkedArray, typed: bool) -> str:
    """A column's kind in one block (``typed``: its type was set by `dtype:`, not read from the values)."""
    if column.null_count == len(column):
        return EMPTY
    if pa.types.is_integer(column.type):
        return NUMBER
    if pa.types.is_floating(column.type):
        # Every NA spelling pandas knows is already a null: a NaN here was written "NAN" or "Nan",
        # which pandas reads as text.
        return TEXT if not typed and pc.any(pc.is_nan(column)).as_py() else NUMBER
    if pa.types.is_boolean(column.type):
        return BOOL if column.null_count == 0 else TEXT  # pandas: True/False with NaN is object
    return TEXT


def _pandas_kind(column: pd.Series) -> str:
    if column.isna().all():
        return EMPTY
    if pd.api.types.is_bool_dtype(column):
        return BOOL
    return NUMBER if pd.api.types.is_numeric_dtype(column) else TEXT


def _empty_sums(key: str, values: list[str]) -> pd.DataFrame:
    names = ["rows", *(f"{name}.sum" for name in values), *(f"{name}.count" for name in values)]
    return pd.DataFrame(columns=names, dtype="float64").rename_axis(key)


def _arrow_sums(table: pa.Table, key: str, values: list[str], typed: set[str]) -> dict[str, Any]:
    kinds = {name: _arrow_kind(table[name], name in typed) for name in values}
    keys = table[key]
    key_kind = _arrow_kind(keys, key in typed)
    if pa.types.is_boolean(keys.type) and key_kind == TEXT:  # True/False with missing keys: grouped as bools
        key_kind = BOOL_WITH_MISSING
    result = {
        "kinds": kinds,
        "key": key_kind,
        "key_integer": pa.types.is_integer(keys.type) and keys.null_count == 0,
        "examples": {name: _arrow_example(table[name]) for name in values if kinds[name] == TEXT},
    }
    summed = [name for name in values if kinds[name] != TEXT]
    if key_kind == EMPTY:
        return {**result, "sums": _empty_sums(key, summed)}
    valid = pc.is_valid(keys)
    if pa.types.is_floating(keys.type):
        valid = pc.and_(valid, pc.invert(pc.fill_null(pc.is_nan(keys), True)))
    table = table.select([key, *summed]).filter(valid)
    for name in summed:  # float sums, as pandas' mean: integers beyond 2**53 round as numpy rounds them
        as_float = pc.cast(table[name], pa.float64(), safe=False)
        table = table.set_column(table.schema.get_field_index(name), name, as_float)
    every = pc.ScalarAggregateOptions(min_count=0)  # a group's all-missing column sums to 0, counts 0
    # Positional names: pyarrow names its results "<column>_sum" and "count_all", which a key called
    # "v_sum" or "count_all" would collide with.
    plain = [f"c{at}" for at in range(len(summed))]
    table = table.rename_columns(["key", *plain])
    sums = table.group_by("key", use_threads=False).aggregate(
        [([], "count_all"), *((name, "sum", every) for name in plain), *((name, "count") for name in plain)]
    )
    names = {"count_all": "rows", "key": key}
    names.update({f"{at}_sum": f"{name}.sum" for at, name in zip(plain, summed, strict=True)})
    names.update({f"{at}_count": f"{name}.count" for at, name in zip(plain, summed, strict=True)})
    frame = sums.rename_columns([names[name] for name in sums.column_names]).to_pandas()
    return {**result, "sums": frame.set_index(key)}


def _pandas_sums(frame: pd.DataFrame, key: str, values: list[str]) -> dict[str, Any]:
    kinds = {name: _pandas_kind(frame[name]) for name in values}
    keys = frame[key]
    key_kind = _pandas_kind(keys)
    present = keys.dropna()
    if (
        key_kind == TEXT and len(present) and present.map(type).eq(bool).all()
    ):  # pandas' object column of bools
        key_kind = BOOL_WITH_MISSING
    summed = [name for name in values if kinds[name] != TEXT]
    grouped = frame[summed].astype("float64").groupby(keys, dropna=True)
    sums = pd.concat(
        [
            grouped.size().rename("rows").astype("float64"),
            grouped.sum(min_count=0).add_suffix(".sum"),
            grouped.count().astype("float64").add_suffix(".count"),
        ],
        axis=1,
    )
    return {
        "sums": sums.rename_axis(key),
        "kinds": kinds,
        "key": key_kind,
        "key_integer": pd.api.types.is_integer_dtype(keys),
        "examples": {name: _pandas_example(frame[name]) for name in values if kinds[name] == TEXT},
    }


def _drop_numeric_na_keys(sums: pd.DataFrame, na_numbers: list[float]) -> pd.DataFrame:
    """Leave out the groups whose float key is a numeric ``na_values`` entry in another spelling (pandas'
    missing keys). Integer and text keys: pandas matches spellings only, as pyarrow's null_values did."""
    if not na_numbers or sums.empty or not pd.api.types.is_float_dtype(sums.index):
        return sums
    return sums[~sums.index.isin(na_numbers)]


def group_sums(
    fmt: CsvFormat,
    start: int,
    end: int,
    key: str,
    values: list[str],
    key_as_text: bool = False,
    data: bytes | None = None,
) -> dict[str, Any]:
    """Per ``key`` value in bytes ``[start, end)``: ``rows``, and ``<c>.sum``/``<c>.count`` of each of
    ``values`` that is not text here; with every column's kind in this block.

    Returns ``{"sums", "kinds", "key", "key_integer", "examples"}``: ``kinds``
    maps each of ``values`` to its kind, ``key`` is the key's kind,
    ``key_integer`` whether pandas would read the keys here as integers, and
    ``examples`` a text value of each column that is text here. Summing
    ``sums`` over all blocks and dividing gives pandas' ``groupby().mean()``
    and ``count()``/``size()``. As in pandas, rows without a key are left out.
    ``key_as_text``: group by the key's text, as pandas does when the column
    is not numeric throughout. ``data``: the block's bytes, sent by the rule to workers that cannot
    read ``fmt.path`` (else read from it).
    """
    columns = [key, *values]
    dtype = fmt.overrides(columns)
    if key_as_text:
        dtype[key] = "str"
    na_numbers = numeric_na_values(fmt.read_options)
    if start >= end:
        empty = {"sums": _empty_sums(key, values), "key": EMPTY, "key_integer": True, "examples": {}}
        return {**empty, "kinds": dict.fromkeys(values, EMPTY)}
    if fmt.engine == "pyarrow":
        types = {name: _arrow_type(spelled) for name, spelled in dtype.items()}
        if data is None and is_s3(fmt.path):  # read in place: one ranged GET, for both checks below
            data = block_bytes(fmt.path, start, end, fmt.version)
        try:
            table = read_arrow(fmt, start, end, columns, types, data=data)
        except pa.ArrowInvalid:
            table = None  # rows pyarrow cannot read: pandas reads them, or says why it cannot
        if table is not None and any(_beyond_int64(table[name]) for name in columns if name not in types):
            # Integers there: pyarrow rounds them to float64 (merging keys), pandas reads them exactly
            # (uint64), or as objects it does not average (below -2**63, above 2**64).
            table = None
        inferred_integers = table is not None and any(
            pa.types.is_integer(table[name].type) for name in columns if name not in types
        )
        if inferred_integers and holds_hex_prefix(fmt, start, end, data):
            table = None  # pyarrow may have read 0x1F as 31 in an integer column: pandas reads it as text
        if table is not None:
            _refuse_missing_integers(fmt.path, table, types)
            if na_numbers:
                table = _null_numeric_na(table, values, na_numbers)
            if table.num_rows == 0:
                return _no_rows(key, values)
            result = _arrow_sums(table, key, values, set(types))
            return {**result, "sums": _drop_numeric_na_keys(result["sums"], na_numbers)}
    try:
        frame = read_pandas(fmt, start, end, columns, dtype, data)
    except pd.errors.ParserError as err:
        raise ragged(fmt.path, err, (start, end)) from None
    except TableError:
        raise
    except ValueError as err:  # pandas' error for a value its `dtype` cannot hold
        raise TableError(
            f"{fmt.path}: a column set under the table's `dtype:` ({dtype}) holds a value of another "
            f"type (bytes {start}-{end}): {err}. Change or remove that `dtype:` entry."
        ) from None
    return _no_rows(key, values) if frame.empty else _pandas_sums(frame, key, values)


def _beyond_int64(column: pa.ChunkedArray) -> bool:
    """Whether this float column holds values beyond int64's range: integers there are not floats to pandas."""
    if not pa.types.is_floating(column.type):
        return False
    return bool(pc.any(pc.greater_equal(pc.abs(column), 2.0**63)).as_py())


def _no_rows(key: str, values: list[str]) -> dict[str, Any]:
    """A block of blank or comment lines only: no sums, and no say in any column's type."""
    empty = {"sums": _empty_sums(key, values), "key": NO_ROWS, "key_integer": True, "examples": {}}
    return {**empty, "kinds": dict.fromkeys(values, NO_ROWS)}


def _refuse_missing_integers(path: str, table: pa.Table, types: dict[str, pa.DataType]) -> None:
    """pandas refuses an integer `dtype:` for a column with missing values; so does the workflow."""
    for name, kind in types.items():
        if pa.types.is_integer(kind) and table[name].null_count:
            raise TableError(
                f"{path}: column {name!r} has missing values, but the table's `dtype:` reads it as "
                f"{kind}, which cannot hold them (pandas refuses it too). Use float64 for it."
            )


def _null_numeric_na(table: pa.Table, values: list[str], na_numbers: list[float]) -> pa.Table:
    """Numbers equal to a numeric ``na_values`` entry become missing, as in pandas (-9999.0 for "-9999").

    Only in float columns: pandas compares numbers where it parses floats; where it parses integers
    only the spelling counts (``007`` stays 7 with ``na_values: ["7"]``).
    """
    na = pa.array(na_numbers, pa.float64())
    for name in values:
        column = table[name]
        if pa.types.is_floating(column.type):
            missing = pc.is_in(pc.cast(column, pa.float64()), value_set=na)
            if pc.any(missing).as_py():
                at = table.schema.get_field_index(name)
                table = table.set_column(at, name, pc.if_else(missing, pa.scalar(None, column.type), column))
    return table


def plan_blocks(
    path: str | Path,
    encoding: str,
    names: list[str],
    records: dict[str, Any],
    blocksize: int,
    read_options: dict[str, Any] | None = None,
    dtype: dict[str, str] | None = None,
    engine: str = "pyarrow",
) -> tuple[CsvFormat, list[tuple[int, int]], tuple[int, int] | None]:
    """How to parse the CSV, its ``blocksize``-byte blocks of whole records, and a sample of them.

    ``names`` are the file's columns as pandas names them (:func:`table_header.check_header`);
    ``records`` is the file's :func:`csv_records.record_offsets`. The sample is the
    first ~1 MB of records (None for a file read in one piece). ``engine="pyarrow"``
    falls back to ``"pandas"`` for options pyarrow lacks (``comment``, ``thousands``, a longer ``sep``).
    """
    read_options = dict(read_options or {})
    whole_file = not records["splittable"]
    fmt = CsvFormat(
        # Absolute: workers of an existing cluster run elsewhere. An s3:// object as it is, and its version.
        path=str(path) if is_s3(str(path)) else str(Path(path).absolute()),
        version=pinned_version(path),
        encoding=encoding,
        names=list(names),
        read_options=read_options,
        dtype=dict(dtype or {}),
        # A file read in one piece is parsed by pandas itself: its header, blank and comment lines as pandas
        # finds them (pyarrow's skip_rows counts a blank first line as the header).
        engine=engine
        if engine == "pandas" or (pyarrow_can_read(read_options) and not whole_file)
        else "pandas",
        whole_file=whole_file,
        multiline=whole_file or records["quoted_line_breaks"] > 0,
    )
    if whole_file:
        return fmt, [(0, records["size"])], None
    first = data_start(path, records, read_options.get("comment"))
    ranges = [(max(start, first), end) for start, end in block_ranges(records, blocksize) if end > first]
    sample_end = next((s for s in records["starts"] if s >= first + SAMPLE_BYTES), records["size"])
    return fmt, ranges or [(first, first)], (first, sample_end)

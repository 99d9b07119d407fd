"""Read a large CSV as a Dask DataFrame of pyarrow-parsed byte-range blocks.

``dask.dataframe.read_csv`` hands each block to pandas' parser; pyarrow's
multithreaded C++ parser is several times faster, and reading only the
columns a computation needs skips converting the text columns at all. Blocks
start only where a record starts outside quotes (:mod:`csv_records`), so a
quoted field may hold line breaks; a file that cannot be split safely (quotes
that do not pair up, UTF-16) is read in one piece, header and all.

Tasks call :func:`read_block` (a frame of rows) or :func:`group_sums` (a
block's per-group sums and counts, for averages) by reference: a cluster's
workers must be able to import this module (``cluster.ship_package`` sends it).

Column types come from the first block and are then *fixed* for every block:
integer columns are read as float64 (an integer column that gains ``NA``
further down cannot break the run), and ``dtype`` overrides win.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from dask.utils import parse_bytes

from snakedask.csv_records import block_ranges, record_index
from snakedask.encoding import single_byte_codec

if TYPE_CHECKING:  # importing dask.dataframe costs ~0.7 s that the averages path does not need
    import dask.dataframe as dd

# pandas' default NA markers, which R's write.csv ("NA") and most loggers use.
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
# read_csv options that pyarrow cannot honour: tables using them go through pandas.
PANDAS_ONLY_OPTIONS = ("comment", "thousands")
_SNIFF_BYTES = 1 << 20


def pyarrow_can_read(read_options: dict[str, Any] | None) -> bool:
    return not any((read_options or {}).get(key) for key in PANDAS_ONLY_OPTIONS)


def _options(
    encoding: str,
    read_options: dict[str, Any],
    columns: list[str] | None,
    types: dict[str, pa.DataType] | None,
    names: list[str] | None = None,
    multiline: bool = True,
) -> tuple:
    """pyarrow's read, parse and convert options; ``names`` given: the data has no header line."""
    parse = pacsv.ParseOptions(
        delimiter=read_options.get("sep", ","),
        quote_char=read_options.get("quotechar", '"'),
        # Line breaks inside quoted fields; pyarrow parses faster when it knows there are none.
        newlines_in_values=multiline,
    )
    convert = pacsv.ConvertOptions(
        null_values=NULL_VALUES + list(read_options.get("na_values", [])),
        strings_can_be_null=True,
        decimal_point=read_options.get("decimal", "."),
        include_columns=columns,
        column_types=types,
    )
    # One thread per block: Dask already runs a block per core.
    read = pacsv.ReadOptions(encoding=encoding, block_size=1 << 24, use_threads=False, column_names=names)
    return read, parse, convert


def _block_bytes(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as stream:
        stream.seek(start)
        return stream.read(end - start)


def read_arrow(
    path: str,
    start: int,
    end: int,
    encoding: str,
    read_options: dict[str, Any],
    columns: list[str],
    types: dict[str, pa.DataType],
    names: list[str] | None,
    multiline: bool = True,
) -> pa.Table:
    """Parse the records in bytes ``[start, end)`` of the CSV into a pyarrow table of ``columns``.

    The arguments after ``end`` are :meth:`Blocks.parse_args`. ``names`` (the
    file's columns) given, the range holds records only and is parsed where it
    lies in the page cache (a memory map, no copy); ``None``: the range is the
    whole file, its header included.
    """
    if start >= end:
        return pa.schema([(name, types[name]) for name in columns]).empty_table()
    options = _options(encoding, read_options, columns, types, names, multiline)
    with pa.memory_map(str(path)) as source:
        source.seek(start)
        return pacsv.read_csv(pa.BufferReader(source.read_buffer(end - start)), *options)


def read_block(path: str, start: int, end: int, **parse: Any) -> pd.DataFrame:
    """:func:`read_arrow` as a pandas frame (a Dask DataFrame partition)."""
    table = read_arrow(path, start, end, **parse)
    # split_blocks: a pandas block per column, without copying them into one 2-D block.
    return table.to_pandas(split_blocks=True, self_destruct=True)


def group_sums(path: str, start: int, end: int, **parse: Any) -> pd.DataFrame:
    """Per value of the first column in bytes ``[start, end)`` (:func:`read_arrow`): ``rows``, and
    ``<c>.sum``/``<c>.count`` of every other column.

    One pyarrow pass per block, never converted to pandas rows: summing these
    partials over all blocks and dividing gives pandas' ``groupby().mean()``
    and ``count()``/``size()``. As in pandas, rows without a key are left out.
    """
    table = read_arrow(path, start, end, **parse)
    key, values = parse["columns"][0], parse["columns"][1:]
    keys = table[key]
    valid = pc.is_valid(keys)
    if pa.types.is_floating(keys.type):
        valid = pc.and_(valid, pc.invert(pc.fill_null(pc.is_nan(keys), True)))
    table = table.filter(valid)
    for name in values:  # float sums: an integer `dtype:` column must not overflow
        table = table.set_column(table.schema.get_field_index(name), name, pc.cast(table[name], pa.float64()))
    every = pc.ScalarAggregateOptions(min_count=0)  # a group's all-missing column sums to 0, counts 0
    sums = table.group_by(key, use_threads=False).aggregate(
        [([], "count_all"), *((name, "sum", every) for name in values), *((name, "count") for name in values)]
    )
    return sums.rename_columns(_sum_names(sums.column_names, key, values)).to_pandas()


def _sum_names(produced: list[str], key: str, values: list[str]) -> list[str]:
    """pyarrow names aggregates ``<column>_<function>``: name them ``<column>.sum``/``.count`` and ``rows``."""
    names = {"count_all": "rows", key: key}
    names.update({f"{name}_sum": f"{name}.sum" for name in values})
    names.update({f"{name}_count": f"{name}.count" for name in values})
    return [names[name] for name in produced]


def _arrow_type(name: str) -> pa.DataType:
    """A ``dtype`` override from config (pandas spelling) as a pyarrow type."""
    if name in ("str", "string", "object"):
        return pa.string()
    return pa.from_numpy_dtype(np.dtype(name))


def _sample(path: Path, encoding: str, records: dict[str, Any]) -> tuple[bytes, str]:
    """The header and the first ~1 MB of whole records, and the encoding to parse them with."""
    if records["splittable"]:
        starts = records["starts"]
        end = next((s for s in starts if s >= starts[0] + _SNIFF_BYTES), records["size"])
        return _block_bytes(path, 0, end), encoding
    # One piece (UTF-16, unpaired quotes): decode a sample and cut it after its last line break.
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(
        _block_bytes(path, 0, 4 * _SNIFF_BYTES)
    )
    cut = text.rfind("\n", 0, len(text) - 1)
    return (text[: cut + 1] if cut > 0 else text).encode("utf-8"), "utf8"


def infer_types(
    path: str | Path,
    encoding: str,
    read_options: dict[str, Any],
    dtype: dict[str, str] | None,
    records: dict[str, Any],
) -> dict[str, pa.DataType]:
    """Column types from the first ~1 MB of whole records (``records``: the file's record index);
    integers and all-null columns become float64."""
    path = Path(path)
    sample, sample_encoding = _sample(path, encoding, records)
    options = _options(sample_encoding, read_options, None, None)
    try:
        schema = pacsv.read_csv(pa.py_buffer(sample), *options).schema
    except pa.ArrowInvalid:
        if records["splittable"]:
            raise
        schema = pacsv.read_csv(str(path), *_options(encoding, read_options, None, None)).schema
    types = {}
    for field in schema:
        if (
            pa.types.is_integer(field.type)
            or pa.types.is_floating(field.type)
            or pa.types.is_null(field.type)
        ):
            types[field.name] = pa.float64()
        elif pa.types.is_boolean(field.type):
            types[field.name] = pa.bool_()
        else:
            types[field.name] = pa.string()
    for name, spelled in (dtype or {}).items():
        if name in types:
            types[name] = _arrow_type(spelled)
    return types


def _single_byte_ascii_superset(encoding: str) -> bool:
    """True for Latin-1, cp1252 and the like: one byte per character, ASCII unchanged."""
    return single_byte_codec(encoding) and bytes(range(128)).decode(encoding, errors="replace") == bytes(
        range(128)
    ).decode("ascii")


def parse_encoding(path: Path, encoding: str, types: dict[str, pa.DataType]) -> str:
    """The encoding to hand pyarrow: skip its (slow) transcoding when no text column is read.

    In a single-byte, ASCII-compatible file the numbers, separators and quotes
    are plain ASCII bytes, so numeric columns parse the same without decoding;
    only text columns need the real encoding. UTF-8 with a BOM is UTF-8 (the
    BOM is in the header line; pyarrow skips it).
    """
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return "utf8"
    with open(path, "rb") as stream:
        header = stream.readline()
    if (
        _single_byte_ascii_superset(encoding)
        and header.isascii()
        and not any(pa.types.is_string(t) for t in types.values())
    ):
        return "utf8"
    return encoding


@dataclass(frozen=True)
class Blocks:
    """A CSV's blocks (byte ranges of whole records) and how to parse them; see :func:`plan_blocks`."""

    path: str
    encoding: str
    ranges: list[tuple[int, int]]
    types: dict[str, pa.DataType]  # every column's, fixed for all blocks
    read_options: dict[str, Any]
    whole_file: bool  # one range, header included (a file that cannot be split)
    multiline: bool  # line breaks inside quoted fields

    def meta(self, columns: list[str] | None = None) -> pd.DataFrame:
        """An empty frame of ``columns`` (all if None) with the types every block gets."""
        return (
            pa.schema([(name, self.types[name]) for name in columns or self.types]).empty_table().to_pandas()
        )

    def parse_args(self, columns: list[str]) -> dict[str, Any]:
        """Keyword arguments of :func:`read_arrow` (and so :func:`read_block`, :func:`group_sums`) for ``columns``."""
        types = {name: self.types[name] for name in columns}
        return {
            "encoding": self.encoding
            if self.whole_file
            else parse_encoding(Path(self.path), self.encoding, types),
            "read_options": self.read_options,
            "columns": columns,
            "types": types,
            "names": None if self.whole_file else list(self.types),
            "multiline": self.multiline,
        }


def plan_blocks(
    path: str | Path,
    encoding: str,
    blocksize: str | int = "64MB",
    read_options: dict[str, Any] | None = None,
    dtype: dict[str, str] | None = None,
    records: dict[str, Any] | None = None,
) -> Blocks:
    """Split the CSV into ``blocksize`` blocks of whole records and fix every column's type.

    ``records`` is the file's :func:`csv_records.record_index` (computed here if not given).
    """
    path = Path(path).absolute()  # workers of an existing cluster run elsewhere
    read_options = dict(read_options or {})
    records = records or record_index(path, encoding, read_options.get("quotechar", '"'))
    types = infer_types(path, encoding, read_options, dtype, records)
    whole_file = not records["splittable"]
    step = parse_bytes(blocksize) if isinstance(blocksize, str) else blocksize
    return Blocks(
        path=str(path),
        encoding=encoding,
        ranges=[(0, records["size"])] if whole_file else block_ranges(records, step),
        types=types,
        read_options=read_options,
        whole_file=whole_file,
        multiline=whole_file or records["quoted_line_breaks"] > 0,
    )


def read_csv_blocks(
    path: str | Path,
    encoding: str,
    blocksize: str | int = "64MB",
    read_options: dict[str, Any] | None = None,
    dtype: dict[str, str] | None = None,
    columns: list[str] | None = None,
    records: dict[str, Any] | None = None,
) -> dd.DataFrame:
    """Lazy frame of ``columns`` (all if None), one partition per ``blocksize`` bytes of whole records.

    ``records`` is the file's :func:`csv_records.record_index` (computed here if not given).
    """
    import dask.dataframe as dd

    blocks = plan_blocks(path, encoding, blocksize, read_options, dtype, records)
    columns = list(columns or blocks.types)
    return dd.from_map(
        read_block,
        [blocks.path] * len(blocks.ranges),
        [start for start, _ in blocks.ranges],
        [end for _, end in blocks.ranges],
        **blocks.parse_args(columns),
        meta=blocks.meta(columns),
        label="read-csv-pyarrow",
        enforce_metadata=False,
    )

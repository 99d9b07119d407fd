"""Read a large CSV as a Dask DataFrame of pyarrow-parsed byte-range blocks.

``dask.dataframe.read_csv`` hands each block to pandas' parser; pyarrow's
multithreaded C++ parser is several times faster, and reading only the
columns a computation needs skips converting the text columns at all. Each
block starts at the first line that begins inside its byte range (the header
is prepended), as ``dask.dataframe.read_csv`` does; like it, this assumes no
quoted field contains a line break.

Tasks call :func:`read_block` by reference: a cluster's workers must be able to
import this module (``client.upload_file(csv_blocks.__file__)`` sends it).

Column types come from the first block and are then *fixed* for every block:
integer columns are read as float64 (an integer column that gains ``NA``
further down cannot break the run), and ``dtype`` overrides win.
"""

from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from dask.utils import parse_bytes

from snakedask.encoding import single_byte_codec

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
) -> tuple:
    """pyarrow's read, parse and convert options; ``names`` given: the data has no header line."""
    parse = pacsv.ParseOptions(
        delimiter=read_options.get("sep", ","), quote_char=read_options.get("quotechar", '"')
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


def _header_and_start(path: Path) -> tuple[bytes, int]:
    with open(path, "rb") as stream:
        header = stream.readline()
    return header, len(header)


def _line_start(stream: Any, position: int, data_start: int) -> int:
    """Where the first line beginning at or after ``position`` starts (data lines only)."""
    if position <= data_start:
        return data_start
    stream.seek(position - 1)
    stream.readline()  # finish the line that began before ``position``
    return stream.tell()


def _line_range(path: Path, start: int, end: int, data_start: int) -> tuple[int, int]:
    """Byte range of the whole lines whose first byte lies in ``[start, end)``."""
    end = min(end, path.stat().st_size)
    with open(path, "rb") as stream:
        return _line_start(stream, start, data_start), _line_start(stream, end, data_start)


def _block_bytes(path: Path, start: int, end: int, data_start: int, header: bytes = b"") -> bytes:
    """``header`` and the whole lines whose first byte lies in ``[start, end)``, read in one piece."""
    first, stop = _line_range(path, start, end, data_start)
    if first >= stop:
        return header
    with open(path, "rb") as stream:
        data = bytearray(len(header) + stop - first)
        data[: len(header)] = header
        stream.seek(first)
        stream.readinto(memoryview(data)[len(header) :])
        return data


def read_block(
    path: str,
    start: int,
    end: int,
    encoding: str,
    read_options: dict[str, Any],
    columns: list[str],
    types: dict[str, pa.DataType],
    names: list[str],
) -> pd.DataFrame:
    """Parse one byte range of the CSV (whose columns are ``names``) into a pandas frame of ``columns``.

    The lines are parsed where they lie in the page cache (a memory map, no
    copy), with the column names given instead of a header line to prepend.
    """
    path = Path(path)
    _, data_start = _header_and_start(path)
    first, stop = _line_range(path, start, end, data_start)
    if first >= stop:
        return pa.schema([(name, types[name]) for name in columns]).empty_table().to_pandas()
    with pa.memory_map(str(path)) as source:
        source.seek(first)
        lines = pa.BufferReader(source.read_buffer(stop - first))
        table = pacsv.read_csv(lines, *_options(encoding, read_options, columns, types, names))
    # split_blocks: a pandas block per column, without copying them into one 2-D block.
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _arrow_type(name: str) -> pa.DataType:
    """A ``dtype`` override from config (pandas spelling) as a pyarrow type."""
    if name in ("str", "string", "object"):
        return pa.string()
    return pa.from_numpy_dtype(np.dtype(name))


def infer_types(
    path: str | Path, encoding: str, read_options: dict[str, Any], dtype: dict[str, str] | None
) -> dict[str, pa.DataType]:
    """Column types from the first ~1 MB; integers and all-null columns become float64."""
    path = Path(path)
    header, data_start = _header_and_start(path)
    sample = _block_bytes(path, 0, data_start + _SNIFF_BYTES, data_start, header)
    schema = pacsv.read_csv(pa.py_buffer(sample), *_options(encoding, read_options, None, None)).schema
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
    only text columns need the real encoding.
    """
    header, _ = _header_and_start(path)
    if (
        _single_byte_ascii_superset(encoding)
        and header.isascii()
        and not any(pa.types.is_string(t) for t in types.values())
    ):
        return "utf8"
    return encoding


def read_csv_blocks(
    path: str | Path,
    encoding: str,
    blocksize: str | int = "64MB",
    read_options: dict[str, Any] | None = None,
    dtype: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> dd.DataFrame:
    """Lazy frame of ``columns`` (all if None), one partition per ``blocksize`` bytes."""
    path = Path(path).absolute()  # workers of an existing cluster run elsewhere
    read_options = dict(read_options or {})
    types = infer_types(path, encoding, read_options, dtype)
    names = list(types)
    columns = list(columns or types)
    types = {name: types[name] for name in columns}
    size = path.stat().st_size
    step = max(1, parse_bytes(blocksize) if isinstance(blocksize, str) else int(blocksize))
    ranges = [(start, min(start + step, size)) for start in range(0, size, step)] or [(0, 0)]
    meta = pa.schema([(name, types[name]) for name in columns]).empty_table().to_pandas()
    return dd.from_map(
        read_block,
        [str(path)] * len(ranges),
        [r[0] for r in ranges],
        [r[1] for r in ranges],
        encoding=parse_encoding(path, encoding, types),
        read_options=read_options,
        columns=columns,
        types=types,
        names=names,
        meta=meta,
        label="read-csv-pyarrow",
        enforce_metadata=False,
    )

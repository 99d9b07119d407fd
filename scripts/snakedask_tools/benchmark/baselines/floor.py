"""Floors: the inputs' and output's bytes alone, and the computation alone.

    python -m snakedask_tools.benchmark.baselines.floor bytes DST SIZE INPUT...
        read every input (plain reads, 16 MiB at a time), then write SIZE bytes to DST
        (plain writes of one buffer): no decoding, compute or compression.
    python -m snakedask_tools.benchmark.baselines.floor raster RED NIR
        NDVI over all pixels on all cores, both bands already in memory.
    python -m snakedask_tools.benchmark.baselines.floor csv CSV
        parse + groupby-mean with pyarrow, the file's bytes already in memory.

The two compute modes print {"seconds": ...} as their last stdout line: the timed part only,
measured in-process (reading the inputs and starting Python are not part of it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

CHUNK = 1 << 24  # 16 MiB
ROWS = 256  # rows per task of the NDVI kernel
SNIFF = 1 << 20  # bytes whose column types are used for the whole CSV, as snakedask.csv_blocks does


def bytes_floor(dst: str | Path, size: int | str, *inputs: str | Path) -> None:
    """Read every input's bytes, then write ``size`` bytes to ``dst``."""
    buffer = memoryview(bytearray(CHUNK))
    for path in inputs:
        with open(path, "rb", buffering=0) as stream:
            while stream.readinto(buffer):
                pass
    left = int(size)
    with open(dst, "wb", buffering=0) as out:
        while left > 0:
            left -= out.write(buffer[: min(left, CHUNK)])


def read_band(path: str | Path) -> tuple[Any, float | None]:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), src.nodata


def ndvi_rows(red: Any, nir: Any, nodata: tuple, out: Any, rows: slice) -> None:
    """(nir - red) / (nir + red) for one band of rows; NaN where either band is nodata or the sum is 0."""
    import numpy as np

    r, n = red[rows], nir[rows]
    total = n + r
    valid = total != 0
    for values, missing in ((r, nodata[0]), (n, nodata[1])):
        if missing is not None:
            valid &= values != missing
    block = out[rows]
    np.divide(n - r, total, out=block, where=valid)
    block[~valid] = np.nan


def ndvi(red: Any, nir: Any, nodata: tuple = (None, None)) -> Any:
    """NDVI of two bands in memory (float32), over bands of ROWS rows in a thread pool of one per core."""
    import numpy as np

    out = np.empty(red.shape, np.float32)
    bands = [slice(top, top + ROWS) for top in range(0, red.shape[0], ROWS)]
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(lambda rows: ndvi_rows(red, nir, nodata, out, rows), bands))
    return out


def raster_floor(red_path: str | Path, nir_path: str | Path) -> float:
    """Seconds the NDVI of two band files takes once both are in memory."""
    (red, red_nodata), (nir, nir_nodata) = read_band(red_path), read_band(nir_path)
    start = time.perf_counter()
    ndvi(red, nir, (red_nodata, nir_nodata))
    return time.perf_counter() - start


def csv_types(data: bytes) -> dict[str, Any]:
    """Numeric columns from the first MiB, integers read as float64 (``year`` kept): the workflow's reader's."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    head = pacsv.read_csv(
        pa.BufferReader(csv_head(data)), convert_options=pacsv.ConvertOptions(check_utf8=False)
    )
    return {
        field.name: field.type if field.name == "year" else pa.float64()
        for field in head.schema
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
    }


def csv_head(data: bytes) -> bytes:
    """The whole lines of the first SNIFF bytes."""
    return data[: data.rfind(b"\n", 0, SNIFF) + 1]


def average(data: bytes, types: dict[str, Any]) -> Any:
    """Per-year means of the ``types`` columns of CSV bytes: a pyarrow Table, one row per year."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(use_threads=True),
        convert_options=pacsv.ConvertOptions(include_columns=list(types), column_types=types),
    )
    return table.group_by("year").aggregate([(name, "mean") for name in types if name != "year"])


def csv_floor(path: str | Path) -> float:
    """Seconds the per-year means of a CSV take once its bytes are in memory."""
    with open(path, "rb") as stream:
        data = stream.read()
    types = csv_types(data)
    average(csv_head(data), types)  # pyarrow's first parse and groupby initialise it: not the work
    start = time.perf_counter()
    average(data, types)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    mode, *args = (sys.argv[1:] if argv is None else argv) or [""]
    if mode == "bytes" and len(args) >= 2:
        bytes_floor(*args)
    elif mode in ("raster", "csv") and len(args) == (2 if mode == "raster" else 1):
        seconds = raster_floor(*args) if mode == "raster" else csv_floor(*args)
        print(json.dumps({"seconds": seconds}), flush=True)
    else:
        sys.exit(f"usage: {__doc__}")


if __name__ == "__main__":
    main()

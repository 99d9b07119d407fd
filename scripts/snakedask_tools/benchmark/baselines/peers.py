"""Peers: the tools a scientist would pick instead of the workflow, each run as its own process.

    python -m snakedask_tools.benchmark.baselines.peers polars CSV OUT.csv [THREADS]
        Polars: scan_csv(encoding="utf8-lossy", null_values=["NA"]) -> group_by("year") -> mean of
        every numeric column -> collect(engine="streaming"), on THREADS threads (POLARS_MAX_THREADS).
    python -m snakedask_tools.benchmark.baselines.peers duckdb CSV OUT.csv [THREADS]
        DuckDB: read_csv(encoding='latin-1', nullstr=['NA']) ... GROUP BY year, avg() of every
        numeric column, SET threads=THREADS, written with COPY.

Both write the eager baseline's averages.csv layout: ``year`` then the means in the file's column
order, one row per year, ascending. GDAL's command line is not Python: :func:`gdal_command` builds
the ``gdal_calc.py`` + ``gdal_translate`` shell command the benchmark runs for NDVI.

:func:`availability` tells, without importing Polars or DuckDB, whether each peer is installed and
which version it is. The workflow itself never imports them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# DuckDB's numeric column types (DESCRIBE's names; DECIMAL comes with its width and scale).
DUCKDB_NUMERIC = re.compile(r"(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL.*)$")
# Rows Polars reads to infer column types (its default, 100, could see a column's NA rows only).
POLARS_INFER_ROWS = 10_000
GDAL_TOOLS = ("gdal_calc.py", "gdal_translate")


def polars_averages(src: str | Path, dst: str | Path, threads: int | str = 2) -> None:
    """Yearly means of every numeric column with Polars' streaming engine, written to ``dst``."""
    # Polars sizes its thread pool when it is imported.
    os.environ["POLARS_MAX_THREADS"] = str(int(threads))
    import polars as pl

    # utf8-lossy: the Latin-1 bytes (m³ in `unit`) become U+FFFD; the numeric columns are ASCII.
    lazy = pl.scan_csv(src, encoding="utf8-lossy", null_values=["NA"], infer_schema_length=POLARS_INFER_ROWS)
    numeric = [name for name, dtype in lazy.collect_schema().items() if dtype.is_numeric() and name != "year"]
    means = lazy.group_by("year").agg(pl.col(numeric).mean()).sort("year").collect(engine="streaming")
    means.write_csv(dst)


def sql_text(value: str | Path) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def duckdb_averages(src: str | Path, dst: str | Path, threads: int | str = 2) -> None:
    """Yearly means of every numeric column with DuckDB, written to ``dst`` by COPY."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads={int(threads)}")
    table = f"read_csv({sql_text(src)}, encoding='latin-1', nullstr=['NA'])"
    columns = con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
    numeric = [name for name, kind, *_ in columns if DUCKDB_NUMERIC.match(kind) and name != "year"]
    means = ", ".join(f'avg("{name}") AS "{name}"' for name in numeric)
    con.execute(
        f"COPY (SELECT year, {means} FROM {table} GROUP BY year ORDER BY year) "
        f"TO {sql_text(dst)} (HEADER, DELIMITER ',')"
    )
    con.close()


def ndvi_expression(red_nodata: float | None, nir_nodata: float | None) -> str:
    """gdal_calc's formula (A = red, B = NIR): float32 NDVI, NaN where a band is nodata or the sum is 0.

    The inputs' nodata is tested in the formula (with ``--hideNoData``): gdal_calc 3.6 blanks
    nodata by multiplying with the output nodata value, which for NaN makes every pixel NaN.
    """
    valid = ["(A + B != 0)"]
    for letter, nodata in (("A", red_nodata), ("B", nir_nodata)):
        if nodata is not None:
            valid.append(f"~isnan({letter})" if math.isnan(nodata) else f"({letter} != {nodata!r})")
    return f"divide(B - A, B + A, out=full(A.shape, nan, float32), where={' & '.join(valid)})"


def gdal_command(
    red: str | Path,
    nir: str | Path,
    dst: str | Path,
    red_nodata: float | None,
    nir_nodata: float | None,
) -> str:
    """The shell command: gdal_calc.py to a tiled GTiff, then gdal_translate to the workflow's COG.

    The COG has the workflow's options (ZSTD level 1, floating-point predictor, 256-px tiles,
    averaged overviews); the intermediate file is removed afterwards.
    """
    tmp = Path(dst).with_suffix(".calc.tif")
    calc = [
        "gdal_calc.py", "--quiet", "--hideNoData", "-A", str(red), "-B", str(nir),
        f"--calc={ndvi_expression(red_nodata, nir_nodata)}", "--type=Float32", "--NoDataValue=nan",
        "--co=TILED=YES", "--co=BIGTIFF=IF_SAFER", f"--outfile={tmp}", "--overwrite",
    ]  # fmt: skip
    translate = [
        "gdal_translate", "-q", "-of", "COG", "-co", "COMPRESS=ZSTD", "-co", "LEVEL=1",
        "-co", "PREDICTOR=YES", "-co", "BLOCKSIZE=256", "-co", "NUM_THREADS=ALL_CPUS",
        "-co", "OVERVIEW_RESAMPLING=AVERAGE", "-co", "BIGTIFF=IF_SAFER", str(tmp), str(dst),
    ]  # fmt: skip
    return f"{shlex.join(calc)} && {shlex.join(translate)} && rm -f {shlex.quote(str(tmp))}"


def python_package_version(name: str) -> str | None:
    """The installed version of ``name``, without importing it; None if it is not importable."""
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def gdal_cli_version() -> str | None:
    """``3.6.2`` (with the Debian package's version when dpkg knows it); None if not installed."""
    if not all(shutil.which(tool) for tool in GDAL_TOOLS):
        return None
    result = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True, check=False)
    # "GDAL 3.6.2, released 2023/01/02"
    version = result.stdout.split(",")[0].removeprefix("GDAL").strip() if result.returncode == 0 else ""
    version = version or "unknown version"
    if shutil.which("dpkg-query"):
        package = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "gdal-bin"], capture_output=True, text=True, check=False
        )
        if package.returncode == 0 and package.stdout.strip():
            version += f" (Debian gdal-bin {package.stdout.strip()})"
    return version


def availability() -> dict[str, str | None]:
    """Each peer's name and version as the report shows it, or None where it is not installed."""
    polars, duckdb, gdal = (
        python_package_version("polars"),
        python_package_version("duckdb"),
        gdal_cli_version(),
    )
    return {
        "polars": f"Polars {polars}" if polars else None,
        "duckdb": f"DuckDB {duckdb}" if duckdb else None,
        "gdal": f"GDAL CLI {gdal}" if gdal else None,
    }


MODES = {"polars": polars_averages, "duckdb": duckdb_averages}


def main(argv: list[str] | None = None) -> None:
    mode, *args = (sys.argv[1:] if argv is None else argv) or [""]
    if mode not in MODES or len(args) not in (2, 3):
        sys.exit(f"usage: {__doc__}")
    MODES[mode](*args)


if __name__ == "__main__":
    main()

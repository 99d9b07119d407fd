"""Eager baselines: whole files in memory, pandas (pyarrow parser) and rasterio + numpy.

What one would write by hand, making the workflow's products in their formats::

    python -m snakedask_tools.benchmark.baselines.eager averages CSV OUT.csv
    python -m snakedask_tools.benchmark.baselines.eager ndvi RED NIR OUT.tif
    python -m snakedask_tools.benchmark.baselines.eager all CSV RED NIR OUT_FOLDER

``all`` writes averages.csv, averages.png, ndvi.tif and ndvi.png into OUT_FOLDER.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The workflow's product format (snakedask.cog_writer: a COG of 256-px tiles, ZSTD level 1 with the
# floating-point predictor, overviews averaged), written through GDAL's COG driver. This script holds
# the array in memory, so the driver makes the overviews itself.
COG_OPTIONS = {
    "driver": "COG",
    "dtype": "float32",
    "compress": "ZSTD",
    "level": 1,
    "predictor": "YES",
    "blocksize": 256,
    "bigtiff": "IF_SAFER",
    "num_threads": "ALL_CPUS",
    "overviews": "AUTO",
    "overview_resampling": "AVERAGE",
}


def averages(src: str | Path, dst: str | Path) -> Any:
    """Yearly means of every numeric column of the soil-moisture CSV (Latin-1), written to ``dst``."""
    import pandas as pd

    frame = pd.read_csv(src, encoding="latin-1", engine="pyarrow")
    means = frame.groupby("year").mean(numeric_only=True)
    means.to_csv(dst)
    return means


def ndvi(red_path: str | Path, nir_path: str | Path, dst: str | Path, options: dict | None = None) -> Any:
    """(NIR - red) / (NIR + red) as float32, NaN where either band is nodata or the sum is 0."""
    import numpy as np
    import rasterio

    with rasterio.open(red_path) as red_src, rasterio.open(nir_path) as nir_src:
        red = red_src.read(1).astype("float32", copy=False)
        nir = nir_src.read(1).astype("float32", copy=False)
        valid = (red != red_src.nodata) & (nir != nir_src.nodata)
        grid = {key: getattr(red_src, key) for key in ("crs", "transform", "height", "width")}
    total = nir + red
    valid &= total != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        index = ((nir - red) / total).astype("float32", copy=False)
    index[~valid] = np.nan
    with rasterio.open(dst, "w", count=1, nodata=float("nan"), **grid, **(options or COG_OPTIONS)) as out:
        out.write(index, 1)
    return index


def plot_averages(means: Any, png: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    axes = means.plot(subplots=True, marker="o", figsize=(8, 2 * len(means.columns)))
    axes[0].figure.savefig(png, dpi=110)


def plot_index_map(index: Any, png: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    step = max(1, max(index.shape) // 1600)
    fig, ax = plt.subplots(figsize=(10, 6))
    image = ax.imshow(index[::step, ::step], cmap="RdYlGn", vmin=-1, vmax=1)
    fig.colorbar(image, ax=ax, label="NDVI")
    fig.savefig(png, dpi=120)


def everything(csv_path: str | Path, red_path: str | Path, nir_path: str | Path, out: str | Path) -> None:
    """Every product of one table and one scene, as the whole workflow makes them."""
    out = Path(out)
    plot_averages(averages(csv_path, out / "averages.csv"), out / "averages.png")
    plot_index_map(ndvi(red_path, nir_path, out / "ndvi.tif"), out / "ndvi.png")


MODES = {"averages": (averages, 2), "ndvi": (ndvi, 3), "all": (everything, 4)}


def main(argv: list[str] | None = None) -> None:
    mode, *args = (sys.argv[1:] if argv is None else argv) or [""]
    if mode not in MODES or len(args) != MODES[mode][1]:
        sys.exit(f"usage: {__doc__}")
    MODES[mode][0](*args)


if __name__ == "__main__":
    main()

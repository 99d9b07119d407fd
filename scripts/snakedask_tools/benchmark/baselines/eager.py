"""Eager baselines: whole files in memory, pandas (pyarrow parser) and rasterio + numpy.

What one would write by hand, making the workflow's products in their formats::

    python -m snakedask_tools.benchmark.baselines.eager averages CSV OUT.csv
    python -m snakedask_tools.benchmark.baselines.eager ndvi RED NIR OUT.tif
    python -m snakedask_tools.benchmark.baselines.eager all CSV RED NIR OUT_FOLDER
    python -m snakedask_tools.benchmark.baselines.eager pairs OUT_FOLDER CONFIG [CONFIG ...]

``all`` writes averages.csv, averages.png, ndvi.tif and ndvi.png into OUT_FOLDER.
``pairs`` reads the workflow's config files (later ones over earlier ones, entry by entry) and, in
one loop over its tables and scenes taken in pairs, makes each pair's products as the workflow's
default target does, but for the HTML pages and Dask reports: averages.csv, counts.csv and
averages.png in OUT_FOLDER/tables/TABLE/; ndvi.tif, ndvi_stats.json, ndvi.png and
ndvi_histogram.png in OUT_FOLDER/scenes/SCENE/; the figures with the workflow's own plotting
functions.
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


def averages(src: str | Path, dst: str | Path, counts: str | Path | None = None, key: str = "year") -> Any:
    """Yearly (``key``) means of every numeric column of the soil-moisture CSV (Latin-1), written to ``dst``.

    ``counts``: also write each group's rows and each averaged column's values (the workflow's counts.csv).
    """
    import pandas as pd

    frame = pd.read_csv(src, encoding="latin-1", engine="pyarrow")
    groups = frame.groupby(key)
    means = groups.mean(numeric_only=True)
    means.to_csv(dst)
    if counts is not None:
        counted = groups[list(means.columns)].count()
        counted.insert(0, "rows", groups.size())
        counted.to_csv(counts)
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


PERCENTILES = (2, 5, 25, 50, 75, 95, 98)  # those the workflow's ndvi_stats.json gives


def index_statistics(index: Any, value_range: tuple[float, float], bins: int = 100) -> dict[str, Any]:
    """The keys of the workflow's ``ndvi_stats.json`` from the whole array (NaN = nodata), with numpy:
    exact percentiles (error bound 0), a ``bins``-bin histogram over ``value_range``."""
    import numpy as np

    values = index[~np.isnan(index)].astype("float64")
    count = int(values.size)
    counts, edges = np.histogram(values, bins=bins, range=value_range)
    found = np.percentile(values, PERCENTILES) if count else []
    return {
        "count_valid": count,
        "count_nodata": int(index.size) - count,
        "min": float(values.min()) if count else None,
        "max": float(values.max()) if count else None,
        "mean": float(values.mean()) if count else None,
        "std": float(values.std()) if count else None,
        "percentiles": {f"p{p}": float(v) for p, v in zip(PERCENTILES, found, strict=False)},
        "percentile_error_bound": {f"p{p}": 0.0 for p in PERCENTILES} if count else {},
        "count_outside_histogram_range": count - int(counts.sum()),
        "histogram": {"edges": [round(float(e), 6) for e in edges], "counts": counts.tolist()},
    }


def merged_datasets(configs: list[str | Path]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tables and scenes of the config files, a later file's entry replacing an earlier one's."""
    import yaml

    tables: dict[str, Any] = {}
    scenes: dict[str, Any] = {}
    for path in configs:
        config = yaml.safe_load(Path(path).read_text()) or {}
        tables.update(config.get("tables") or {})
        scenes.update(config.get("scenes") or {})
    return tables, scenes


def table_products(name: str, entry: dict[str, Any], out: Path) -> None:
    """averages.csv, counts.csv and the workflow's chart of them (snakedask.plot_averages)."""
    from snakedask.plot_averages import plot_averages as chart

    out.mkdir(parents=True, exist_ok=True)
    means_csv, counts_csv = out / "averages.csv", out / "counts.csv"
    averages(entry["url"], means_csv, counts_csv, entry.get("groupby", "year"))
    chart(means_csv, out / "averages.png", name, counts_csv, entry.get("units"), entry.get("columns"))


def scene_products(name: str, entry: dict[str, Any], out: Path) -> None:
    """ndvi.tif, ndvi_stats.json and the workflow's map and histogram (snakedask.plot_spectral)."""
    import json

    from snakedask.plot_spectral import plot_histogram, plot_index_map
    from snakedask.spectral_indices import lookup

    out.mkdir(parents=True, exist_ok=True)
    tif = out / "ndvi.tif"
    index = ndvi(entry["red"]["url"], entry["nir"]["url"], tif)
    stats = index_statistics(index, lookup("ndvi").value_range)
    (out / "ndvi_stats.json").write_text(json.dumps(stats, indent=2))
    plot_index_map(tif, out / "ndvi.png", name, "ndvi", stats)
    plot_histogram(stats, out / "ndvi_histogram.png", name, "ndvi")


def pairs(out: str | Path, *configs: str | Path) -> None:
    """Every pair's products, in one loop (see the module's usage)."""
    out = Path(out)
    tables, scenes = merged_datasets(list(configs))
    if len(tables) != len(scenes):
        sys.exit(f"{len(tables)} tables and {len(scenes)} scenes: not pairs")
    for (table, table_entry), (scene, scene_entry) in zip(tables.items(), scenes.items(), strict=True):
        table_products(table, table_entry, out / "tables" / table)
        scene_products(scene, scene_entry, out / "scenes" / scene)


# Mode: (function, number of arguments; a negative number: at least that many).
MODES = {"averages": (averages, 2), "ndvi": (ndvi, 3), "all": (everything, 4), "pairs": (pairs, -2)}


def main(argv: list[str] | None = None) -> None:
    mode, *args = (sys.argv[1:] if argv is None else argv) or [""]
    needed = MODES[mode][1] if mode in MODES else 0
    if mode not in MODES or (len(args) < -needed if needed < 0 else len(args) != needed):
        sys.exit(f"usage: {__doc__}")
    MODES[mode][0](*args)


if __name__ == "__main__":
    main()

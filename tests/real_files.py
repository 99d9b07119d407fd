"""The corpus of real third-party files (tests/data/real/, sources in its SOURCES.md) and its oracles.

The oracles use plain pandas, numpy and rasterio on the original files, never the project's code:

* a table's averages are ``pd.read_csv(path, encoding=..., **read_options).groupby(key).mean(numeric_only=True)``,
  its counts ``groupby(key).size()`` (rows) and ``groupby(key).count()`` (non-missing values);
* a scene's NDVI is computed from rasterio's reads of the two bands as float64, times the file's
  ``scales`` plus its ``offsets``, valid where ``read_masks`` is non-zero for both bands (nodata,
  alpha band, internal mask or ``.msk`` sidecar: whatever GDAL says), the values are finite and
  ``nir + red != 0``; cast to float32, NaN elsewhere.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

REAL = Path(__file__).resolve().parent / "data" / "real"
TABLE_DIR, RASTER_DIR = REAL / "tables", REAL / "rasters"


@dataclass(frozen=True)
class Table:
    file: str
    groupby: str
    encoding: str = "utf-8"  # what the oracle reads it as (the workflow detects it)
    read_options: dict = field(default_factory=dict)
    blocksize: str | None = None  # small blocks for the larger files: several Dask tasks each

    @property
    def path(self) -> Path:
        return TABLE_DIR / self.file


TABLES = {
    # fivethirtyeight/data (CC BY 4.0)
    "fte_pollster_ratings": Table("fte_pollster_ratings.csv", "numeric_grade"),  # TRUE/FALSE, CRLF, float key
    "fte_russia_investigation": Table("fte_russia_investigation.csv", "investigation"),  # 3 bool columns
    "fte_polls_2024": Table("fte_polls_2024.csv", "state", blocksize="40KB"),  # bools, line breaks in quotes
    "fte_divorce": Table("fte_divorce.csv", "year"),  # R's write.csv header: first name ""
    "fte_avengers": Table("fte_avengers.csv", "Gender", encoding="cp1252"),
    "fte_police_killings": Table("fte_police_killings.csv", "raceethnicity", encoding="cp1252"),
    "fte_madmen_show": Table("fte_madmen_show.csv", "Status?", encoding="cp1252"),  # 0x91: cp1252 only
    "fte_castles": Table("fte_castles.csv", "Castle 1", blocksize="32KB"),  # long quoted answers, line breaks
    # vega/vega-datasets (U.S. Government works)
    "vega_seattle_weather_cr": Table("vega_seattle_weather_cr.csv", "weather", blocksize="16KB"),  # CR-only
    "vega_airports": Table("vega_airports.csv", "state", blocksize="50KB"),
    # tidyverse/readr (MIT)
    "readr_mtcars": Table("readr_mtcars.csv", "cyl"),
    "readr_basic_df": Table("readr_basic_df.csv", "d"),  # TRUE/FALSE column
    "readr_eol_cr": Table("readr_eol_cr.csv", "y"),  # classic-Mac CR line ends
}


@dataclass(frozen=True)
class Band:
    file: str
    band: int = 1
    nodata: str | None = None  # "none": a file that declares no validity at all (set in the config)

    @property
    def path(self) -> Path:
        return RASTER_DIR / self.file


@dataclass(frozen=True)
class Scene:
    red: Band
    nir: Band
    refused: str | None = None  # the run must stop for this scene with a message containing this


SCENES = {
    # rasterio/rasterio tests/data (CC0 1.0)
    "rasterio_rgb_tenth": Scene(
        Band("rasterio_rgb-byte-tenth.tif", 1), Band("rasterio_rgb-byte-tenth.tif", 2)
    ),
    "rasterio_alpha": Scene(Band("rasterio_alpha.tif", 1), Band("rasterio_alpha.tif", 2)),
    "rasterio_rgba_uint16": Scene(Band("rasterio_RGBA.uint16.tif", 3), Band("rasterio_RGBA.uint16.tif", 1)),
    "rasterio_goes_mask": Scene(Band("rasterio_goes.tif", 1), Band("rasterio_goes.tif", 2)),
    "rasterio_float_pair": Scene(Band("rasterio_float_nan.tif"), Band("rasterio_float.tif", nodata="none")),
    "rasterio_rotated": Scene(
        Band("rasterio_rotated.tif", nodata="none"), Band("gdal_rotated_nir.tif", nodata="none")
    ),
    # cogeotiff/rio-tiler tests/fixtures (BSD-3-Clause)
    "riotiler_landsat": Scene(Band("riotiler_red.tif"), Band("riotiler_green.tif")),
    "riotiler_scale_offset": Scene(Band("riotiler_cog_scale.tif", 1), Band("riotiler_cog_scale.tif", 2)),
    "riotiler_internal_mask": Scene(
        Band("riotiler_cog_uint8_rgb_mask.tif", 1), Band("riotiler_cog_uint8_rgb_mask.tif", 2)
    ),
    "riotiler_alpha": Scene(Band("riotiler_cog_uint8_rgba.tif", 1), Band("riotiler_cog_uint8_rgba.tif", 2)),
    "riotiler_msk_sidecar": Scene(Band("riotiler_CL_1_extmask.tif", 1), Band("riotiler_CL_1_extmask.tif", 2)),
    # every pixel nodata: no NDVI can be computed, the run must say so
    "riotiler_all_nodata": Scene(
        Band("riotiler_inverted_lat.tif"), Band("gdal_inverted_lat_nir.tif"), refused="no valid pixel"
    ),
    # made with GDAL's creation options by tests/data/real/make_gdal_made.py
    "gdal_uint8_alpha": Scene(Band("gdal_uint8_alpha.tif", 1), Band("gdal_uint8_alpha.tif", 2)),
    "gdal_int8_nodata": Scene(Band("gdal_int8_nodata.tif", 1), Band("gdal_int8_nodata.tif", 2)),
    "gdal_uint16_internal_mask": Scene(
        Band("gdal_uint16_internal_mask.tif", 1), Band("gdal_uint16_internal_mask.tif", 2)
    ),
    "gdal_uint32_msk_sidecar": Scene(
        Band("gdal_uint32_msk_sidecar.tif", 1), Band("gdal_uint32_msk_sidecar.tif", 2)
    ),
    "gdal_int16_scale_offset": Scene(
        Band("gdal_int16_scale_offset.tif", 1), Band("gdal_int16_scale_offset.tif", 2)
    ),
    "gdal_int32_scale_offset": Scene(
        Band("gdal_int32_scale_offset.tif", 1), Band("gdal_int32_scale_offset.tif", 2)
    ),
    "gdal_float32_nan_scale": Scene(
        Band("gdal_float32_nan_scale.tif", 1), Band("gdal_float32_nan_scale.tif", 2)
    ),
    "gdal_float64_nodata": Scene(Band("gdal_float64_nodata.tif", 1), Band("gdal_float64_nodata.tif", 2)),
}


def table_config(name: str, table: Table, engine: str | None = None) -> dict:
    """The config entry a scientist would write for ``table`` (``engine: None``: the default engine)."""
    entry = {"url": str(table.path), "groupby": table.groupby}
    if table.read_options:
        entry["read_options"] = dict(table.read_options)
    if table.blocksize:
        entry["blocksize"] = table.blocksize
    if engine:
        entry["engine"] = engine
    return entry


def scene_config(scene: Scene) -> dict:
    entry = {}
    for role in ("red", "nir"):
        band = getattr(scene, role)
        entry[role] = {"url": str(band.path), "band": band.band}
        if band.nodata:
            entry[role]["nodata"] = band.nodata
    return entry


def oracle_table(table: Table) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """pandas' means and counts (``rows`` + non-missing values of each averaged column) per group,
    and the mean magnitude of the values averaged (the scale of a sum's rounding: a mean that
    cancels to about 0 is compared with it, not with itself)."""
    frame = pd.read_csv(table.path, encoding=table.encoding, **table.read_options)
    groups = frame.groupby(table.groupby)
    means = groups.mean(numeric_only=True)
    counts = groups.count()[list(means.columns)]
    counts.insert(0, "rows", groups.size())
    magnitudes = frame[list(means.columns)].astype("float64").abs().groupby(frame[table.groupby]).mean()
    return means, counts, magnitudes


def read_band(band: Band) -> tuple[np.ndarray, np.ndarray, dict]:
    """(reflectance as float64, validity, grid) of one band, as rasterio and GDAL read it."""
    with rasterio.open(band.path) as src:
        i = band.band
        values = src.read(i).astype(np.float64) * src.scales[i - 1] + src.offsets[i - 1]
        valid = (src.read_masks(i) != 0) & np.isfinite(values)
        grid = {"crs": src.crs, "transform": src.transform, "shape": (src.height, src.width)}
    return values, valid, grid


def oracle_ndvi(scene: Scene) -> tuple[np.ndarray, dict]:
    """NDVI as float32 with NaN where invalid, and the red band's grid."""
    red, red_valid, grid = read_band(scene.red)
    nir, nir_valid, _ = read_band(scene.nir)
    total = nir + red
    valid = red_valid & nir_valid & (total != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = np.where(valid, (nir - red) / np.where(valid, total, 1.0), np.nan)
    return ndvi.astype(np.float32), grid

"""Write stand-ins for the lesson's data: the bundled sample and full-size copies.

The real files (Arctic Data Center, northeastern Siberia) cannot be fetched
everywhere, so this deterministic generator writes files with the same layout,
encoding and metadata:

* a soil-moisture CSV as R's ``write.csv`` writes it on Windows: Latin-1, CRLF,
  quoted strings, unquoted ``NA``, no row names, ``m³/m³ VWC`` in ``unit``;
* red and NIR single-band float32 GeoTIFFs in UTM 57N (EPSG:32657) with ~6 cm
  pixels, tiled, nodata -10000 outside a tilted flight footprint.

``--csv-scale 1 --raster-scale 1`` gives the lesson's size (~1.26 M rows,
3499 x 7443 px); larger scales give benchmark inputs (CSV: more logger ports;
raster: more pixels each side); the bundled sample is ``--sample``.

    python -m snakedask_tools.make_sample_data --sample --out resources/sample
    python -m snakedask_tools.make_sample_data --csv-scale 10 --raster-scale 4 --out /tmp/big
"""

import argparse
import math
from pathlib import Path

import numpy as np

SITES = ("DAVY", "HDF1", "LBR", "LDF2", "MDF1", "MDF2")
# Sensor depths in cm (negative = below the surface) of the two ports per site.
DEPTHS = {
    "DAVY": (-10, -15),
    "HDF1": (-8, -20),
    "LBR": (-12, -14),
    "LDF2": (-5, -18),
    "MDF1": (-10, -12),
    "MDF2": (-6, -22),
}
# The lesson's groupby("year").mean() of m_soil, which the stand-in follows.
YEAR_MEANS = {
    2014: 0.2737,
    2015: 0.2637,
    2016: 0.2936,
    2017: 0.2661,
    2018: 0.2824,
    2019: 0.2222,
    2020: 0.2525,
}
START = np.datetime64("2014-07-01T00:00")
END = np.datetime64("2020-07-01T00:00")  # ~1.26 M rows for 12 series, as the real file
HEADER = (
    "timestamp",
    "year",
    "doy",
    "hour",
    "minute",
    "site",
    "logger",
    "port",
    "sensor",
    "sensorZ",
    "m_soil",
    "unit",
)
UNIT = "m³/m³ VWC"
SENSOR = "5TM Moisture/Temp"

# Raster facts of RU_ANS_TR2_FL005M_{red,nir}.tif (the lesson's drone bands).
RASTER_HEIGHT, RASTER_WIDTH = 3499, 7443
PIXEL = 0.0598723  # metres
ORIGIN = (621986.3412, 7524789.1127)  # upper-left corner, EPSG:32657
RASTER_NODATA = -10000.0
CRS = "EPSG:32657"


def soil_moisture_rows(scale: float = 1.0, seed: int = 42):
    """Yield CSV text chunks (one per logger series) of the soil-moisture table.

    ``scale <= 1`` keeps every ``1/scale``-th half-hour (the sample);
    ``scale > 1`` adds logger ports so the table has ``scale`` times the rows.
    """
    rng = np.random.default_rng(seed)
    steps = np.arange(START, END, np.timedelta64(30, "m"))
    if scale < 1:
        # An odd stride keeps both :00 and :30 readings, as in the half-hourly original.
        steps = steps[:: max(1, round(1 / scale)) | 1]
    ports_per_site = 2 * max(1, math.ceil(scale))
    years = steps.astype("datetime64[Y]").astype(int) + 1970
    doy = (steps.astype("datetime64[D]") - steps.astype("datetime64[Y]")).astype(int) + 1
    minutes_of_day = (steps - steps.astype("datetime64[D]")).astype(int)
    hour, minute = minutes_of_day // 60, minutes_of_day % 60
    stamps = np.datetime_as_string(steps, unit="s")
    stamps = np.char.replace(stamps, "T", " ")
    year_level = np.vectorize(YEAR_MEANS.get)(years)
    # Soil is frozen (sensor reports NA) outside a thaw season that shifts by year.
    thaw_start = {y: 150 + int(rng.integers(-8, 9)) for y in YEAR_MEANS}
    thaw_end = {y: 285 + int(rng.integers(-8, 9)) for y in YEAR_MEANS}
    frozen = (doy < np.vectorize(thaw_start.get)(years)) | (doy > np.vectorize(thaw_end.get)(years))
    season = 0.03 * np.sin(2 * np.pi * (doy - 150) / 135.0)
    for site_index, site in enumerate(SITES):
        site_offset = (site_index - 2.5) * 0.008
        for port_index in range(ports_per_site):
            depth = DEPTHS[site][port_index % 2] - 2 * (port_index // 2)
            noise = rng.normal(0, 0.02, len(steps))
            m_soil = np.clip(year_level + site_offset + season + noise, 0.02, 0.6)
            # Loggers have outages: drop a few random windows of the series.
            keep = np.ones(len(steps), bool)
            for _ in range(3):
                start = int(rng.integers(0, len(steps)))
                keep[start : start + int(rng.integers(0, len(steps) // 40 + 1))] = False
            port = f"Port {3 + port_index}"
            lines = []
            for i in np.flatnonzero(keep):
                value = "NA" if frozen[i] else f"{m_soil[i]:.4f}".rstrip("0").rstrip(".")
                lines.append(
                    f'"{stamps[i]}",{years[i]},{doy[i]},{hour[i]},{minute[i]},"{site}",'
                    f'"{site}met","{port}","{SENSOR}",{depth},{value},"{UNIT}"\r\n'
                )
            yield "".join(lines)


def write_soil_moisture_csv(path: Path, scale: float = 1.0, seed: int = 42) -> Path:
    """Write the Latin-1, CRLF, R-``write.csv``-style soil-moisture table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", encoding="latin-1", newline="") as out:
        out.write(",".join(f'"{name}"' for name in HEADER) + "\r\n")
        out.writelines(soil_moisture_rows(scale, seed))
    tmp.replace(path)
    return path


def _band_values(band: str, rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """Smooth reflectance-like field at pixel centres (deterministic, window-free)."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(rows.astype(np.float64), cols.astype(np.float64), indexing="ij")
    vegetation = np.zeros_like(x)
    for _ in range(6):
        kx, ky = rng.uniform(0.002, 0.02, 2)
        vegetation += np.sin(kx * x + ky * y + rng.uniform(0, 2 * np.pi))
    vegetation = 0.5 + vegetation / 12.0  # ~[0, 1]
    # Pixel-level texture from a hash of the coordinates, so any window is reproducible.
    texture = np.sin(x * 12.9898 + y * 78.233 + (1 if band == "nir" else 2)) * 43758.5453
    texture = (texture - np.floor(texture) - 0.5) * 0.02
    if band == "red":
        value = 0.12 - 0.07 * vegetation + texture
    else:
        # Sparse vegetation and ponds reflect less NIR than red: negative NDVI.
        value = 0.05 + 0.45 * np.clip(vegetation, 0, 1) ** 1.5 + texture
    # Quantise to 1/4096 as 12-bit sensors do; it also keeps the sample small.
    return (np.round(np.clip(value, 0.001, 1.0) * 4096) / 4096).astype(np.float32)


def _footprint(rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> np.ndarray:
    """True inside a flight strip tilted by ~8 degrees, as a drone mosaic's footprint."""
    y, x = np.meshgrid(rows, cols, indexing="ij")
    u = (x - width / 2) * math.cos(0.14) + (y - height / 2) * math.sin(0.14)
    v = -(x - width / 2) * math.sin(0.14) + (y - height / 2) * math.cos(0.14)
    return (np.abs(u) < 0.46 * width) & (np.abs(v) < 0.40 * height)


# How band files are laid out: real GeoTIFFs come tiled or stripped, compressed or not.
LAYOUTS = {
    # the sample's and the lesson's layout: 256-px tiles, DEFLATE with the floating-point predictor
    "tiled-deflate": {
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
    },
    "tiled": {"tiled": True, "blockxsize": 256, "blockysize": 256},  # 256-px tiles, uncompressed
    "stripped": {"tiled": False},  # GDAL's default: uncompressed, one row per strip
}
DEFAULT_LAYOUT = "tiled-deflate"


def write_band(
    path: Path,
    band: str,
    height: int,
    width: int,
    seed: int = 7,
    pixel: float = PIXEL,
    layout: str = DEFAULT_LAYOUT,
) -> Path:
    """Write one float32 band as a GeoTIFF in ``layout`` (see LAYOUTS), row block by row block."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    profile = dict(
        driver="GTiff",
        height=height,
        width=width,
        count=1,
        dtype="float32",
        crs=CRS,
        transform=from_origin(ORIGIN[0], ORIGIN[1], pixel, pixel),
        nodata=RASTER_NODATA,
        BIGTIFF="IF_SAFER",
        **LAYOUTS[layout],
    )
    cols = np.arange(width)
    with rasterio.open(tmp, "w", **profile) as dst:
        for top in range(0, height, 1024):
            rows = np.arange(top, min(top + 1024, height))
            values = _band_values(band, rows, cols, seed)
            values[~_footprint(rows, cols, height, width)] = RASTER_NODATA
            dst.write(values, 1, window=Window(0, top, width, len(rows)))
    tmp.replace(path)
    return path


def copy_band(source: Path, path: Path, layout: str) -> Path:
    """Copy a band file into another ``layout``: the same pixels, much faster than generating them again."""
    import rasterio.shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    rasterio.shutil.copy(source, tmp, driver="GTiff", BIGTIFF="IF_SAFER", **LAYOUTS[layout])
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument(
        "--sample",
        action="store_true",
        help="the small bundled sample (CSV scale 0.005, raster 1/12 per side)",
    )
    parser.add_argument("--csv-scale", type=float, default=1.0, help="rows relative to the lesson's CSV")
    parser.add_argument(
        "--raster-scale",
        type=float,
        default=1.0,
        help="pixels per side relative to the lesson's 3499 x 7443 bands",
    )
    parser.add_argument(
        "--layout",
        choices=sorted(LAYOUTS),
        default=DEFAULT_LAYOUT,
        help="how the bands are stored (default: %(default)s, as the lesson's files)",
    )
    parser.add_argument("--skip-csv", action="store_true")
    parser.add_argument("--skip-raster", action="store_true")
    args = parser.parse_args(argv)
    csv_scale, raster_scale = (0.005, 1 / 12) if args.sample else (args.csv_scale, args.raster_scale)
    if not args.skip_csv:
        print(write_soil_moisture_csv(args.out / "dg_soil_moisture.csv", csv_scale))
    if not args.skip_raster:
        height, width = round(RASTER_HEIGHT * raster_scale), round(RASTER_WIDTH * raster_scale)
        for band in ("red", "nir"):
            print(
                write_band(
                    args.out / f"RU_ANS_TR2_FL005M_{band}.tif", band, height, width, layout=args.layout
                )
            )


if __name__ == "__main__":
    main()

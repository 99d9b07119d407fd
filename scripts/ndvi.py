"""NDVI = (NIR - red) / (NIR + red) from two GeoTIFF bands, chunked with Dask.

As in the lesson the bands are opened with ``rioxarray.open_rasterio(chunks=...)``;
here each band's nodata is masked first, pixels where either band is nodata or
``NIR + red == 0`` become the output's own nodata (NaN, never the inputs'
nodata: 0 in a uint16 product would collide with a real NDVI of 0), and the
result is written as float32 with the inputs' CRS and transform unchanged.

Writing is streamed: ``rio.to_raster(..., lock=distributed.Lock("rio"))`` lets
the workers compute and write window by window (without a lock rioxarray
gathers the whole array into one process); GDAL then adds overviews and copies
the result into a Cloud-Optimized GeoTIFF, under a temporary name then renamed.
Statistics (``ndvi_stats.json``) come from the same pass over the pixels.
"""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray
import xarray as xr

from atomic_output import final_path, raise_if_disk_full
from raster_stats import lazy_statistics, summarise

OUTPUT_NODATA = np.float32(np.nan)
# The workers stream NDVI into an uncompressed tiled GeoTIFF (cheap to write in
# parallel), GDAL adds overviews to it, then copies it once into the product:
# a Cloud-Optimized GeoTIFF (tiled, overviews first), written by GDAL's COG
# driver block by block. ZSTD level 1 with the floating-point predictor: as small
# as DEFLATE on NDVI and ~3x faster to write (any GDAL >= 2.3 reads it).
STAGE_OPTIONS = dict(driver="GTiff", dtype="float32", tiled=True, blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER")
COG_OPTIONS = dict(driver="COG", dtype="float32", compress="ZSTD", level=1, predictor="YES", blocksize=256,
                   bigtiff="IF_SAFER", num_threads="ALL_CPUS")
# GDAL's block cache for the overview and COG steps (its default, 5 % of RAM, only adds memory here).
GDAL_CACHE_MB = 256


class RasterError(ValueError):
    """A band file cannot be used as it is."""


class GridMismatch(RasterError):
    """Red and NIR are not on the same pixel grid."""


def _open(path: str | Path, chunks: Any) -> xr.DataArray:
    import rasterio

    try:
        # Absolute: workers of an existing cluster run in other folders (or on other nodes).
        return rioxarray.open_rasterio(Path(path).absolute(), chunks=tile_aligned_chunks(path, chunks), masked=False)
    except (rasterio.errors.RasterioError, OSError) as err:
        size = Path(path).stat().st_size if Path(path).exists() else 0
        raise RasterError(
            f"{path} ({size} bytes) is not a readable GeoTIFF: {err}. Check the file behind the scene's `url:` "
            "(an HTML error page or a cut-off download?), then delete it and run again."
        ) from None


def tile_aligned_chunks(path: str | Path, chunks: Any) -> Any:
    """Turn a byte-size chunk request ("15MB", "auto") into whole multiples of the file's tiles.

    Chunks that straddle the file's internal tiles make every tile be read
    (and decompressed) twice and the output's tiles be written in pieces;
    square multiples of the block size avoid both. Other requests pass through.
    """
    if not isinstance(chunks, str):
        return chunks
    import dask
    import rasterio
    from dask.utils import parse_bytes

    target = parse_bytes(dask.config.get("array.chunk-size") if chunks == "auto" else chunks)
    with rasterio.open(path) as src:
        block_y, block_x = src.block_shapes[0]
        itemsize = np.dtype(src.dtypes[0]).itemsize
    side = int(np.sqrt(target / itemsize))
    return {"band": 1, "y": max(block_y, side // block_y * block_y), "x": max(block_x, side // block_x * block_x)}


def open_band(path: str | Path, band: int = 1, chunks: Any = "15MB", nodata: float | str | None = None,
              scale: float = 1.0, offset: float = 0.0) -> xr.DataArray:
    """One band as float32 reflectance (``value * scale + offset``) with nodata as NaN.

    ``nodata`` replaces the file's own nodata value (for files that lack it or
    declare a wrong one); ``"none"`` says every finite value is valid. A file
    without nodata and no ``nodata`` setting is an error: silently treating its
    fill value (often -10000 or 0) as reflectance would give plausible-looking
    wrong NDVI. Integer bands become float32 before any arithmetic, so
    ``nir - red`` cannot wrap around nor ``nir + red`` overflow.
    """
    raster = _open(path, chunks)
    count = raster.sizes["band"]
    if not 1 <= band <= count:
        raise RasterError(
            f"{path}: band {band} requested but the file has {count} band(s). Bands count from 1; "
            "fix the scene's `band:`.")
    data = raster.isel(band=band - 1, drop=True)
    if nodata is None:
        nodata = data.rio.nodata
        if nodata is None:
            raise RasterError(
                f"{path} declares no nodata value. Set `nodata:` on the scene (the value marking missing "
                "pixels, e.g. -10000 for Pix4D mosaics, 0 for most satellite products), or `nodata: none` "
                "if every pixel is valid.")
    values = data.astype("float32")
    valid = np.isfinite(values)
    if nodata != "none" and not np.isnan(nodata):
        valid &= data != nodata
    if scale != 1.0 or offset != 0.0:
        values = values * np.float32(scale) + np.float32(offset)
    return values.where(valid)


def describe_grid(raster: xr.DataArray) -> str:
    crs = raster.rio.crs
    return f"{crs.to_string() if crs else 'no CRS'}, {raster.rio.height} x {raster.rio.width} px, transform {tuple(raster.rio.transform())[:6]}"


def check_same_grid(red: xr.DataArray, nir: xr.DataArray, red_name: str = "red", nir_name: str = "nir") -> None:
    """Raise :class:`GridMismatch` naming both grids unless CRS, shape and transform agree."""
    same_shape = red.shape == nir.shape
    same_crs = red.rio.crs == nir.rio.crs
    # Tolerate only float noise: a hundred-millionth of a pixel.
    same_transform = red.rio.transform().almost_equals(nir.rio.transform(), precision=abs(red.rio.transform().a) * 1e-8)
    if not (same_shape and same_crs and same_transform):
        raise GridMismatch(
            f"red and NIR bands are on different grids:\n  {red_name}: {describe_grid(red)}\n"
            f"  {nir_name}: {describe_grid(nir)}\nNDVI needs both on one grid: "
            "reproject one band onto the other (e.g. `gdalwarp` or `rio.reproject_match`) first."
        )


def ndvi(red: xr.DataArray, nir: xr.DataArray) -> xr.DataArray:
    """NDVI as float32; NaN where either band is NaN or ``nir + red == 0``."""
    total = nir + red
    index = ((nir - red) / total.where(total != 0)).astype("float32")
    index.name = "ndvi"
    index.attrs = {"long_name": "NDVI", "units": "1"}
    return index.rio.write_nodata(OUTPUT_NODATA, encoded=False)


def compute_ndvi(red_path: str | Path, nir_path: str | Path, red: dict | None = None, nir: dict | None = None,
                 chunks: Any = "15MB") -> xr.DataArray:
    """Lazy NDVI of the two files, after checking that they share one grid.

    ``red``/``nir`` hold :func:`open_band` settings: ``band``, ``nodata``, ``scale``, ``offset``.
    """
    red_band = open_band(red_path, chunks=chunks, **(red or {}))
    nir_band = open_band(nir_path, chunks=chunks, **(nir or {}))
    check_same_grid(red_band, nir_band, str(red_path), str(nir_path))
    return ndvi(red_band, nir_band)


def add_overviews(path: Path, smallest: int = 256) -> list[int]:
    """Average overviews (2, 4, 8, ...) until the coarsest fits in ``smallest`` pixels."""
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(path, "r+") as dst:
        factors, factor = [], 2
        while max(dst.height, dst.width) // (factor // 2) > smallest:  # the coarsest level so far is too big
            factors.append(factor)
            factor *= 2
        if factors:
            dst.build_overviews(factors, Resampling.average)
            dst.update_tags(ns="rio_overview", resampling="average")
    return factors


def write_ndvi(index: xr.DataArray, path: str | Path, lock: Any = None) -> dict[str, Any]:
    """Write NDVI as a Cloud-Optimized GeoTIFF and return its statistics (see raster_stats).

    The workers write the pixels window by window (never gathered into one
    process) while the statistics are computed in the same pass; the transform
    is kept exactly as read. A result without a single valid pixel is an error.
    """
    import dask
    import rasterio
    import rasterio.shutil

    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named like atomic_path's temporary files, so a killed run's stage is cleaned up as theirs are.
    stage = path.with_name(f".{final_path(path).stem}.{os.getpid()}-stage.partial{path.suffix}")
    try:
        written = index.rio.to_raster(
            stage, **STAGE_OPTIONS,
            recalc_transform=False,  # recalculating drifts the transform in its last digits
            lock=lock, compute=False,
        )
        _, computed = dask.compute(written, lazy_statistics(index.data))
        if int(computed["count"]) == 0:
            raise RasterError(
                "NDVI has no valid pixel: every pixel is nodata in red or NIR (or NIR + red = 0). "
                "Check the bands' `nodata:` and `band:` settings and that they cover the same area.")
        add_overviews(stage)
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            rasterio.shutil.copy(stage, path, overviews="FORCE_USE_EXISTING", **COG_OPTIONS)
    except Exception as err:
        raise_if_disk_full(path, err)  # while the failed files still fill the disk
        raise
    finally:
        stage.unlink(missing_ok=True)
    return summarise(computed)


def main(smk) -> None:
    from rule_log import log_to_file

    log = log_to_file(smk.log[0])
    from distributed import Lock

    from atomic_output import DiskFullError, atomic_path, write_text
    from dask_cluster import dask_client, performance_report_to

    index = compute_ndvi(smk.input.red, smk.input.nir, smk.params.red, smk.params.nir, smk.params.chunks)
    log.info("NDVI %s, chunks %s", describe_grid(index), index.chunks)
    with dask_client(smk.config["dask"], smk.threads, smk.resources.get("mem_mb")):
        with atomic_path(smk.output.tif) as tmp, atomic_path(smk.output.dask_report) as report:
            with performance_report_to(report, smk.config["dask"]["performance_report"]):
                try:
                    stats = write_ndvi(index, tmp, lock=Lock("rio"))
                except (RasterError, DiskFullError):
                    raise
                except Exception as err:  # GDAL read errors arrive from the workers re-wrapped
                    raise RasterError(
                        f"reading {smk.input.red} / {smk.input.nir} or writing {smk.output.tif} failed: {err}. "
                        "A truncated or corrupt band file? Delete it and run again.") from err
        write_text(smk.output.stats, json.dumps(stats, indent=2) + "\n")
        log.info("wrote %s (%d valid pixels) and %s", smk.output.tif, stats["count_valid"], smk.output.stats)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive

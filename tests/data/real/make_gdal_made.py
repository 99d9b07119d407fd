"""Make the ``rasters/gdal_*.tif`` files of the real-file corpus with GDAL's own creation options.

Run from anywhere with the project's Python: ``python tests/data/real/make_gdal_made.py``.
The files are committed; this script documents how they were made and remakes them.

The pixel values are not invented: they are the two real Landsat bands that rio-tiler ships
(``rasters/riotiler_red.tif`` and ``rasters/riotiler_green.tif``, uint16, nodata 0; their
north-west 160 x 160 pixels), rescaled to each data type. What each file adds is the way GDAL stores types and validity:

* ``gdal_uint8_alpha.tif``: RGB + alpha band (``PHOTOMETRIC=RGB``, ``ALPHA=YES``), no nodata;
  the hidden pixels hold 77, a value a reader that ignores the alpha band would take as data.
* ``gdal_int8_nodata.tif``: int8, nodata -128.
* ``gdal_uint16_internal_mask.tif``: uint16 with an internal per-dataset mask
  (``GDAL_TIFF_INTERNAL_MASK=YES``), no nodata; masked pixels hold 65535.
* ``gdal_uint32_msk_sidecar.tif`` (+ ``.msk``): uint32 whose mask is a ``.msk`` sidecar file
  (``GDAL_TIFF_INTERNAL_MASK=NO``); masked pixels hold 4000000000.
* ``gdal_int16_scale_offset.tif``: int16 with Sentinel-2-like scale 0.0001 / offset -0.1 tags, nodata -32768.
* ``gdal_int32_scale_offset.tif``: int32, a different scale and offset per band, nodata -2147483648.
* ``gdal_float32_nan_scale.tif``: float32, nodata NaN, scale 0.01 tags.
* ``gdal_float64_nodata.tif``: float64, nodata -9999.
* ``gdal_rotated_nir.tif``: a second band for rasterio's single-band ``rotated.tif`` on its rotated
  grid (255 - value), so that file can be a scene.
* ``gdal_inverted_lat_nir.tif``: a second band for rio-tiler's bottom-up ``inverted_lat.tif``
  (value * 0.5 + 20, nodata -9999 kept), so that file can be a scene.
"""

from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

HERE = Path(__file__).resolve().parent / "rasters"
WINDOW = Window(0, 0, 160, 160)  # the north-west corner of the scene (with its nodata border): small files
COMMON = {"driver": "GTiff", "compress": "deflate", "tiled": True, "blockxsize": 128, "blockysize": 128}


def landsat():
    """The two real bands (float64), their validity and their grid."""
    with rasterio.open(HERE / "riotiler_red.tif") as red, rasterio.open(HERE / "riotiler_green.tif") as green:
        a, b = (src.read(1, window=WINDOW).astype(np.float64) for src in (red, green))
        valid = (red.read_masks(1, window=WINDOW) != 0) & (green.read_masks(1, window=WINDOW) != 0)
        grid = {"crs": red.crs, "transform": red.window_transform(WINDOW), "height": 160, "width": 160}
    return a, b, valid, grid


def rescale(values, valid, low, high):
    """Valid values mapped linearly onto [low, high], rounded."""
    v = values[valid]
    out = np.full(values.shape, low, np.float64)
    out[valid] = np.round(low + (values[valid] - v.min()) / (v.max() - v.min()) * (high - low))
    return out


def write(name, bands, dtype, *, nodata=None, scales=None, offsets=None, masks=None, env=None, **options):
    profile = {**COMMON, **GRID, "count": len(bands), "dtype": dtype, "nodata": nodata, **options}
    with rasterio.Env(**(env or {})), rasterio.open(HERE / name, "w", **profile) as dst:
        dst.write(np.stack([b.astype(dtype) for b in bands]))
        if scales:
            dst.scales = scales
        if offsets:
            dst.offsets = offsets
        if masks is not None:
            dst.write_mask(masks)


def main():
    global GRID
    a, b, valid, GRID = landsat()
    # The files below hide one more rectangle, so that validity differs from the source's nodata.
    hidden = valid.copy()
    hidden[40:80, 30:120] = False

    r8, g8 = rescale(a, valid, 1, 254), rescale(b, valid, 1, 254)
    blue8 = rescale(a + b, valid, 1, 254)
    alpha = np.where(hidden, 255, 0)
    write(
        "gdal_uint8_alpha.tif",
        [np.where(hidden, x, 77) for x in (r8, g8, blue8)] + [alpha],
        "uint8",
        photometric="RGB",
        alpha="YES",
    )
    write(
        "gdal_int8_nodata.tif",
        [np.where(hidden, rescale(x, valid, -127, 127), -128) for x in (a, b)],
        "int8",
        nodata=-128,
    )
    mask = np.where(hidden, 255, 0).astype(np.uint8)
    write(
        "gdal_uint16_internal_mask.tif",
        [np.where(hidden, x, 65535) for x in (a, b)],
        "uint16",
        masks=mask,
        env={"GDAL_TIFF_INTERNAL_MASK": True},
    )
    write(
        "gdal_uint32_msk_sidecar.tif",
        [np.where(hidden, x * 1000, 4_000_000_000) for x in (a, b)],
        "uint32",
        masks=mask,
        env={"GDAL_TIFF_INTERNAL_MASK": False},
    )
    write(
        "gdal_int16_scale_offset.tif",
        [np.where(hidden, rescale(x, valid, 1200, 9000), -32768) for x in (a, b)],
        "int16",
        nodata=-32768,
        scales=(0.0001, 0.0001),
        offsets=(-0.1, -0.1),
    )
    write(
        "gdal_int32_scale_offset.tif",
        [np.where(hidden, rescale(x, valid, -20000, 90000), -2147483648) for x in (a, b)],
        "int32",
        nodata=-2147483648,
        scales=(0.00001, 0.00002),
        offsets=(0.6, 0.9),
    )
    write(
        "gdal_float32_nan_scale.tif",
        [np.where(hidden, x, np.nan) for x in (a, b)],
        "float32",
        nodata=np.nan,
        scales=(0.01, 0.01),
        offsets=(0.0, 0.0),
        predictor=3,
    )
    write(
        "gdal_float64_nodata.tif",
        [np.where(hidden, x / 7.0, -9999.0) for x in (a, b)],
        "float64",
        nodata=-9999.0,
        predictor=3,
    )

    # Partners for two real single-band files, on their own grids.
    with rasterio.open(HERE / "rasterio_rotated.tif") as src:
        profile, data = src.profile, src.read(1)
    with rasterio.open(HERE / "gdal_rotated_nir.tif", "w", **profile) as dst:
        dst.write(255 - data, 1)
    with rasterio.open(HERE / "riotiler_inverted_lat.tif") as src:
        profile, data = src.profile, src.read(1)
    nir = np.where(data == src.nodata, data, data * 0.5 + 20).astype(data.dtype)
    with rasterio.open(HERE / "gdal_inverted_lat_nir.tif", "w", **profile) as dst:
        dst.write(nir, 1)


if __name__ == "__main__":
    main()

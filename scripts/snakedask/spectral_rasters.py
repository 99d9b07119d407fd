"""NDVI = (NIR - red) / (NIR + red) from two GeoTIFF bands, chunked with Dask.

As in the lesson the bands are opened with ``rioxarray.open_rasterio(chunks=...)``;
here a pixel is valid where GDAL says so (not the nodata value, finite, and
not 0 in the band's mask: an alpha band, an internal or ``.msk`` mask, read
block by block only for bands that have one; :func:`band_pixels`), and the
file's scale/offset tags apply unless the config sets its own. Pixels where a
band is invalid or ``NIR + red == 0`` become the output's own nodata (NaN,
never the inputs' nodata: 0 in a uint16 product would collide with a real
NDVI of 0); reflectance and NDVI are computed in float64 and written as
float32 with the inputs' CRS and transform unchanged.

One Dask pass does everything per block: one fused kernel turns the raw bands
into NDVI, and the same block is summarised (``ndvi_stats.json``), averaged
into the overview levels and compressed into the Cloud-Optimized GeoTIFF's
tiles (:mod:`cog_writer`), which are then laid out once in COG order. Chunks
follow the files' layout (full-width bands of whole tile rows or strips), so
no block of the inputs is read twice.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import rioxarray
import xarray as xr

from snakedask.atomic_output import final_path, raise_if_disk_full
from snakedask.cog_writer import TILE, CogProduct, write_cogs
from snakedask.errors import GridMismatch, RasterError
from snakedask.raster_kernels import NO_MASK, nodata_in, normalized_difference, reflectance
from snakedask.raster_stats import lazy_statistics, summarise
from snakedask.spectral_indices import REGISTRY, SpectralIndex, lookup

OUTPUT_NODATA = np.float32(np.nan)
# GDAL's block cache (default: 5 % of RAM) only adds memory here: every block is read once.
GDAL_CACHE_MB = 64


def read_in_place(path: str | Path) -> bool:
    """Whether ``path`` is a GDAL virtual path to an object read in place (``/vsis3/``, ``/vsicurl/``)."""
    return str(path).startswith("/vsi")


def readable_path(path: str | Path) -> str:
    """``path`` as GDAL opens it anywhere: absolute (workers of an existing cluster run in other
    folders), or a GDAL virtual path (``/vsis3/...``, ``/vsicurl/https://...``) as it is."""
    return str(path) if read_in_place(path) else str(Path(path).absolute())


def unreadable(path: str | Path, err: Exception) -> "RasterError":
    if read_in_place(path):
        return RasterError(
            f"{path} is not a readable GeoTIFF: {err}. Check the object behind the scene's `url:` and, for "
            "/vsis3/, the AWS_* variables of every process that reads it (the Dask workers too)."
        )
    size = Path(path).stat().st_size if Path(path).exists() else 0
    return RasterError(
        f"{path} ({size} bytes) is not a readable GeoTIFF: {err}. Check the file behind the scene's `url:` "
        "(an HTML error page or a cut-off download?), then delete it and run again."
    )


def find_unreadable(paths: list[str | Path]) -> RasterError | None:
    """The error for the first of ``paths`` that GDAL cannot read whole, block by block; None if all read.

    For after a failed computation: an error raised on a worker may reach the
    job as a plain ``Exception`` (its type not rebuilt), so the files themselves
    say whether a truncated or corrupt band was the cause.
    """
    import rasterio

    for path in paths:
        try:
            with rasterio.open(path) as src:
                for band in src.indexes:
                    for _, window in src.block_windows(band):
                        src.read(band, window=window)
        except (rasterio.errors.RasterioError, OSError) as err:
            return unreadable(path, err)
    return None


def _open(path: str | Path, chunks: Any) -> xr.DataArray:
    import rasterio

    try:
        # lock=False: blocks are read in parallel, each through its own file handle.
        return rioxarray.open_rasterio(readable_path(path), chunks=chunks, masked=False, lock=False)
    except (rasterio.errors.RasterioError, OSError) as err:
        raise unreadable(path, err) from None


def layout_chunks(path: str | Path, chunks: Any) -> Any:
    """Turn a byte-size chunk request ("15MB", "auto") into block shapes that suit the file's layout.

    Blocks are bands of whole rows of the file's blocks (strips, or tiles) across
    the full width, at least 256 rows and as many as the request allows: every
    block of the file is read once, and each band holds whole rows of output
    tiles. Where even 256 rows of the full width would exceed 8 times the
    request (very wide tiled files), squares of 256 x 2^k px made of whole
    tiles are used instead (the power of two nearest the request). Stripped
    files always get bands, since reading part of a strip reads all of it.

    Sizes count float32 pixels, what the computation holds. Other requests
    (pixel counts, mappings) pass through unchanged.
    """
    if not isinstance(chunks, str):
        return chunks
    import dask
    import rasterio
    from dask.utils import parse_bytes

    target = parse_bytes(dask.config.get("array.chunk-size") if chunks == "auto" else chunks)
    try:
        with rasterio.open(path) as src:
            block_y, block_x = src.block_shapes[0]
            height, width = src.height, src.width
    except (rasterio.errors.RasterioError, OSError) as err:
        raise unreadable(path, err) from None
    pixels = max(1, target // 4)
    row_step = math.lcm(block_y, TILE)
    stripped = block_x >= width
    if stripped or row_step * width <= 8 * pixels:
        rows = _multiple(max(TILE, math.ceil(pixels / width)), row_step)
        return {"band": 1, "y": min(rows, height), "x": -1}
    side = TILE * 2 ** max(0, round(math.log2(math.sqrt(pixels) / TILE)))
    return {"band": 1, "y": _multiple(side, block_y), "x": _multiple(side, block_x)}


def _multiple(size: int, step: int) -> int:
    """``size`` rounded up to a multiple of ``step``."""
    return max(step, math.ceil(size / step) * step)


@dataclass(frozen=True)
class BandPixels:
    """How one band's stored values become reflectance, and which of its pixels are valid.

    A pixel is valid where its value is finite and not ``nodata``, and where
    ``mask`` says so: ``"gdal"`` is GDAL's mask of band ``mask_band``
    (``read_masks``: an alpha band, an internal or ``.msk`` mask; band 1's for
    a mask all bands share), ``"alpha"`` the values of the file's alpha band
    ``mask_band``, which GDAL's mask ignores when the file also declares
    nodata. Bands that share a mask name the same ``mask_band``, so it is
    read once. ``sources`` says where each setting came from, for the log.
    """

    path: str
    band: int = 1
    nodata: float | None = None
    scale: float = 1.0
    offset: float = 0.0
    mask: str | None = None
    mask_band: int | None = None
    sources: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the rule log: the settings and where each came from."""
        name = self.path if read_in_place(self.path) else Path(self.path).name  # in place: say where
        return f"{name} band {self.band}: " + "; ".join(self.sources)


def band_pixels(
    path: str | Path,
    band: int = 1,
    nodata: float | str | None = None,
    scale: float | None = None,
    offset: float | None = None,
) -> BandPixels:
    """The settings of band ``band`` of ``path``: the config's (the arguments) over the file's metadata.

    ``nodata`` replaces only the file's nodata *value* (for files that lack it
    or declare a wrong one); ``"none"``: no value is nodata. Masks (an alpha
    band, an internal or ``.msk`` mask) apply whatever ``nodata`` says. A file
    with neither a nodata value nor a mask, and no ``nodata`` setting, is an
    error: silently treating its fill value (often -10000 or 0) as reflectance
    would give plausible-looking wrong indices.

    ``scale`` and ``offset`` replace the file's (GDAL's scale/offset metadata)
    together: if either is given, the other defaults to 1 or 0; if neither
    is, the file's apply (1 and 0 where it has none).
    """
    import rasterio
    from rasterio.enums import ColorInterp, MaskFlags

    try:
        with rasterio.open(path) as src:
            count = src.count
            if not 1 <= band <= count:
                raise RasterError(
                    f"{path}: band {band} requested but the file has {count} band(s). Bands count from 1; "
                    "fix the scene's `band:`."
                )
            file_nodata = src.nodatavals[band - 1]
            band_dtype = src.dtypes[band - 1]  # a name: "uint16", "float32", "complex_int16", ...
            file_scale, file_offset = src.scales[band - 1], src.offsets[band - 1]
            flags = set(src.mask_flag_enums[band - 1])
            alphas = [i for i, kind in enumerate(src.colorinterp, start=1) if kind == ColorInterp.alpha]
    except (rasterio.errors.RasterioError, OSError) as err:
        raise unreadable(path, err) from None
    if band_dtype.startswith("complex"):
        raise RasterError(
            f"{path}: band {band} holds complex numbers ({band_dtype}), which a spectral index cannot use. "
            "Convert it to reflectance first, e.g. `gdal_translate -ot Float32` of its amplitude "
            "(`gdal_calc.py --calc='abs(A)'`), and point the scene's `url:` at the result."
        )
    if file_nodata is not None and np.isfinite(file_nodata) and band_dtype.startswith(("int", "uint")):
        # GDAL's mask of an integer band truncates a fractional nodata (0.5 masks 0, -1.5 masks -1).
        file_nodata = float(math.trunc(file_nodata))
    mask, mask_band, sources = None, None, []
    if not flags & {MaskFlags.all_valid, MaskFlags.nodata}:
        mask, mask_band = "gdal", 1 if MaskFlags.per_dataset in flags else band
        kind = "alpha band" if MaskFlags.alpha in flags else "mask band (internal or .msk)"
        sources.append(f"mask: the file's {kind}")
    elif alphas and band not in alphas:  # GDAL's mask is the nodata one; the alpha band applies too
        mask, mask_band = "alpha", alphas[0]
        sources.append(f"mask: the file's alpha band {mask_band}")
    if nodata is None and band_dtype in ("int64", "uint64") and abs(file_nodata or 0) >= 2**53:
        # rasterio gives nodata as a float64, which cannot hold this one exactly (2**60 + 1 reads as
        # 2**60, another pixel value): GDAL's own nodata mask says which pixels it marks.
        if mask is not None:
            raise RasterError(
                f"{path}: band {band} ({band_dtype}) declares nodata {file_nodata:.17g}, too large to read "
                f"exactly, beside an alpha band. Set the scene's `nodata:` to the exact value (`gdalinfo "
                f"{path}` shows it)."
            )
        mask, mask_band, file_nodata = "gdal", band, None
        sources.append("mask: GDAL's nodata mask (its nodata is beyond float64's exact integers)")
    if nodata is None:
        if file_nodata is None and mask is None:
            raise RasterError(
                f"{path} declares no nodata value. Set `nodata:` on the scene (the value marking missing "
                "pixels, e.g. -10000 for Pix4D mosaics, 0 for most satellite products), or `nodata: none` "
                "if every pixel is valid. (A mask would do instead: an alpha band, an internal or .msk "
                "mask; the file has none.)"
            )
        nodata = file_nodata
        sources.insert(0, f"nodata {_number(nodata)} (file)")
    else:
        sources.insert(0, f"nodata {_number(nodata)} (config)")
        _check_config_nodata(path, band, band_dtype, nodata)
    if nodata is None or nodata == "none" or (isinstance(nodata, float) and np.isnan(nodata)):
        nodata = None
    elif not (isinstance(nodata, int) and not isinstance(nodata, bool)):  # integers stay exact (uint64)
        nodata = float(nodata)
    file_says = f"scale {_number(file_scale)}, offset {_number(file_offset)}"
    if scale is None and offset is None:
        scale, offset = file_scale, file_offset
        tagged = (scale, offset) != (1.0, 0.0)
        sources.insert(1, f"{file_says} ({'file' if tagged else 'none set: raw values'})")
    else:
        scale = 1.0 if scale is None else float(scale)
        offset = 0.0 if offset is None else float(offset)
        ignored = f"; the file's {file_says} ignored" if (file_scale, file_offset) != (1.0, 0.0) else ""
        sources.insert(1, f"scale {_number(scale)}, offset {_number(offset)} (config{ignored})")
    return BandPixels(str(path), band, nodata, float(scale), float(offset), mask, mask_band, tuple(sources))


def _check_config_nodata(path: str | Path, band: int, band_dtype: str, nodata: float | str) -> None:
    """A config ``nodata`` that no value of an integer band can equal would silently mark nothing."""
    if nodata == "none" or not band_dtype.startswith(("int", "uint")):
        return
    info = np.iinfo(band_dtype)
    if not (float(nodata).is_integer() and info.min <= nodata <= info.max):
        raise RasterError(
            f"{path}: band {band} is {band_dtype} (whole numbers from {info.min} to {info.max}), so "
            f"`nodata: {nodata}` can never match a pixel. Fix the scene's `nodata:` (`gdalinfo` shows the "
            "band's values), or `nodata: none` if every pixel is valid."
        )


def _number(value: float | str | None) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else f"{value:g}"


def open_band(
    path: str | Path,
    band: int = 1,
    chunks: Any = "15MB",
    nodata: float | str | None = None,
    scale: float | None = None,
    offset: float | None = None,
) -> tuple[xr.DataArray, BandPixels, da.Array | None]:
    """One band's raw values (lazy, 2-D), its :func:`band_pixels` settings and its mask (lazy, or None).

    The mask (uint8, 0 = invalid) is read in the raw values' chunks, each
    block through its own file handle (``read_masks``, or the alpha band);
    bands whose GDAL mask is their nodata or all-valid have none, and cost
    nothing more. Its tasks are named after what they read, so bands (and
    indices) that share a mask read it once.
    """
    pixels = band_pixels(path, band, nodata, scale, offset)
    data = _open(path, layout_chunks(path, chunks)).isel(band=band - 1, drop=True)
    valid = None
    if pixels.mask:
        valid = da.map_blocks(
            _read_valid,
            path=readable_path(path),
            kind=pixels.mask,
            mask_band=pixels.mask_band,
            chunks=data.data.chunks,
            dtype=np.uint8,
            meta=np.empty((0, 0), np.uint8),
        )
    return data, pixels, valid


def _read_valid(path: str, kind: str, mask_band: int, block_info: Any = None) -> np.ndarray:
    """One block of a mask (uint8, 0 = invalid): GDAL's ``read_masks`` of ``mask_band``, or that alpha band."""
    import rasterio
    from rasterio.windows import Window

    (top, bottom), (left, right) = block_info[None]["array-location"]
    window = Window(left, top, right - left, bottom - top)
    with rasterio.open(path) as src:
        if kind == "alpha":
            return (src.read(mask_band, window=window) != 0).view(np.uint8)
        return src.read_masks(mask_band, window=window)


def _kernel_settings(raw: np.ndarray, valid: np.ndarray | None, pixels: BandPixels) -> list:
    has_nodata, nodata = nodata_in(raw.dtype, pixels.nodata)
    scaled = pixels.scale != 1.0 or pixels.offset != 0.0
    return [
        raw,
        NO_MASK if valid is None else valid,
        valid is not None,
        has_nodata,
        nodata,
        scaled,
        np.float64(pixels.scale),
        np.float64(pixels.offset),
    ]


def _split(blocks: tuple[np.ndarray, ...], pixels: tuple[BandPixels, ...]) -> list[tuple]:
    """(raw, mask or None) per band from ``blocks``: the raw blocks, then the masks of the masked bands."""
    masks = iter(blocks[len(pixels) :])
    return [
        (raw, next(masks) if p.mask else None) for raw, p in zip(blocks[: len(pixels)], pixels, strict=True)
    ]


def ndvi_kernel(*blocks: np.ndarray, pixels: tuple[BandPixels, BandPixels]) -> np.ndarray:
    """NDVI of one block: float32, NaN where a band is invalid or ``nir + red == 0``.

    ``blocks``: the raw red and NIR blocks, then the masks of the bands that
    have one (see :func:`open_band`). Each band becomes ``raw * scale + offset``
    (NaN where invalid) and NDVI is computed in float64, rounded to float32
    once, in one compiled pass (:func:`raster_kernels.normalized_difference`);
    integer bands cannot wrap around nor overflow.
    """
    (red, red_valid), (nir, nir_valid) = _split(blocks, pixels)
    settings = [*_kernel_settings(red, red_valid, pixels[0]), *_kernel_settings(nir, nir_valid, pixels[1])]
    return normalized_difference(*settings, np.empty(red.shape, np.float32))


ROWS_PER_STEP_PIXELS = 1 << 20  # float64 temporaries of index_kernel: about 8 MB each


def index_kernel(
    *blocks: np.ndarray, bands: tuple[str, ...], pixels: tuple[BandPixels, ...], index_name: str
) -> np.ndarray:
    """Spectral index ``index_name`` of one block (``blocks`` as :func:`ndvi_kernel`'s, in ``bands`` order).

    Each band becomes float64 reflectance (NaN where invalid), then the
    registry's formula in float64, rounded to float32 once; NaN where a band
    is invalid or the denominator is 0. Done a few rows at a time, so the
    float64 temporaries stay small.
    """
    split = _split(blocks, pixels)
    height, width = split[0][0].shape
    out = np.empty((height, width), np.float32)
    step = max(1, ROWS_PER_STEP_PIXELS // max(1, width))
    function = REGISTRY[index_name].function
    for top in range(0, height, step):
        rows = slice(top, top + step)
        values = {}
        for band, (raw, valid), settings in zip(bands, split, pixels, strict=True):
            part = raw[rows]
            wide = np.empty(part.shape, np.float64)
            values[band] = reflectance(
                *_kernel_settings(part, None if valid is None else valid[rows], settings), wide
            )
        out[rows] = function(**values)
    return out


@dataclass(frozen=True)
class Grid:
    """Where a band's pixels are, as GDAL reads the file: the products keep exactly this."""

    path: str
    crs: Any  # rasterio CRS, or None
    transform: Any  # affine.Affine, rotation and shear included
    width: int
    height: int

    def describe(self) -> str:
        crs = self.crs.to_string() if self.crs else "no CRS"
        return f"{crs}, {self.width} x {self.height} px, transform {tuple(self.transform)[:6]}"


def read_grid(path: str | Path) -> Grid:
    """A band file's grid (:class:`Grid`), read with rasterio rather than rebuilt from xarray coordinates,
    which cannot hold a rotated transform. Files placed only by ground control points or RPCs are refused:
    their pixels have no transform to keep."""
    import rasterio

    try:
        with rasterio.open(readable_path(path)) as src:
            crs, transform, width, height = src.crs, src.transform, src.width, src.height
            gcps, rpcs = src.gcps[0], src.rpcs
    except (rasterio.errors.RasterioError, OSError) as err:
        raise unreadable(path, err) from None
    if transform.is_identity and (gcps or rpcs):
        kind = "ground control points" if gcps else "RPCs"
        raise RasterError(
            f"{path} is placed on Earth by {kind}, not by a geotransform, so its products would have no "
            "place. Warp it onto a grid first, e.g. `gdalwarp -t_srs EPSG:32633 in.tif out.tif`, and "
            "point the scene's `url:` at the result."
        )
    return Grid(str(path), crs, transform, width, height)


def grid_of(raster: xr.DataArray) -> Grid:
    """The grid :func:`compute_index` read from the first band's file; for other arrays, rioxarray's."""
    grid = raster.attrs.get("grid")
    if isinstance(grid, Grid):
        return grid
    return Grid("", raster.rio.crs, raster.rio.transform(recalc=False), raster.rio.width, raster.rio.height)


def describe_grid(raster: xr.DataArray) -> str:
    """CRS, size as width x height (as GDAL writes it) and transform, for logs and messages."""
    return grid_of(raster).describe()


def same_place(first: Any, other: Any, width: int, height: int, tolerance: float = 1e-6) -> bool:
    """Whether two transforms put every pixel of a ``width`` x ``height`` grid in the same place, to within
    ``tolerance`` of a pixel (float noise), whatever the pixels' shape, rotation or size."""
    if not first.determinant:  # a degenerate transform (GDAL refuses to write one) cannot be inverted
        return first == other
    to_first = ~first * other  # other's pixel coordinates -> first's
    corners = [(0, 0), (width, 0), (0, height), (width, height)]
    return all(
        math.hypot(x - col, y - row) <= tolerance for col, row in corners for x, y in [to_first * (col, row)]
    )


def check_same_grid(
    first: Grid,
    other: Grid,
    bands: str = "red and NIR",
    index: str = "NDVI",
) -> None:
    """Raise :class:`GridMismatch` naming both grids unless CRS, size and transform agree."""
    same_size = (first.width, first.height) == (other.width, other.height)
    same_crs = first.crs == other.crs
    if not (
        same_size and same_crs and same_place(first.transform, other.transform, first.width, first.height)
    ):
        detail = ""
        if same_size and not same_crs and first.describe() == other.describe():
            detail = (
                f"  (the CRSs differ beyond their names: {first.crs.to_wkt()} against {other.crs.to_wkt()})\n"
            )
        raise GridMismatch(
            f"{bands} bands are on different grids:\n  {first.path}: {first.describe()}\n"
            f"  {other.path}: {other.describe()}\n{detail}{index} needs its bands on one grid: "
            "reproject one band onto the other (e.g. `gdalwarp` or `rio.reproject_match`) first."
        )


def compute_index(
    index: SpectralIndex | str,
    paths: dict[str, str | Path],
    pixels: dict[str, dict] | None = None,
    chunks: Any = "15MB",
) -> xr.DataArray:
    """Lazy spectral index of a scene's band files, after checking that they share one grid.

    ``paths`` maps each band the index needs to its file (one file may hold
    several bands); ``pixels`` holds each band's :func:`open_band` settings:
    ``band``, ``nodata``, ``scale``, ``offset`` (None or missing: the file's;
    see :func:`band_pixels`). Every band is read in the chunks that suit the
    first band's file layout.
    """
    index = lookup(index)
    pixels = pixels or {}
    first = paths[index.bands[0]]
    chunks = layout_chunks(first, chunks)
    raws, settings, masks = [], [], []
    grid = read_grid(first)
    for band in index.bands:
        if raws:
            names = (
                "red and NIR" if {index.bands[0], band} == {"red", "nir"} else f"{index.bands[0]} and {band}"
            )
            check_same_grid(grid, read_grid(paths[band]), names, index.name.upper())
        raw, band_settings, valid = open_band(paths[band], chunks=chunks, **(pixels.get(band) or {}))
        raws.append(raw)
        settings.append(band_settings)
        if valid is not None:
            masks.append(valid)
    blocks = [raw.data for raw in raws] + masks
    # An explicit meta: inferring it would call the kernel on an empty array, a new
    # signature that numba compiles (or loads) just for that.
    meta = np.empty((0, 0), np.float32)
    if index.name == "ndvi":  # one fused pass; equal to the registry's formula (tested)
        data = da.map_blocks(ndvi_kernel, *blocks, pixels=tuple(settings), dtype=np.float32, meta=meta)
    else:
        data = da.map_blocks(
            index_kernel,
            *blocks,
            bands=index.bands,
            pixels=tuple(settings),
            index_name=index.name,  # not `name`: map_blocks takes that for the graph's keys
            dtype=np.float32,
            meta=meta,
        )
    label = index.name.upper()
    result = xr.DataArray(
        data,
        coords=raws[0].coords,
        dims=raws[0].dims,
        name=index.name,
        attrs={"long_name": label, "units": "1", "grid": grid},  # the grid to write: see read_grid
    )
    return result.rio.write_nodata(OUTPUT_NODATA, encoded=False)


def compute_ndvi(
    red_path: str | Path,
    nir_path: str | Path,
    red: dict | None = None,
    nir: dict | None = None,
    chunks: Any = "15MB",
) -> xr.DataArray:
    """Lazy NDVI of the two files (:func:`compute_index` for ``ndvi``)."""
    return compute_index("ndvi", {"red": red_path, "nir": nir_path}, {"red": red, "nir": nir}, chunks)


def write_index(
    values: xr.DataArray,
    path: str | Path,
    memory_mb: int | None = None,
    index: SpectralIndex | str = "ndvi",
) -> dict[str, Any]:
    """Write an index as a Cloud-Optimized GeoTIFF and return its statistics (:func:`write_indices`)."""
    return write_indices([values], [path], memory_mb, [index])[0]


def write_indices(
    values: list[xr.DataArray],
    paths: list[str | Path],
    memory_mb: int | None = None,
    indices: list[SpectralIndex | str] | None = None,
    workers_share_files: bool = True,
) -> list[dict[str, Any]]:
    """Write indices of one scene as Cloud-Optimized GeoTIFFs; return their statistics (see raster_stats).

    One Dask pass computes each block once: its tiles, its overview pixels and
    its statistics (of all valid pixels, :mod:`raster_stats`), for every
    index together, so the bands they share are read once. The transform is
    kept exactly as read. An index without a single valid pixel is an error.
    Encoded tiles wait in memory up to a quarter of ``memory_mb`` (the job's
    memory) per worker, then on disk; with ``workers_share_files=False`` in the
    workers' memory, and this process writes them (:func:`cog_writer.write_cogs`).
    """
    indices = [lookup(index) for index in indices or ["ndvi"] * len(values)]
    products, lazy_stats = [], []
    for array, path, index in zip(values, paths, indices, strict=True):
        label = index.name.upper()
        path = Path(path).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Named like atomic_path's temporary files, so a killed run's stage is cleaned up as theirs are.
        stage = path.with_name(f".{final_path(path).stem}.{os.getpid()}-stage.partial{path.suffix}")
        products.append(
            CogProduct(
                array.data,
                path,
                crs=grid_of(array).crs,
                transform=grid_of(array).transform,
                tags={"long_name": label, "units": "1"},
                description=label,
                stage=stage,
            )
        )
        lazy_stats.append(lazy_statistics(array.data, value_range=index.value_range))
    try:
        computed = write_cogs(
            products,
            lazy_stats,
            memory_budget=int((memory_mb or 4000) * 1e6 / 4),
            workers_share_files=workers_share_files,
        )
    except Exception as err:
        raise_if_disk_full(products[0].path, err)  # while the failed files still fill the disk
        raise
    stats = [
        summarise(part, value_range=index.value_range) for part, index in zip(computed, indices, strict=True)
    ]
    empty = [index for index, result in zip(indices, stats, strict=True) if result["count_valid"] == 0]
    if empty:
        for product in products:
            Path(product.path).unlink(missing_ok=True)
        index = empty[0]
        raise RasterError(
            f"{index.name.upper()} has no valid pixel: every pixel is nodata or masked in one of "
            f"{', '.join(index.bands)} (or the formula's denominator is 0). Check the bands' `nodata:` and "
            "`band:` settings, their masks (alpha band, internal or .msk mask: `gdalinfo` lists them) "
            "and that they cover the same area."
        )
    return stats


def write_ndvi(values: xr.DataArray, path: str | Path, memory_mb: int | None = None) -> dict[str, Any]:
    """Write NDVI (:func:`write_index` for ``ndvi``)."""
    return write_index(values, path, memory_mb, "ndvi")


def set_gdal_reading_options() -> None:
    """A small GDAL block cache for this process and the workers it starts: every block is read once.

    Set in the environment before GDAL reads anything (it reads GDAL_CACHEMAX
    once); process workers inherit it.
    """
    os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))

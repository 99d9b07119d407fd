"""NDVI against plain numpy/rasterio: nodata, zero sums, integer bands, exact grids."""

import warnings

import dask
import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from snakedask.errors import GridMismatch, RasterError
from snakedask.spectral_rasters import compute_ndvi, write_ndvi

TRANSFORM = Affine(0.0598723001, 0.0, 621986.34120000007, 0.0, -0.0598723001, 7524789.112700001)


@pytest.fixture(autouse=True)
def threaded_dask():
    with dask.config.set(scheduler="threads"):
        yield


TILED_16 = {"tiled": True, "blockxsize": 16, "blockysize": 16}


def write_tif(path, data, nodata, transform=TRANSFORM, crs="EPSG:32657", layout=None):
    """A GeoTIFF of ``data``; ``layout``: GDAL creation options (default 16-px tiles; {} for stripped)."""
    data = np.atleast_3d(data) if data.ndim == 3 else data[np.newaxis]
    profile = {
        "driver": "GTiff",
        "height": data.shape[1],
        "width": data.shape[2],
        "count": data.shape[0],
        "dtype": data.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        **(TILED_16 if layout is None else layout),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def numpy_ndvi(red, nir, red_nodata, nir_nodata):
    red64, nir64 = red.astype(np.float64), nir.astype(np.float64)
    valid = (red != red_nodata) & (nir != nir_nodata) & ((red64 + nir64) != 0)
    out = np.full(red.shape, np.nan, np.float32)
    out[valid] = ((nir64[valid] - red64[valid]) / (nir64[valid] + red64[valid])).astype(np.float32)
    return out


def read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.profile


def test_float_bands_with_nodata_and_zero_sums(tmp_path):
    rng = np.random.default_rng(1)
    red = rng.uniform(0.01, 0.3, (40, 56)).astype(np.float32)
    nir = rng.uniform(0.01, 0.6, (40, 56)).astype(np.float32)
    red[:5, :] = -10000.0  # nodata in red only
    nir[:, :3] = -10000.0  # nodata in NIR only
    red[20, 20] = nir[20, 20] = 0  # zero sum
    red[21, 21], nir[21, 21] = -0.2, 0.2  # zero sum from a negative reflectance
    red[30, 30] = nir[30, 30] = 0.25  # NDVI exactly 0 stays a value
    write_tif(tmp_path / "red.tif", red, -10000.0)
    write_tif(tmp_path / "nir.tif", nir, -10000.0)

    index = compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif", chunks={"x": 16, "y": 16})
    assert index.dtype == np.float32 and len(index.chunks[0]) > 1
    write_ndvi(index, tmp_path / "ndvi.tif")
    out, profile = read(tmp_path / "ndvi.tif")

    expected = numpy_ndvi(red, nir, -10000.0, -10000.0)
    np.testing.assert_allclose(out, expected, rtol=2e-7, atol=0, equal_nan=True)
    assert np.isnan(out[:5]).all() and np.isnan(out[:, :3]).all()
    assert np.isnan(out[20, 20]) and np.isnan(out[21, 21]) and out[30, 30] == 0
    assert profile["dtype"] == "float32" and np.isnan(profile["nodata"])
    assert profile["transform"] == TRANSFORM  # exactly, every digit
    assert profile["crs"].to_epsg() == 32657
    assert profile["tiled"]


def test_uint16_stack_no_wraparound_and_nodata_zero_is_not_ndvi_zero(tmp_path):
    red = np.array([[100, 60000, 0, 500], [40000, 40000, 7, 0]], np.uint16)
    nir = np.array([[300, 65000, 50, 500], [50000, 30000, 0, 0]], np.uint16)
    write_tif(tmp_path / "stack.tif", np.stack([nir, red, nir]), 0)  # bands: nir, red, nir
    index = compute_ndvi(
        tmp_path / "stack.tif", tmp_path / "stack.tif", red={"band": 2}, nir={"band": 1}, chunks=16
    )
    write_ndvi(index, tmp_path / "ndvi.tif")
    out, profile = read(tmp_path / "ndvi.tif")
    np.testing.assert_allclose(out, numpy_ndvi(red, nir, 0, 0), rtol=2e-7, equal_nan=True)
    assert out[0, 3] == 0.0  # a real NDVI of 0
    assert np.isnan(out[0, 2]) and np.isnan(out[1, 2])  # a band's nodata (0)
    assert out[1, 1] == pytest.approx((30000 - 40000) / 70000)  # no uint16 wrap-around
    assert profile["nodata"] != 0


def test_band_index_out_of_range(tmp_path):
    write_tif(tmp_path / "one.tif", np.ones((4, 4), np.float32), -1.0)
    with pytest.raises(ValueError, match=r"one.tif: band 2 requested but the file has 1 band.*`band:`"):
        compute_ndvi(tmp_path / "one.tif", tmp_path / "one.tif", red={"band": 2})


@pytest.mark.parametrize(
    "change",
    [
        {"transform": TRANSFORM @ Affine.translation(3, 0)},
        {"crs": "EPSG:32656"},
        {"shape": (8, 9)},
    ],
    ids=["transform", "crs", "shape"],
)
def test_mismatched_grids_name_both(tmp_path, change):
    write_tif(tmp_path / "red.tif", np.ones((8, 8), np.float32), -1.0)
    data = np.ones(change.get("shape", (8, 8)), np.float32)
    write_tif(
        tmp_path / "nir.tif", data, -1.0, change.get("transform", TRANSFORM), change.get("crs", "EPSG:32657")
    )
    with pytest.raises(GridMismatch) as err:
        compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif")
    message = str(err.value)
    assert "red.tif: EPSG:32657, 8 x 8 px" in message and "nir.tif: EPSG:" in message
    assert "reproject" in message


@pytest.mark.parametrize(
    "transform",
    [
        Affine(0.0, 10.0, 500000.0, -10.0, 0.0, 6000000.0),  # turned 90 degrees: rows run east
        Affine(9.8, 1.7, 500000.0, 1.7, -9.8, 6000000.0),  # rotated
        Affine(10.0, 2.5, 500000.0, 0.0, -10.0, 6000000.0),  # sheared
        Affine(10.0, 0.0, 500000.0, 0.0, 10.0, 5000000.0),  # south-up
    ],
    ids=["rotated-90", "rotated", "sheared", "south-up"],
)
def test_any_geotransform_is_kept_exactly(tmp_path, transform):
    """xarray's x/y coordinates cannot hold a rotation: the product's grid is read from the file instead."""
    rng = np.random.default_rng(7)
    red, nir = rng.integers(1, 250, (2, 37, 53), dtype=np.uint16)
    write_tif(tmp_path / "red.tif", red, 0, transform, "EPSG:32633")
    write_tif(tmp_path / "nir.tif", nir, 0, transform, "EPSG:32633")
    write_ndvi(compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif", chunks=16), tmp_path / "ndvi.tif")
    out, profile = read(tmp_path / "ndvi.tif")
    assert profile["transform"] == transform and profile["crs"] == rasterio.crs.CRS.from_epsg(32633)
    np.testing.assert_allclose(out, numpy_ndvi(red, nir, 0, 0), rtol=2e-7, equal_nan=True)


def test_bands_placed_by_ground_control_points_are_refused(tmp_path):
    from rasterio.control import GroundControlPoint

    gcps = [
        GroundControlPoint(0, 0, 10, 50),
        GroundControlPoint(0, 8, 11, 50),
        GroundControlPoint(8, 0, 10, 49),
    ]
    for name in ("red.tif", "nir.tif"):
        profile = {"driver": "GTiff", "height": 8, "width": 8, "count": 1, "dtype": "uint16", "nodata": 0}
        with rasterio.open(tmp_path / name, "w", **profile) as dst:
            dst.write(np.ones((1, 8, 8), np.uint16))
            dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
    with pytest.raises(RasterError, match=r"red.tif is placed on Earth by ground control points.*gdalwarp"):
        compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif")


def test_a_shift_of_whole_pixels_is_a_mismatch_whatever_the_pixels_shape(tmp_path):
    """Pixels 1000 km wide and 1 mm tall: a 5-row shift moves 5 mm, which is still 5 pixels."""
    tall = Affine(1e6, 0.0, 0.0, 0.0, -1e-3, 0.0)
    write_tif(tmp_path / "red.tif", np.ones((40, 61), np.float32), -1.0, tall)
    write_tif(tmp_path / "nir.tif", np.ones((40, 61), np.float32), -1.0, tall * Affine.translation(0, 5))
    with pytest.raises(GridMismatch, match="different grids"):
        compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif")
    # Float noise (a millionth of a millionth of a pixel) is the same grid.
    write_tif(tmp_path / "nir.tif", np.ones((40, 61), np.float32), -1.0, tall * Affine.translation(1e-12, 0))
    compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif")


def test_crss_that_print_alike_are_told_apart(tmp_path):
    utm = "+proj=utm +zone=33 +ellps=intl +units=m +no_defs"
    write_tif(
        tmp_path / "red.tif", np.ones((4, 4), np.float32), -1.0, crs=utm + " +towgs84=-87,-98,-121,0,0,0,0"
    )
    write_tif(tmp_path / "nir.tif", np.ones((4, 4), np.float32), -1.0, crs=utm)
    with pytest.raises(GridMismatch) as err:
        compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif")
    assert "the CRSs differ beyond their names" in str(err.value) and "TOWGS84[-87,-98,-121" in str(err.value)


def test_sample_scene_matches_numpy(sample, tmp_path):
    index = compute_ndvi(sample["red"], sample["nir"], chunks={"x": 256, "y": 256})
    write_ndvi(index, tmp_path / "ndvi.tif")
    out, profile = read(tmp_path / "ndvi.tif")
    red, red_profile = read(sample["red"])
    nir, _ = read(sample["nir"])
    np.testing.assert_allclose(out, numpy_ndvi(red, nir, -10000.0, -10000.0), rtol=2e-7, equal_nan=True)
    assert profile["transform"] == red_profile["transform"] and profile["crs"] == red_profile["crs"]
    valid = out[~np.isnan(out)]
    assert valid.min() < 0 < valid.max() <= 1  # water/bare and vegetation both present


def test_byte_size_chunks_follow_the_file_layout(tmp_path):
    from snakedask.spectral_rasters import layout_chunks

    write_tif(tmp_path / "b.tif", np.ones((600, 1000), np.float32), -1.0)  # 16-px tiles
    # Tiled: bands of whole tile rows across the full width, at least 256 rows (float32 pixels) ...
    assert layout_chunks(tmp_path / "b.tif", "128KB") == {"band": 1, "y": 256, "x": -1}
    assert layout_chunks(tmp_path / "b.tif", "2MB") == {"band": 1, "y": 512, "x": -1}
    assert layout_chunks(tmp_path / "b.tif", "16MB") == {"band": 1, "y": 600, "x": -1}
    # ... unless 256 full-width rows are over 8 times the request: squares of 256 x 2^k px.
    assert layout_chunks(tmp_path / "b.tif", "4KB") == {"band": 1, "y": 256, "x": 256}
    assert layout_chunks(tmp_path / "b.tif", {"x": 7, "y": 9}) == {"x": 7, "y": 9}
    # Stripped (GDAL's default): full-width bands of at least 256 rows, whole strips.
    write_tif(tmp_path / "s.tif", np.ones((3000, 1000), np.float32), -1.0, layout={})
    with rasterio.open(tmp_path / "s.tif") as src:
        assert src.block_shapes[0] == (2, 1000)
    assert layout_chunks(tmp_path / "s.tif", "1MB") == {"band": 1, "y": 256, "x": -1}
    assert layout_chunks(tmp_path / "s.tif", "8MB") == {"band": 1, "y": 2048, "x": -1}
    assert layout_chunks(tmp_path / "s.tif", "1GB") == {"band": 1, "y": 3000, "x": -1}
    index = compute_ndvi(tmp_path / "s.tif", tmp_path / "s.tif", chunks="1MB")
    assert index.chunks == ((256,) * 11 + (184,), (1000,))


@pytest.mark.parametrize("chunks", [{"x": 45, "y": 77}, {"x": 300, "y": 1000}, "1MB"], ids=str)
@pytest.mark.parametrize("layout", ["tiled", "tiled-deflate", "stripped"])
def test_any_chunks_and_layout_give_the_same_cog(tmp_path, chunks, layout):
    """Chunks that split tiles, odd sizes and stripped files: values, overviews and layout as numpy says."""
    from rio_cogeo.cogeo import cog_validate

    rng = np.random.default_rng(3)
    red = rng.uniform(0.01, 0.3, (700, 900)).astype(np.float32)
    nir = rng.uniform(0.01, 0.6, (700, 900)).astype(np.float32)
    red[:40], nir[:, -13:] = -10000.0, -10000.0
    tiled = {
        "tiled": {"tiled": True, "blockxsize": 128, "blockysize": 128},
        "tiled-deflate": {
            "tiled": True,
            "blockxsize": 128,
            "blockysize": 128,
            "compress": "deflate",
            "predictor": 3,
        },
        "stripped": {},
    }[layout]
    for name, band in (("red", red), ("nir", nir)):
        write_tif(tmp_path / f"{name}.tif", band, -10000.0, layout=tiled)
    write_ndvi(compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif", chunks=chunks), tmp_path / "ndvi.tif")
    expected = numpy_ndvi(red, nir, -10000.0, -10000.0)
    assert cog_validate(str(tmp_path / "ndvi.tif"))[:2] == (True, [])
    with rasterio.open(tmp_path / "ndvi.tif") as out:
        values = out.read(1)
        np.testing.assert_allclose(values, expected, rtol=2e-7, equal_nan=True)
        assert out.overviews(1) == [2, 4] and out.block_shapes[0] == (256, 256)
        assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        for factor in (2, 4):
            overview = out.read(1, out_shape=(-(-700 // factor), -(-900 // factor)))
            np.testing.assert_allclose(overview, block_means(values, factor), rtol=1e-6, equal_nan=True)


def block_means(values, factor):
    """Mean of the valid pixels of each factor x factor window (NaN where none), windows cut by the edges."""
    rows, cols = -(-values.shape[0] // factor) * factor, -(-values.shape[1] // factor) * factor
    padded = np.full((rows, cols), np.nan)
    padded[: values.shape[0], : values.shape[1]] = values
    windows = padded.reshape(rows // factor, factor, cols // factor, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows are NaN, as they should be
        return np.nanmean(windows, axis=(1, 3)).astype(np.float32)


def test_product_is_a_valid_cog_with_overviews_and_exact_statistics(sample, tmp_path):
    from rio_cogeo.cogeo import cog_validate

    index = compute_ndvi(sample["red"], sample["nir"], chunks={"x": 256, "y": 256})
    stats = write_ndvi(index, tmp_path / "ndvi.tif")
    valid, errors, _warnings = cog_validate(str(tmp_path / "ndvi.tif"))
    assert valid and errors == [], errors
    with rasterio.open(tmp_path / "ndvi.tif") as out:
        assert out.overviews(1) == [2, 4]  # 620 px wide: 310, then 155 px, under the 256-px tile
        values = out.read(1)
    assert list(tmp_path.iterdir()) == [tmp_path / "ndvi.tif"]  # the staging file is gone
    finite = values[~np.isnan(values)].astype(np.float64)
    assert stats["count_valid"] == finite.size and stats["count_nodata"] == values.size - finite.size
    assert stats["min"] == pytest.approx(finite.min()) and stats["max"] == pytest.approx(finite.max())
    assert stats["mean"] == pytest.approx(finite.mean(), rel=1e-9)
    assert stats["std"] == pytest.approx(finite.std(), rel=1e-6)
    for p in (2, 25, 50, 98):
        assert stats["percentiles"][f"p{p}"] == pytest.approx(np.percentile(finite, p), abs=0.0011)
    assert sum(stats["histogram"]["counts"]) == finite.size
    assert len(stats["histogram"]["edges"]) == len(stats["histogram"]["counts"]) + 1


def test_all_nodata_is_an_error_and_writes_nothing(tmp_path):
    from snakedask.errors import RasterError

    write_tif(tmp_path / "red.tif", np.full((40, 40), -1.0, np.float32), -1.0)
    write_tif(tmp_path / "nir.tif", np.ones((40, 40), np.float32), -1.0)
    index = compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif", chunks=16)
    with pytest.raises(RasterError, match="NDVI has no valid pixel"):
        write_ndvi(index, tmp_path / "out" / "ndvi.tif")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_find_unreadable_names_the_truncated_band_and_passes_good_ones(tmp_path, sample):
    from snakedask.spectral_rasters import find_unreadable

    cut = tmp_path / "nir.tif"
    cut.write_bytes(sample["nir"].read_bytes()[:60_000])  # the header reads; a tile does not
    assert find_unreadable([sample["red"], sample["nir"]]) is None
    problem = find_unreadable([sample["red"], cut])
    assert problem is not None and str(problem).startswith(f"{cut} (60000 bytes) is not a readable GeoTIFF")

"""Which pixels are valid and what they are worth, against GDAL itself through plain rasterio + numpy.

Each raster is made with GDAL's own creation options (an RGBA alpha band, an
internal or ``.msk`` mask, scale/offset tags, every data type); the expected
index is computed from ``src.read(b)``, ``src.read_masks(b)``,
``src.scales``/``src.offsets`` and the float64 formula rounded to float32 once.
"""

import dask
import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.transform import from_origin

from snakedask.errors import RasterError
from snakedask.spectral_rasters import band_pixels, compute_index, compute_ndvi, write_index, write_ndvi

SHAPE = (40, 56)  # chunks of 16 px: several blocks, each mask read through its own window
PROFILE = {"driver": "GTiff", "crs": "EPSG:32633", "transform": from_origin(399960.0, 5800020.0, 10.0, 10.0)}
TILED = {"tiled": True, "blockxsize": 16, "blockysize": 16}


@pytest.fixture(autouse=True)
def threaded_dask():
    with dask.config.set(scheduler="threads"):
        yield


def write(path, bands, dtype, mask=None, internal=True, nodata=None, scales=None, offsets=None, **options):
    """A GeoTIFF of ``bands`` (first axis) as GDAL writes it, with a dataset mask if given."""
    bands = np.asarray(bands).astype(dtype)
    profile = {**PROFILE, **TILED, "count": len(bands), "height": SHAPE[0], "width": SHAPE[1], "dtype": dtype}
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=internal),
        rasterio.open(path, "w", nodata=nodata, **profile, **options) as dst,
    ):
        dst.write(bands)
        if mask is not None:
            dst.write_mask(mask)
        if scales is not None:
            dst.scales, dst.offsets = scales, offsets
    return path


def gdal_reflectance(path, band, use_alpha=None):
    """float64 reflectance of one band and where GDAL says it is valid (read_masks; NaN too)."""
    with rasterio.open(path) as src:
        raw = src.read(band)
        valid = src.read_masks(band) != 0
        if use_alpha:  # GDAL's mask ignores an alpha band when nodata is declared: read it too
            valid &= src.read(use_alpha) != 0
        value = raw.astype(np.float64) * src.scales[band - 1] + src.offsets[band - 1]
    return value, valid & np.isfinite(value)


def expected_ndvi(red, nir):
    """The float64 formula rounded to float32 once; NaN where a band is invalid or the sum is 0."""
    (r, r_valid), (n, n_valid) = red, nir
    valid = r_valid & n_valid & (n + r != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(valid, (n - r) / (n + r), np.nan).astype(np.float32)


def product(tmp_path, index, name="ndvi"):
    write_index(index, tmp_path / f"{name}.tif", index=name)
    with rasterio.open(tmp_path / f"{name}.tif") as out:
        return out.read(1)


def bands(dtype=np.uint16, seed=5, low=1, high=250):
    rng = np.random.default_rng(seed)
    red = rng.integers(low, high, SHAPE)
    nir = rng.integers(low, high, SHAPE)
    return red.astype(dtype), nir.astype(dtype)


def some_mask(seed=9):
    rng = np.random.default_rng(seed)
    mask = np.where(rng.random(SHAPE) < 0.3, 0, 255).astype(np.uint8)
    mask[:, :7] = 0  # a stripe outside the swath, across block edges
    return mask


def test_alpha_band_of_an_rgba_file(tmp_path):
    red, nir = bands(np.uint8)
    alpha = some_mask()
    alpha[alpha == 255] = 200  # partial opacity is valid, only 0 is not
    path = write(tmp_path / "rgba.tif", [red, nir, red // 2, alpha], "uint8", photometric="RGB", alpha="YES")
    with rasterio.open(path) as src:
        assert src.nodata is None and MaskFlags.alpha in src.mask_flag_enums[0]
    got = product(tmp_path, compute_ndvi(path, path, {"band": 1}, {"band": 2}, chunks=16))
    expected = expected_ndvi(gdal_reflectance(path, 1), gdal_reflectance(path, 2))
    assert np.isnan(got[alpha == 0]).all() and np.isfinite(got[alpha != 0]).any()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("internal", [True, False], ids=["internal mask", "msk sidecar"])
def test_dataset_mask_internal_or_sidecar(tmp_path, internal):
    red, nir = bands()
    red[3, :] = 0  # the file's nodata value too: both apply
    path = write(tmp_path / "masked.tif", [red, nir], "uint16", mask=some_mask(), internal=internal, nodata=0)
    assert (tmp_path / "masked.tif.msk").exists() != internal
    got = product(tmp_path, compute_ndvi(path, path, {"band": 1}, {"band": 2}, chunks=16))
    red_gdal, nir_gdal = gdal_reflectance(path, 1), gdal_reflectance(path, 2)
    expected = expected_ndvi((red_gdal[0], red_gdal[1] & (red != 0)), nir_gdal)
    assert np.isnan(got[:, :7]).all() and np.isnan(got[3]).all()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NodataShadowWarning")  # the oracle reads both
def test_nodata_and_alpha_band_both_apply(tmp_path):
    """GDAL's mask is the nodata one when a file declares both; the alpha band still marks pixels invalid."""
    red, nir = bands()
    red[5, :] = 7
    alpha = some_mask(3).astype(np.uint16) * 257  # a uint16 alpha: 0 or 65535
    path = write(
        tmp_path / "rgba16.tif", [red, nir, red, alpha], "uint16", nodata=7, photometric="RGB", alpha="YES"
    )
    with rasterio.open(path) as src:
        assert src.mask_flag_enums[0] == [MaskFlags.nodata]
    got = product(tmp_path, compute_ndvi(path, path, {"band": 1}, {"band": 2}, chunks=16))
    expected = expected_ndvi(gdal_reflectance(path, 1, use_alpha=4), gdal_reflectance(path, 2, use_alpha=4))
    assert np.isnan(got[5]).all() and np.isnan(got[alpha == 0]).all()
    np.testing.assert_array_equal(got, expected)


def test_config_nodata_replaces_the_value_and_masks_still_apply(tmp_path):
    red, nir = bands()
    red[2, :], nir[4, :] = 0, 9  # 0: the file's nodata; 9: a fill value it does not declare
    mask = some_mask()
    path = write(tmp_path / "m.tif", [red, nir], "uint16", mask=mask, nodata=0)
    mask_valid = mask != 0
    for setting, invalid in ((9, nir == 9), ("none", np.zeros(SHAPE, bool))):
        pixels = {"red": {"band": 1, "nodata": setting}, "nir": {"band": 2, "nodata": setting}}
        got = product(tmp_path, compute_index("ndvi", {"red": path, "nir": path}, pixels, chunks=16))
        valid = mask_valid & ~invalid
        r, n = red.astype(np.float64), nir.astype(np.float64)
        expected = expected_ndvi((r, valid & ~(red == setting)), (n, valid & ~(nir == setting)))
        assert np.isfinite(got[2][mask_valid[2]]).all()  # the file's 0 is a value now
        np.testing.assert_array_equal(got, expected, err_msg=str(setting))


DTYPES = ["uint8", "int16", "uint16", "int32", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_with_the_files_scale_and_offset(tmp_path, dtype):
    """Landsat-like factors on integers, Sentinel-2's on floats; nodata a value (NaN for floats)."""
    floating = dtype.startswith("float")
    high = 250 if dtype == "uint8" else 20000
    red, nir = bands(dtype, seed=7, low=1, high=high)
    red[0, :5] = nir[1, :5] = np.nan if floating else 0
    red[6, 6], nir[6, 6] = 5, 5  # NDVI exactly 0 stays a value
    factors = ((0.0001, 0.0001), (-0.1, -0.1)) if floating else ((2.75e-05, 2e-05), (-0.2, -0.1))
    nodata = float("nan") if floating else 0
    path = write(
        tmp_path / f"{dtype}.tif", [red, nir], dtype, nodata=nodata, scales=factors[0], offsets=factors[1]
    )
    with rasterio.open(path) as src:
        assert src.scales == factors[0] and src.offsets == factors[1]
    got = product(tmp_path, compute_ndvi(path, path, {"band": 1}, {"band": 2}, chunks=16))
    expected = expected_ndvi(gdal_reflectance(path, 1), gdal_reflectance(path, 2))
    assert np.isnan(got[0, :5]).all() and np.isnan(got[1, :5]).all()
    np.testing.assert_array_equal(got, expected)  # every float32 bit: the float64 formula, rounded once


def test_near_zero_products_are_the_float64_formula_rounded_once(tmp_path):
    """Sentinel-2 (0.0001, -0.1) DNs close to 1000, reflectance near 0: where float32 steps parted by 1e-4."""
    rng = np.random.default_rng(2)
    red = rng.integers(995, 1006, SHAPE).astype(np.uint16)
    nir = rng.integers(995, 1006, SHAPE).astype(np.uint16)
    path = write(
        tmp_path / "s2.tif", [red, nir], "uint16", nodata=0, scales=(1e-4, 1e-4), offsets=(-0.1, -0.1)
    )
    index = compute_ndvi(path, path, {"band": 1}, {"band": 2}, chunks=16)
    got = product(tmp_path, index)
    np.testing.assert_array_equal(got, expected_ndvi(gdal_reflectance(path, 1), gdal_reflectance(path, 2)))


@pytest.mark.parametrize("name", ["savi", "evi"])
def test_other_indices_in_float64_with_masks_and_tags(tmp_path, name):
    rng = np.random.default_rng(4)
    blue, red, nir = (rng.integers(lo, hi, SHAPE) for lo, hi in ((1100, 2000), (1200, 3000), (2000, 7000)))
    mask = some_mask()
    path = write(
        tmp_path / "stack.tif", [blue, red, nir], "uint16", mask=mask, nodata=0,
        scales=(1e-4,) * 3, offsets=(-0.1,) * 3,
    )  # fmt: skip
    paths = {"blue": path, "red": path, "nir": path}
    pixels = {"blue": {"band": 1}, "red": {"band": 2}, "nir": {"band": 3}}
    got = product(tmp_path, compute_index(name, paths, pixels, chunks=16), name)
    (b, valid), (r, _), (n, _) = (gdal_reflectance(path, band) for band in (1, 2, 3))
    if name == "savi":
        numerator, denominator = 1.5 * (n - r), n + r + 0.5
    else:
        numerator, denominator = 2.5 * (n - r), n + 6 * r - 7.5 * b + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(valid & (denominator != 0), numerator / denominator, np.nan).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_max_ulp(got[valid], expected[valid], maxulp=1)


def test_config_scale_and_offset_win_over_the_files_and_the_log_says_which(tmp_path):
    red, nir = bands()
    path = write(
        tmp_path / "t.tif", [red, nir], "uint16", nodata=0, scales=(1e-4, 1e-4), offsets=(-0.1, -0.1)
    )
    config = {"band": 1, "scale": 2e-4}  # offset then 0: the config's pair replaces the file's
    got = product(tmp_path, compute_ndvi(path, path, config, {"band": 2}, chunks=16))
    r = (red.astype(np.float64) * 2e-4, red != 0)
    n = gdal_reflectance(path, 2)
    np.testing.assert_array_equal(got, expected_ndvi(r, n))
    assert band_pixels(path, **config).describe() == (
        "t.tif band 1: nodata 0 (file); scale 0.0002, offset 0 (config; the file's scale 0.0001, offset -0.1 "
        "ignored)"
    )
    assert (
        band_pixels(path, 2).describe() == "t.tif band 2: nodata 0 (file); scale 0.0001, offset -0.1 (file)"
    )
    plain = write(tmp_path / "p.tif", [red, nir], "uint8", mask=some_mask())
    assert band_pixels(plain, 1, nodata="none").describe() == (
        "p.tif band 1: nodata none (config); scale 1, offset 0 (none set: raw values); "
        "mask: the file's mask band (internal or .msk)"
    )


def test_a_mask_stands_for_nodata_and_neither_is_an_error(tmp_path):
    red, nir = bands()
    masked = write(tmp_path / "masked.tif", [red, nir], "uint16", mask=some_mask())
    assert band_pixels(masked, 1).nodata is None  # no `nodata:` needed: the mask marks the missing pixels
    bare = write(tmp_path / "bare.tif", [red, nir], "uint16")
    with pytest.raises(
        RasterError,
        match=r"bare.tif declares no nodata value\. Set `nodata:` .*`nodata: none`.*the file has none",
    ):
        band_pixels(bare, 1)


def test_masks_cost_nothing_without_them_and_a_shared_mask_is_read_once(tmp_path):
    """No mask flags beyond nodata / all-valid: no mask is read; a per-dataset mask: once per block."""

    def mask_reads(index):
        return [key for key in dict(index.data.dask) if "_read_valid" in str(key)]

    red, nir = bands()
    path = write(tmp_path / "plain.tif", [red, nir], "uint16", nodata=0)
    assert not mask_reads(compute_ndvi(path, path, {"band": 1}, {"band": 2}, chunks=16))
    masked = write(tmp_path / "m.tif", [red, nir], "uint16", mask=some_mask(), nodata=0)
    index = compute_ndvi(masked, masked, {"band": 1}, {"band": 2}, chunks=16)
    assert len(mask_reads(index)) == 3 * 4  # 40 x 56 px in 16-px blocks, for both bands


def test_statistics_are_of_all_valid_pixels_within_their_bound(tmp_path):
    """An offset that pushes NDVI past 1: percentiles count those pixels too, ordered, within [min, max]."""
    rng = np.random.default_rng(8)
    red = rng.integers(1001, 1400, SHAPE).astype(np.uint16)
    nir = rng.integers(1500, 5000, SHAPE).astype(np.uint16)
    red[:10] = rng.integers(950, 999, (10, SHAPE[1]))  # negative red reflectance: NDVI > 1
    path = write(
        tmp_path / "o.tif", [red, nir], "uint16", nodata=0, scales=(1e-4, 1e-4), offsets=(-0.1, -0.1)
    )
    stats = write_ndvi(compute_ndvi(path, path, {"band": 1}, {"band": 2}, chunks=16), tmp_path / "ndvi.tif")
    with rasterio.open(tmp_path / "ndvi.tif") as out:
        values = out.read(1)
    valid = values[np.isfinite(values)].astype(np.float64)
    assert (valid > 1).any() and stats["count_outside_histogram_range"] == np.count_nonzero(valid > 1)
    ordered = [stats["min"], *stats["percentiles"].values(), stats["max"]]
    assert ordered == sorted(ordered) and stats["min"] == valid.min() and stats["max"] == valid.max()
    for name, value in stats["percentiles"].items():
        exact = np.percentile(valid, int(name[1:]))
        assert abs(value - exact) <= stats["percentile_error_bound"][name], name
    assert stats["percentile_error_bound"]["p50"] <= 0.001  # in NDVI's range: a 2000th of [-1, 1]


@pytest.mark.parametrize(
    "dtype, nodata",
    [("uint8", 0.5), ("uint16", 7.9), ("int16", -1.5)],
    ids=["uint8-0.5", "uint16-7.9", "int16--1.5"],
)
def test_a_fractional_nodata_of_an_integer_band_masks_what_gdal_masks(tmp_path, dtype, nodata):
    """GDAL truncates it (0.5 masks 0, -1.5 masks -1): found by fuzzing against read_masks."""
    red, nir = bands(np.int64, low=-3, high=12) if dtype == "int16" else bands(np.int64, low=0, high=12)
    for name, values in (("red.tif", red), ("nir.tif", nir)):
        write(tmp_path / name, [values], dtype, nodata=nodata)
    red_path, nir_path = tmp_path / "red.tif", tmp_path / "nir.tif"
    expected = expected_ndvi(gdal_reflectance(red_path, 1), gdal_reflectance(nir_path, 1))
    assert np.isnan(expected).sum() > 50  # GDAL does mask the truncated value
    np.testing.assert_array_equal(product(tmp_path, compute_ndvi(red_path, nir_path, chunks=16)), expected)


def test_complex_bands_are_refused_naming_the_band(tmp_path):
    write(tmp_path / "slc.tif", [np.ones(SHAPE) * (1 + 2j)], "complex64", nodata=0)
    with pytest.raises(
        RasterError, match=r"slc.tif: band 1 holds complex numbers \(complex64\).*gdal_translate"
    ):
        compute_ndvi(tmp_path / "slc.tif", tmp_path / "slc.tif")


def test_a_config_nodata_no_pixel_can_equal_is_refused_and_big_integers_stay_exact(tmp_path):
    """Found by fuzzing: `nodata: -9999` on a uint16 band marked nothing, silently; 2**64 - 1 lost its last bit."""
    red, nir = bands()
    write(tmp_path / "red.tif", [red], "uint16")
    write(tmp_path / "nir.tif", [nir], "uint16")
    with pytest.raises(
        RasterError, match=r"red.tif: band 1 is uint16 .*0 to 65535.*`nodata: -9999` can never match"
    ):
        compute_ndvi(tmp_path / "red.tif", tmp_path / "nir.tif", red={"nodata": -9999}, nir={"nodata": 0})
    fill = 2**64 - 1
    big_red, big_nir = red.astype(np.uint64), nir.astype(np.uint64)
    big_red[:5] = fill
    write(tmp_path / "red64.tif", [big_red], "uint64")
    write(tmp_path / "nir64.tif", [big_nir], "uint64")
    index = compute_ndvi(
        tmp_path / "red64.tif", tmp_path / "nir64.tif", red={"nodata": fill}, nir={"nodata": "none"}
    )
    got = product(tmp_path, index)
    r, n = big_red.astype(np.float64), big_nir.astype(np.float64)
    expected = np.where(big_red != fill, (n - r) / (n + r), np.nan).astype(np.float32)
    np.testing.assert_array_equal(got, expected)


def test_an_int64_nodata_beyond_float64s_exact_integers_masks_as_gdal_masks(tmp_path):
    """Found by fuzzing: rasterio gives nodata 2**60 + 1 as the float 2**60, which masked the pixels
    worth 2**60 and kept those worth 2**60 + 1. The nodata is set in a VRT: rasterio writes an int64
    nodata to a GeoTIFF wrongly."""
    fill = 2**60 + 1
    red, nir = (band.astype(np.int64) * 2**52 for band in bands())
    red[:5], red[5:9] = fill, 2**60  # nodata, and a valid pixel float64 cannot tell from it
    write(tmp_path / "red-values.tif", [red], "int64")
    write(tmp_path / "nir.tif", [nir], "int64", nodata=0)
    geotransform = ", ".join(str(v) for v in PROFILE["transform"].to_gdal())
    (tmp_path / "red.vrt").write_text(
        f'''<VRTDataset rasterXSize="{SHAPE[1]}" rasterYSize="{SHAPE[0]}">
  <SRS>{PROFILE["crs"]}</SRS>
  <GeoTransform>{geotransform}</GeoTransform>
  <VRTRasterBand dataType="Int64" band="1">
    <NoDataValue>{fill}</NoDataValue>
    <SimpleSource><SourceFilename relativeToVRT="1">red-values.tif</SourceFilename><SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>'''
    )
    gdal_red = gdal_reflectance(tmp_path / "red.vrt", 1)
    assert not gdal_red[1][:5].any() and gdal_red[1][5:9].all()  # GDAL's own mask, the reference
    got = product(tmp_path, compute_ndvi(tmp_path / "red.vrt", tmp_path / "nir.tif", chunks=16))
    np.testing.assert_array_equal(got, expected_ndvi(gdal_red, gdal_reflectance(tmp_path / "nir.tif", 1)))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NodataShadowWarning")
@pytest.mark.parametrize("seed", range(40))
def test_random_files_give_the_ndvi_of_gdals_reading(tmp_path, seed):
    """A fuzz kept as a test: a random dtype, nodata (a pixel's value, fractional, NaN or none), internal
    mask, alpha band and scale/offset per band. Valid: GDAL's mask, and not the
    nodata value (as GDAL compares it), and not 0 in an alpha band: each marks pixels missing."""
    rng = np.random.default_rng(seed)
    dtype = str(rng.choice(["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]))
    integer = np.dtype(dtype).kind in "iu"
    paths, references = [], []
    for name in ("red", "nir"):
        values = (
            rng.integers(-100 if dtype[0] == "i" else 0, 100 if dtype == "int8" else 250, SHAPE)
            if integer
            else rng.uniform(-1, 1, SHAPE)
        )
        nodata = rng.choice(["value", "fraction", "nan", "none"])
        nodata = {
            "value": float(values.flat[rng.integers(values.size)]),
            "fraction": float(values.flat[0]) + 0.5,
            "nan": None if integer else float("nan"),
            "none": None,
        }[str(nodata)]
        if not integer:
            values[rng.random(SHAPE) < 0.05] = rng.choice([np.nan, np.inf, -np.inf])
        mask = some_mask(seed) if rng.random() < 0.3 else None
        alpha = mask is None and rng.random() < 0.25
        options = {"nodata": nodata, "mask": mask}
        if alpha:
            options |= {"photometric": "MINISBLACK", "alpha": "YES"}
        if rng.random() < 0.3:
            options |= {"scales": [2.5] * (1 + alpha), "offsets": [-0.1] * (1 + alpha)}
        stack = [values, np.where(rng.random(SHAPE) < 0.2, 0, 255)] if alpha else [values]
        path = write(tmp_path / f"{name}.tif", stack, dtype, **options)
        paths.append(path)
        with rasterio.open(path) as src:
            raw, (value, valid) = src.read(1), gdal_reflectance(path, 1)
            if src.count == 2 and src.colorinterp[1] == ColorInterp.alpha:
                valid &= src.read(2) != 0
            if src.nodata is not None and not np.isnan(src.nodata):
                valid &= raw != (np.trunc(src.nodata) if integer else raw.dtype.type(src.nodata))
        references.append((value, valid))
    try:
        got = product(tmp_path, compute_ndvi(*paths, chunks=16))
    except RasterError as err:  # neither nodata nor a mask: the one refusal expected here
        assert "declares no nodata value" in str(err)
        return
    np.testing.assert_array_equal(got, expected_ndvi(*references))

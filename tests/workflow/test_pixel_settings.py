"""The scene settings that change NDVI's numbers, end to end, against numpy: `nodata:` (a number, `none`),
band-level over scene-level `scale`/`offset`/`nodata`, index values outside the histogram's range, and a
file's own scale/offset tags and alpha band (against rasterio's reading of them)."""

import json

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin

from tests.helpers import run_snakemake

pytestmark = pytest.mark.workflow

FILL = 65535  # a fill value the files do not declare (their nodata is 0)


def bands(folder):
    """uint16 red and NIR, declared nodata 0; 0 also where a sensor reads nothing; FILL where undeclared."""
    rng = np.random.default_rng(23)
    red = rng.integers(100, 3000, (150, 220)).astype(np.uint16)
    nir = rng.integers(500, 6000, (150, 220)).astype(np.uint16)
    red[:10], nir[:10] = 0, 0  # both 0: declared nodata, and a zero denominator without it
    red[20:25, :50] = 0  # red alone 0
    nir[30, :] = FILL
    red[40:45, 100:] = 50  # dark red: negative reflectance once offset by -0.1 ...
    nir[40:45, 100:] = 3000  # ... under bright NIR: NDVI about 2.8, far from a zero denominator
    paths = {}
    for name, data in (("red", red), ("nir", nir)):
        paths[name] = folder / f"{name}.tif"
        profile = {
            "driver": "GTiff", "height": 150, "width": 220, "count": 1, "dtype": "uint16", "nodata": 0,
            "crs": "EPSG:32657", "transform": from_origin(621986.0, 7524789.0, 0.06, 0.06),
        }  # fmt: skip
        with rasterio.open(paths[name], "w", **profile) as dst:
            dst.write(data, 1)
    return paths, {"red": red, "nir": nir}


def expected_ndvi(raw, nodata, scale, offset):
    """NDVI from the raw bands, each with its own (nodata, scale, offset): the float64 formula, as float32."""
    values, valid = {}, np.ones(raw["red"].shape, bool)
    for band in ("red", "nir"):
        values[band] = raw[band].astype(np.float64) * scale[band] + offset[band]
        if nodata[band] is not None:
            valid &= raw[band] != nodata[band]
    total = values["nir"] + values["red"]
    valid &= total != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(valid, (values["nir"] - values["red"]) / total, np.nan).astype(np.float32)


CASES = {
    # scene: (config entry on top of the two urls, {band: nodata}, {band: scale}, {band: offset})
    "nodata_number": (
        {"nodata": FILL},
        {"red": FILL, "nir": FILL},
        {"red": 1, "nir": 1},
        {"red": 0, "nir": 0},
    ),
    "nodata_none": (
        {"nodata": "none"},
        {"red": None, "nir": None},
        {"red": 1, "nir": 1},
        {"red": 0, "nir": 0},
    ),
    "band_over_scene": (
        {"scale": 0.0001, "nodata": 0, "red": {"nodata": FILL, "scale": 0.0002}},
        {"red": FILL, "nir": 0},
        {"red": 0.0002, "nir": 0.0001},
        {"red": 0, "nir": 0},
    ),
    "negative_offset": (
        {"scale": 0.0001, "offset": -0.1, "nir": {"nodata": FILL}},
        {"red": 0, "nir": FILL},
        {"red": 0.0001, "nir": 0.0001},
        {"red": -0.1, "nir": -0.1},
    ),
}


def tagged_rgba(path):
    """uint16 RGBA (red, NIR, a third band, alpha), Sentinel-2 scale/offset tags, no nodata value."""
    rng = np.random.default_rng(29)
    data = rng.integers(900, 6000, (4, 150, 220)).astype(np.uint16)
    data[3] = np.where(rng.random((150, 220)) < 0.2, 0, 65535)
    data[3, :, :30] = 0  # outside the footprint
    profile = {
        "driver": "GTiff", "height": 150, "width": 220, "count": 4, "dtype": "uint16",
        "crs": "EPSG:32657", "transform": from_origin(621986.0, 7524789.0, 0.06, 0.06),
        "photometric": "RGB", "alpha": "YES", "tiled": True, "blockxsize": 64, "blockysize": 64,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.scales, dst.offsets = (0.0001,) * 4, (-0.1,) * 4
    return path


def gdal_ndvi(path, scales=None, offsets=None):
    """NDVI of bands 1 (red) and 2 (NIR) as GDAL reads them: read_masks, the file's tags (or these)."""
    with rasterio.open(path) as src:
        scales, offsets = scales or src.scales, offsets or src.offsets
        red, nir = (src.read(b).astype(np.float64) * scales[b - 1] + offsets[b - 1] for b in (1, 2))
        valid = (src.read_masks(1) != 0) & (src.read_masks(2) != 0) & (nir + red != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(valid, (nir - red) / (nir + red), np.nan).astype(np.float32)


def test_pixel_settings_give_numpys_ndvi_and_statistics(tmp_path, workdir):
    paths, raw = bands(tmp_path)
    rgba = tagged_rgba(tmp_path / "rgba.tif")
    scenes = {
        "file_tags": {"red": {"url": str(rgba), "band": 1}, "nir": {"url": str(rgba), "band": 2}},
        "config_over_tags": {
            "red": {"url": str(rgba), "band": 1},
            "nir": {"url": str(rgba), "band": 2},
            "scale": 0.0002,
        },
    }
    for name, (entry, *_) in CASES.items():
        scene = {"red": {"url": str(paths["red"])}, "nir": {"url": str(paths["nir"])}}
        for key, value in entry.items():
            if key in ("red", "nir"):
                scene[key].update(value)
            else:
                scene[key] = value
        scenes[name] = scene
    (workdir / "pixels.yaml").write_text(yaml.safe_dump({"scenes": scenes}))
    targets = [
        f"results/scenes/{name}/{product}" for name in scenes for product in ("ndvi.tif", "ndvi_stats.json")
    ]
    run_snakemake(workdir, *targets, "--configfile", "config/config.yaml", "pixels.yaml")

    for name, (_, nodata, scale, offset) in CASES.items():
        expected = expected_ndvi(raw, nodata, scale, offset)
        with rasterio.open(workdir / f"results/scenes/{name}/ndvi.tif") as out:
            got = out.read(1)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=name)
        np.testing.assert_array_equal(got, expected, err_msg=name)  # the float64 formula, rounded once
        stats = json.loads((workdir / f"results/scenes/{name}/ndvi_stats.json").read_text())
        valid = expected[~np.isnan(expected)].astype(np.float64)
        assert stats["count_valid"] == valid.size and stats["count_nodata"] == expected.size - valid.size, (
            name
        )
        assert stats["min"] == valid.min() and stats["max"] == valid.max(), name
        assert stats["mean"] == pytest.approx(valid.mean(), rel=1e-6) and stats["std"] == pytest.approx(
            valid.std(), rel=1e-5
        )
        outside = int(np.count_nonzero((valid < -1) | (valid > 1)))
        assert stats["count_outside_histogram_range"] == outside, name
        assert sum(stats["histogram"]["counts"]) == valid.size - outside, name
        # Percentiles of all valid pixels, those past 1 included: within their bound, between min and max.
        ordered = [stats["min"], *stats["percentiles"].values(), stats["max"]]
        assert ordered == sorted(ordered), name
        for p, value in stats["percentiles"].items():
            exact = np.percentile(valid, int(p[1:]))
            assert abs(value - exact) <= stats["percentile_error_bound"][p], (name, p)
    # The dark red pixels, offset below 0, push NDVI past 1: counted, kept, outside the histogram, and
    # NDVI's p98 among them.
    negative = json.loads((workdir / "results/scenes/negative_offset/ndvi_stats.json").read_text())
    assert negative["count_outside_histogram_range"] > 0 and negative["max"] > 1
    assert negative["percentiles"]["p98"] > 1
    # The file's tags and alpha band, with no setting at all; then the config's scale over the tags.
    for name, scales, offsets in (("file_tags", None, None), ("config_over_tags", (0.0002,) * 2, (0.0, 0.0))):
        with rasterio.open(workdir / f"results/scenes/{name}/ndvi.tif") as out:
            np.testing.assert_array_equal(out.read(1), gdal_ndvi(rgba, scales, offsets), err_msg=name)
    log = (workdir / "logs/scenes/file_tags/ndvi.log").read_text()
    assert (
        "red: stack.tif band 1: nodata none (file); scale 0.0001, offset -0.1 (file); mask: the file's alpha band"
        in log
    )
    log = (workdir / "logs/scenes/config_over_tags/ndvi.log").read_text()
    assert "scale 0.0002, offset 0 (config; the file's scale 0.0001, offset -0.1 ignored)" in log

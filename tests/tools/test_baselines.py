"""The benchmark's eager and floor baselines against an independent computation on small inputs.

The benchmark's ratios mean something only if its baselines compute what the workflow does:
per-year means of every numeric column, and NDVI with NaN where a band is nodata or the sum is 0.
"""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import rasterio

from snakedask_tools import make_sample_data
from snakedask_tools.benchmark.baselines import eager, floor

HEIGHT, WIDTH = 600, 700  # more than one 256-row band for the floor's thread pool, more than one COG tile


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A small generated soil-moisture CSV and red/NIR bands with nodata and zero-sum pixels."""
    folder = tmp_path_factory.mktemp("inputs")
    csv = make_sample_data.write_soil_moisture_csv(folder / "dg_soil_moisture.csv", 0.01)
    bands = {
        band: make_sample_data.write_band(folder / f"{band}.tif", band, HEIGHT, WIDTH)
        for band in ("red", "nir")
    }
    # Cases the generator does not make: both bands 0 (sum 0), and nodata in one band only.
    for band, path in bands.items():
        with rasterio.open(path, "r+") as dst:
            values = dst.read(1)
            values[300, 300:310] = 0
            if band == "red":
                values[310, 300:310] = make_sample_data.RASTER_NODATA
            dst.write(values, 1)
    return {"csv": csv, **bands}


def expected_means(csv):
    """Per-year means with pandas' own C parser, read as text in the file's encoding."""
    return pd.read_csv(csv, encoding="latin-1").groupby("year").mean(numeric_only=True)


def expected_ndvi(red_path, nir_path):
    """NDVI in float64 numpy: NaN where either band is nodata or the sum is 0."""
    with rasterio.open(red_path) as red_src, rasterio.open(nir_path) as nir_src:
        red, nir = red_src.read(1).astype(np.float64), nir_src.read(1).astype(np.float64)
        nodata = red_src.nodata, nir_src.nodata
    total = nir + red
    valid = (red != nodata[0]) & (nir != nodata[1]) & (total != 0)
    index = np.full(red.shape, np.nan)
    index[valid] = (nir[valid] - red[valid]) / total[valid]
    return index


def assert_means_equal(actual, expected):
    assert list(actual.index) == list(expected.index)
    assert list(actual.columns) == list(expected.columns)
    np.testing.assert_allclose(actual.to_numpy(float), expected.to_numpy(float), rtol=1e-12)


def test_the_inputs_have_the_cases_that_matter(inputs):
    expected = expected_ndvi(inputs["red"], inputs["nir"])
    assert np.isnan(expected[300, 300:310]).all() and np.isnan(expected[310, 300:310]).all()
    assert np.isfinite(expected).mean() > 0.5  # mostly valid pixels, some nodata outside the footprint
    assert (expected[np.isfinite(expected)] < 0).any() and (expected[np.isfinite(expected)] > 0).any()
    assert expected_means(inputs["csv"])["m_soil"].notna().all()


def test_eager_averages_are_pandas_groupby_means(inputs, tmp_path):
    means = eager.averages(inputs["csv"], tmp_path / "averages.csv")
    expected = expected_means(inputs["csv"])
    assert_means_equal(means, expected)
    assert_means_equal(pd.read_csv(tmp_path / "averages.csv", index_col=0), expected)


def test_eager_ndvi_is_numpy_ndvi_written_as_a_cog(inputs, tmp_path):
    index = eager.ndvi(inputs["red"], inputs["nir"], tmp_path / "ndvi.tif")
    expected = expected_ndvi(inputs["red"], inputs["nir"])
    np.testing.assert_allclose(index, expected, atol=1e-6)  # NaNs in the same places, too
    with rasterio.open(tmp_path / "ndvi.tif") as src:
        np.testing.assert_allclose(src.read(1), expected, atol=1e-6)
        # The workflow's product format: float32 in 256-px ZSTD tiles, with overviews.
        assert src.dtypes == ("float32",) and src.block_shapes == [(256, 256)]
        assert src.compression.name.lower() == "zstd" and src.overviews(1)
        with rasterio.open(inputs["red"]) as red:
            assert (src.crs, src.transform) == (red.crs, red.transform)


def test_floor_ndvi_is_numpy_ndvi(inputs):
    (red, red_nodata), (nir, nir_nodata) = floor.read_band(inputs["red"]), floor.read_band(inputs["nir"])
    index = floor.ndvi(red, nir, (red_nodata, nir_nodata))
    assert index.dtype == np.float32
    np.testing.assert_allclose(index, expected_ndvi(inputs["red"], inputs["nir"]), atol=1e-6)


def test_floor_csv_means_are_pandas_groupby_means(inputs):
    data = inputs["csv"].read_bytes()
    types = floor.csv_types(data)
    assert set(types) == {"year", "doy", "hour", "minute", "sensorZ", "m_soil"}
    table = floor.average(data, types).to_pandas().set_index("year").sort_index()
    table.columns = [name.removesuffix("_mean") for name in table.columns]
    expected = expected_means(inputs["csv"])
    assert_means_equal(table, expected[table.columns])


def run_module(module, *args):
    return subprocess.run(
        [sys.executable, "-m", f"snakedask_tools.benchmark.baselines.{module}", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_eager_runs_as_its_own_process_making_every_product(inputs, tmp_path):
    result = run_module("eager", "all", inputs["csv"], inputs["red"], inputs["nir"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "averages.csv",
        "averages.png",
        "ndvi.png",
        "ndvi.tif",
    ]
    assert_means_equal(pd.read_csv(tmp_path / "averages.csv", index_col=0), expected_means(inputs["csv"]))
    with rasterio.open(tmp_path / "ndvi.tif") as src:
        np.testing.assert_allclose(src.read(1), expected_ndvi(inputs["red"], inputs["nir"]), atol=1e-6)


def test_floors_run_as_their_own_processes(inputs, tmp_path):
    size = 3 * floor.CHUNK // 2  # a whole buffer and part of one
    result = run_module("floor", "bytes", tmp_path / "out", size, inputs["red"], inputs["nir"])
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").stat().st_size == size
    for args in (("csv", inputs["csv"]), ("raster", inputs["red"], inputs["nir"])):
        result = run_module("floor", *args)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.splitlines()[-1])["seconds"] >= 0


@pytest.mark.parametrize("module", ["eager", "floor"])
def test_baselines_refuse_unknown_modes_with_their_usage(module):
    result = run_module(module, "nonsense")
    assert result.returncode != 0
    assert f"python -m snakedask_tools.benchmark.baselines.{module}" in result.stderr

"""The benchmark's eager and floor baselines against an independent computation on small inputs.

The benchmark's ratios mean something only if its baselines compute what the workflow does:
per-year means of every numeric column, and NDVI with NaN where a band is nodata or the sum is 0.
"""

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import rasterio

from snakedask_tools import make_sample_data
from snakedask_tools.benchmark.baselines import eager, floor, peers
from tests.helpers import require_service

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


def require_peer(tool):
    """Skip (fail in CI) when a peer tool is not installed: requirements.txt has Polars and DuckDB,
    .ci/run installs gdal-bin."""
    if peers.availability()[tool] is None:
        install = "apt-get install gdal-bin" if tool == "gdal" else f"pip install {tool}"
        require_service(f"{tool} is not installed ({install})")


def assert_same_means_as_pandas(path, csv):
    """The peer's file, read back with pandas, holds pandas' own per-year means (to float rounding)."""
    actual, expected = pd.read_csv(path, index_col=0), expected_means(csv)
    assert list(actual.index) == list(expected.index)
    assert list(actual.columns) == list(expected.columns)
    np.testing.assert_allclose(actual.to_numpy(float), expected.to_numpy(float), rtol=1e-12)


@pytest.mark.parametrize("tool", ["polars", "duckdb"])
def test_peer_averages_run_as_their_own_processes_and_are_pandas_groupby_means(tool, inputs, tmp_path):
    require_peer(tool)
    result = run_module("peers", tool, inputs["csv"], tmp_path / "averages.csv", 2)
    assert result.returncode == 0, result.stderr
    assert_same_means_as_pandas(tmp_path / "averages.csv", inputs["csv"])


def test_peer_averages_keep_na_years_and_only_numeric_columns(tmp_path):
    """A column that is NA for a whole year gives an empty mean; text columns are left out."""
    csv = tmp_path / "small.csv"
    csv.write_bytes(
        b'"site","year","m_soil","n","unit"\r\n'
        b'"A",2015,0.5,1,"m\xb3"\r\n"A",2015,NA,2,"m\xb3"\r\n"B",2014,NA,3,"m\xb3"\r\n'
        b'"B",2014,NA,5,"m\xb3"\r\n'
    )
    for tool in ("polars", "duckdb"):
        if peers.availability()[tool] is None:
            continue
        getattr(peers, f"{tool}_averages")(csv, tmp_path / f"{tool}.csv", 1)
        means = pd.read_csv(tmp_path / f"{tool}.csv", index_col=0)
        assert list(means.columns) == ["m_soil", "n"], tool
        assert list(means.index) == [2014, 2015], tool
        assert math.isnan(means.loc[2014, "m_soil"]) and means.loc[2014, "n"] == 4.0, tool
        assert means.loc[2015, "m_soil"] == 0.5 and means.loc[2015, "n"] == 1.5, tool


def test_gdal_cli_ndvi_is_numpy_ndvi_written_as_a_cog(inputs, tmp_path):
    require_peer("gdal")
    nodata = [rasterio.open(inputs[band]).nodata for band in ("red", "nir")]
    command = peers.gdal_command(inputs["red"], inputs["nir"], tmp_path / "ndvi.tif", *nodata)
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ndvi.tif"]  # the intermediate file is gone
    expected = expected_ndvi(inputs["red"], inputs["nir"])
    with rasterio.open(tmp_path / "ndvi.tif") as src:
        index = src.read(1)
        np.testing.assert_array_equal(np.isnan(index), np.isnan(expected))
        np.testing.assert_allclose(index, expected, atol=1e-6)
        assert src.dtypes == ("float32",) and src.block_shapes == [(256, 256)] and math.isnan(src.nodata)
        assert src.compression.name.lower() == "zstd" and src.overviews(1)
        with rasterio.open(inputs["red"]) as red:
            assert (src.crs, src.transform) == (red.crs, red.transform)


@pytest.mark.parametrize("nodata", [(None, None), (-10000.0, 0.0), (float("nan"), float("nan"))])
def test_gdal_calc_expression_masks_nodata_and_zero_sums(nodata):
    """The formula in numpy's namespace, as gdal_calc evaluates it, on float32 blocks."""
    red = np.array([[0.1, 0.0, 0.2, 0.3]], np.float32)
    nir = np.array([[0.5, 0.0, 0.4, 0.3]], np.float32)
    red[0, 2] = np.nan if nodata[0] is None else nodata[0]
    nir[0, 3] = np.nan if nodata[1] is None else nodata[1]
    index = eval(peers.ndvi_expression(*nodata), vars(np), {"A": red, "B": nir})
    assert index.dtype == np.float32
    np.testing.assert_allclose(index[0, 0], (0.5 - 0.1) / (0.5 + 0.1), rtol=1e-6)
    assert np.isnan(index[0, 1:]).all()  # sum 0; red nodata; NIR nodata (or NaN)


def test_a_peer_not_installed_is_reported_so(monkeypatch):
    monkeypatch.setattr(peers.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    assert peers.availability() == {"polars": None, "duckdb": None, "gdal": None}


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="gdal-bin is not installed")
def test_gdal_cli_version_names_the_release():
    assert peers.gdal_cli_version()[0].isdigit()


@pytest.mark.parametrize("module", ["eager", "floor", "peers"])
def test_baselines_refuse_unknown_modes_with_their_usage(module):
    result = run_module(module, "nonsense")
    assert result.returncode != 0
    assert f"python -m snakedask_tools.benchmark.baselines.{module}" in result.stderr

"""The benchmark's product check: it fails, naming the case and the difference, on a mismatch."""

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from snakedask_tools.benchmark import checks


def write_means(path, values=((0.27, 151.0), (0.26, 149.5))):
    frame = pd.DataFrame(values, index=pd.Index([2014, 2015], name="year"), columns=["m_soil", "doy"])
    frame.to_csv(path)
    return path


def write_ndvi(path, values, origin=(621986.0, 7524789.0)):
    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32657",
        "transform": from_origin(*origin, 0.06, 0.06),
        "nodata": float("nan"),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(np.float32), 1)
    return path


@pytest.fixture
def ndvi():
    return np.random.default_rng(1).uniform(-1, 1, (40, 60)).astype(np.float32)


def test_equal_averages_pass(tmp_path):
    checks.check_averages("averages 1x", write_means(tmp_path / "a.csv"), write_means(tmp_path / "b.csv"))


def test_a_different_mean_fails_naming_the_case_column_year_and_values(tmp_path):
    ours = write_means(tmp_path / "averages.csv")
    theirs = write_means(tmp_path / "eager.csv", ((0.27, 151.0), (0.2601, 149.5)))
    with pytest.raises(checks.ProductMismatch) as failure:
        checks.check_averages("averages 0.05x", ours, theirs)
    message = str(failure.value)
    assert message.startswith("averages 0.05x: the workflow's averages.csv differs from the eager baseline's")
    assert "1 of 4 means differ" in message
    assert "m_soil in 2015: workflow 0.26, eager 0.2601" in message
    assert failure.value.case == "averages 0.05x"


def test_different_years_or_columns_or_a_missing_product_fail(tmp_path):
    ours = write_means(tmp_path / "averages.csv")
    fewer_years = tmp_path / "years.csv"
    pd.read_csv(ours, index_col=0).iloc[:1].to_csv(fewer_years)
    other_columns = tmp_path / "columns.csv"
    pd.read_csv(ours, index_col=0).rename(columns={"doy": "hour"}).to_csv(other_columns)
    expected = {
        fewer_years: "years differ: workflow [2014, 2015], eager [2014]",
        other_columns: "columns differ: workflow ['m_soil', 'doy'], eager ['m_soil', 'hour']",
        tmp_path / "missing.csv": f"{tmp_path / 'missing.csv'} missing",
    }
    for theirs, difference in expected.items():
        with pytest.raises(checks.ProductMismatch, match="averages 1x") as failure:
            checks.check_averages("averages 1x", ours, theirs)
        assert failure.value.difference == difference


def test_equal_ndvi_passes(tmp_path, ndvi):
    ndvi[0, 0] = np.nan  # NaN where both are NaN is agreement
    checks.check_ndvi(
        "ndvi 1x tiled", write_ndvi(tmp_path / "a.tif", ndvi), write_ndvi(tmp_path / "b.tif", ndvi)
    )


def test_a_different_pixel_fails_naming_the_case_place_and_values(tmp_path, ndvi):
    ours = write_ndvi(tmp_path / "ndvi.tif", ndvi)
    changed = ndvi.copy()
    changed[17, 23] = 0.5 if ndvi[17, 23] != 0.5 else -0.5
    theirs = write_ndvi(tmp_path / "eager.tif", changed)
    with pytest.raises(checks.ProductMismatch) as failure:
        checks.check_ndvi("ndvi 0.25x tiled-deflate", ours, theirs)
    message = str(failure.value)
    assert message.startswith(
        "ndvi 0.25x tiled-deflate: the workflow's ndvi.tif differs from the eager baseline's"
    )
    assert "1 of 2400 pixels differ" in message
    assert f"row 17, column 23: workflow {float(ndvi[17, 23])!r}, eager {float(changed[17, 23])!r}" in message


def test_nan_against_a_value_fails(tmp_path, ndvi):
    changed = ndvi.copy()
    changed[5, 5] = np.nan
    with pytest.raises(checks.ProductMismatch, match=r"row 5, column 5: workflow .*, eager nan"):
        checks.check_ndvi(
            "ndvi 1x", write_ndvi(tmp_path / "a.tif", ndvi), write_ndvi(tmp_path / "b.tif", changed)
        )


def test_a_different_grid_fails(tmp_path, ndvi):
    ours = write_ndvi(tmp_path / "a.tif", ndvi)
    with pytest.raises(checks.ProductMismatch, match=r"ndvi 1x: .*transform differs"):
        checks.check_ndvi("ndvi 1x", ours, write_ndvi(tmp_path / "b.tif", ndvi, origin=(621990.0, 7524789.0)))
    with pytest.raises(checks.ProductMismatch, match=r"shape differs: workflow \(40, 60\), eager \(40, 59\)"):
        checks.check_ndvi("ndvi 1x", ours, write_ndvi(tmp_path / "c.tif", ndvi[:, :59]))


def test_a_peer_that_computes_something_else_fails_naming_the_peer(tmp_path, ndvi):
    ours = write_means(tmp_path / "averages.csv")
    theirs = write_means(tmp_path / "polars.csv", ((0.27, 151.0), (0.26, 149.6)))
    with pytest.raises(checks.ProductMismatch) as failure:
        checks.check_averages("averages 1x", ours, theirs, "Polars 2.1.0")
    assert "differs from the Polars 2.1.0 baseline's" in str(failure.value)
    assert "doy in 2015: workflow 149.5, Polars 2.1.0 149.6" in str(failure.value)
    changed = ndvi.copy()
    changed[3, 4] = np.nan
    with pytest.raises(
        checks.ProductMismatch, match=r"differs from the GDAL CLI 3.6.2 baseline's.*GDAL CLI 3.6.2 nan"
    ):
        checks.check_ndvi(
            "ndvi 1x",
            write_ndvi(tmp_path / "a.tif", ndvi),
            write_ndvi(tmp_path / "b.tif", changed),
            "GDAL CLI 3.6.2",
        )


def test_same_pixels_pass_with_nan_where_both_are_nan(tmp_path, ndvi):
    ndvi[3, 5] = np.nan
    ours, theirs = write_ndvi(tmp_path / "a.tif", ndvi), write_ndvi(tmp_path / "b.tif", ndvi)
    assert checks.pixels_difference(ours, theirs, rows=7) is None
    checks.check_same_pixels("ndvi 1x in place", ours, theirs, "local-file workflow")


def test_one_pixel_off_by_a_little_fails_the_pixel_for_pixel_check(tmp_path, ndvi):
    """Closer than the eager check's tolerance (atol 1e-6) and outside its three windows: still a mismatch."""
    changed = ndvi.copy()
    changed[33, 17] = np.nextafter(changed[33, 17], np.float32(2))
    ours, theirs = write_ndvi(tmp_path / "ndvi.tif", changed), write_ndvi(tmp_path / "local.tif", ndvi)
    difference = checks.pixels_difference(ours, theirs, rows=8, baseline="local")
    assert difference.startswith("1 of 480 pixels differ in rows 32-39, e.g. at row 33, column 17: workflow ")
    with pytest.raises(checks.ProductMismatch) as failure:
        checks.check_same_pixels("ndvi 1x in place", ours, theirs, "local-file workflow")
    assert str(failure.value).startswith(
        "ndvi 1x in place: the workflow's ndvi.tif differs from the local-file workflow baseline's: 1 of "
    )


def test_a_nan_against_a_number_or_another_grid_fails_the_pixel_for_pixel_check(tmp_path, ndvi):
    nan = ndvi.copy()
    nan[39, 59] = np.nan
    local = write_ndvi(tmp_path / "local.tif", ndvi)
    assert "at row 39, column 59: workflow nan" in checks.pixels_difference(
        write_ndvi(tmp_path / "n.tif", nan), local
    )
    moved = write_ndvi(tmp_path / "moved.tif", ndvi, origin=(621986.06, 7524789.0))
    assert checks.pixels_difference(moved, local).startswith("transform differs")
    assert checks.pixels_difference(tmp_path / "none.tif", local) == f"{tmp_path / 'none.tif'} missing"

"""The bundled sample is the generator's output and looks like the lesson's data."""

import numpy as np
import pandas as pd
import rasterio

from snakedask_tools.make_sample_data import main as make_sample_data


def test_committed_sample_is_reproducible(tmp_path, sample):
    make_sample_data(["--sample", "--out", str(tmp_path)])
    assert (tmp_path / "dg_soil_moisture.csv").read_bytes() == sample["csv"].read_bytes()
    for band in ("red", "nir"):
        with (
            rasterio.open(tmp_path / f"RU_ANS_TR2_FL005M_{band}.tif") as new,
            rasterio.open(sample[band]) as old,
        ):
            assert new.profile == old.profile
            np.testing.assert_array_equal(new.read(), old.read())


def test_csv_has_the_lessons_layout(sample):
    raw = sample["csv"].read_bytes()
    assert sum(path.stat().st_size for path in sample.values()) < 2_000_000
    assert raw.startswith(
        b'"timestamp","year","doy","hour","minute","site","logger","port","sensor","sensorZ","m_soil","unit"\r\n'
    )
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF throughout
    first_non_utf8 = raw.index(b"\xb3")
    assert 150 < first_non_utf8 < 250  # the real file: byte 192
    frame = pd.read_csv(sample["csv"], encoding="latin-1")
    assert set(frame["site"]) == {"DAVY", "HDF1", "LBR", "LDF2", "MDF1", "MDF2"}
    assert set(frame["port"]) == {"Port 3", "Port 4"} and (frame["sensorZ"] < 0).all()
    assert set(frame["unit"]) == {"m³/m³ VWC"} and set(frame["sensor"]) == {"5TM Moisture/Temp"}
    assert frame["m_soil"].isna().any() and set(frame["minute"]) == {0, 30}
    assert frame["year"].min() == 2014 and frame["year"].max() == 2020
    assert b',NA,"' in raw  # R writes NA unquoted


def test_rasters_look_like_the_drone_bands(sample):
    for band in ("red", "nir"):
        with rasterio.open(sample[band]) as src:
            assert src.crs.to_epsg() == 32657 and src.dtypes == ("float32",) and src.count == 1
            assert src.nodata == -10000.0 and src.profile["tiled"]
            assert abs(src.res[0] - 0.06) < 0.001 and abs(src.bounds.left - 622000) < 100
            assert abs(src.bounds.top - 7524700) < 200
            data = src.read(1)
            outside = data == src.nodata
            assert outside[0, 0] and outside[-1, -1] and not outside[src.height // 2, src.width // 2]

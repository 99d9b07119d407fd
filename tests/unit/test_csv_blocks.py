"""The pyarrow block reader returns every row exactly once, whatever the block size."""

import dask
import pandas as pd
import pytest

from snakedask.csv_blocks import read_csv_blocks


@pytest.mark.parametrize("blocksize", [1000, 4096, "64KB", "1GB"])
def test_blocks_cover_every_line_once(sample, blocksize):
    expected = pd.read_csv(sample["csv"], encoding="latin-1")
    columns = ["year", "doy", "hour", "minute", "sensorZ", "m_soil", "site"]
    with dask.config.set(scheduler="sync"):
        frame = read_csv_blocks(sample["csv"], "iso8859-1", blocksize, columns=columns)
        got = frame.compute().reset_index(drop=True)
    assert len(got) == len(expected)
    for column in columns:
        if column == "site":
            assert list(got[column]) == list(expected[column])
        else:
            pd.testing.assert_series_equal(got[column], expected[column].astype("float64"), check_names=False)


def test_crlf_and_latin1_text_survive(sample):
    with dask.config.set(scheduler="sync"):
        units = read_csv_blocks(sample["csv"], "iso8859-1", "64KB", columns=["unit"]).compute()
    assert set(units["unit"]) == {"m³/m³ VWC"}


def test_blocks_smaller_than_a_line(sample, tmp_path):
    # Most 37-byte ranges hold no line start at all and must give empty partitions.
    lines = sample["csv"].read_bytes().split(b"\r\n")[:150]
    path = tmp_path / "short.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    with dask.config.set(scheduler="sync"):
        got = read_csv_blocks(path, "iso8859-1", 37, columns=["year", "m_soil"]).compute()
    expected = pd.read_csv(path, encoding="latin-1")
    assert len(got) == len(expected) == 149
    assert got["m_soil"].tolist() == pytest.approx(expected["m_soil"].tolist(), nan_ok=True)

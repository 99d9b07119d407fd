"""Averages: dask groupby means against plain pandas, dtype drift, clear errors."""

import logging

import dask
import numpy as np
import pandas as pd
import pytest

from snakedask.averages import compute_averages, read_table
from snakedask.errors import TableError


@pytest.fixture(autouse=True)
def synchronous_dask():
    # Unit tests check the arithmetic; the workflow tests run it on real clusters.
    with dask.config.set(scheduler="threads"):
        yield


def pandas_means(path, key="year", **kwargs):
    frame = pd.read_csv(path, **kwargs)
    return frame.groupby(key).mean(numeric_only=True).sort_index()


ENGINES = pytest.mark.parametrize("engine", ["pyarrow", "pandas"])


@ENGINES
def test_sample_matches_pandas(sample, engine):
    expected = pandas_means(sample["csv"], encoding="latin-1")
    result = compute_averages(sample["csv"], "iso8859-1", "year", blocksize="64KB", engine=engine)
    assert read_table(sample["csv"], "iso8859-1", blocksize="64KB").npartitions > 5
    assert list(result.columns) == ["doy", "hour", "minute", "sensorZ", "m_soil"]
    assert result.index.dtype == np.int64 and list(result.index) == list(range(2014, 2021))
    pd.testing.assert_frame_equal(result, expected, check_dtype=False, rtol=1e-12)
    # The stand-in follows the lesson's yearly means (0.22-0.29).
    assert result["m_soil"].between(0.21, 0.30).all()


@ENGINES
def test_int_column_gaining_na_in_a_later_block(tmp_path, engine):
    # `count` is integral for the whole first block and NA later: plain dask would
    # infer int64 from block one and raise at compute time.
    rows = [f"{2000 + i % 3},{i},{i * 0.5}" for i in range(3000)]
    rows += [f"{2000 + i % 3},NA,{i * 0.5}" for i in range(3000)]
    path = tmp_path / "drift.csv"
    path.write_text("year,count,value\n" + "\n".join(rows) + "\n")
    result = compute_averages(path, "utf-8", "year", blocksize="16KB", engine=engine)
    pd.testing.assert_frame_equal(result, pandas_means(path), check_dtype=False)


@ENGINES
def test_group_by_a_text_column_with_dtype_override(sample, engine):
    result = compute_averages(
        sample["csv"], "latin-1", "site", blocksize="64KB", dtype={"sensorZ": "float64"}, engine=engine
    )
    expected = pandas_means(sample["csv"], "site", encoding="latin-1")
    assert list(result.index) == ["DAVY", "HDF1", "LBR", "LDF2", "MDF1", "MDF2"]
    pd.testing.assert_frame_equal(result, expected, check_dtype=False, check_index_type=False)


@ENGINES
def test_read_options_for_european_csv(tmp_path, engine):
    path = tmp_path / "semicolon.csv"
    path.write_text("Year;m_soil;flag\n2015;0,25;-\n2015;0,35;x\n2016;0,5;-9999\n2016;-9999;x\n")
    options = {"sep": ";", "decimal": ",", "na_values": ["-9999"]}
    result = compute_averages(path, "utf-8", "Year", read_options=options, engine=engine)
    assert result["m_soil"].to_dict() == pytest.approx({2015: 0.30, 2016: 0.5})


def test_comment_lines_fall_back_to_pandas(tmp_path):
    path = tmp_path / "commented.csv"
    path.write_text("# logger export\nYear,m_soil\n2015,0.25\n# maintenance\n2015,0.35\n")
    result = compute_averages(path, "utf-8", "Year", read_options={"comment": "#"}, engine="pyarrow")
    assert result["m_soil"].to_dict() == pytest.approx({2015: 0.30})


def test_missing_groupby_column_lists_the_columns(sample):
    with pytest.raises(TableError) as err:
        compute_averages(sample["csv"], "latin-1", "Year")
    message = str(err.value)
    assert "dg_soil_moisture.csv has no column 'Year'" in message
    assert "'timestamp', 'year', 'doy'" in message and "`groupby:`" in message


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("", "is empty: it has no header line"),
        ("year,m_soil\n", "has a header but no data rows"),
        ("year,site\n2014,DAVY\n", "no numeric column to average besides 'year'"),
    ],
)
@ENGINES
def test_degenerate_tables(tmp_path, content, pattern, engine):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(TableError, match=pattern):
        compute_averages(path, "utf-8", "year", engine=engine)


@ENGINES
def test_text_in_a_numeric_column_further_down(tmp_path, engine):
    rows = [f"{2000 + i % 3},{i * 0.5}" for i in range(150_000)] + ["2001,broken"]  # past the 1 MB type sniff
    path = tmp_path / "text.csv"
    path.write_text("year,value\n" + "\n".join(rows) + "\n")
    with pytest.raises(TableError, match=r"text.csv: a column changes type between blocks.*`dtype:`"):
        compute_averages(path, "utf-8", "year", blocksize="256KB", engine=engine)


def test_unsafe_read_option_is_refused(sample):
    with pytest.raises(TableError, match="not allowed"):
        read_table(sample["csv"], "latin-1", read_options={"usecols": ["year"]})


def test_named_columns_are_averaged_and_numeric_looking_text_is_reported(tmp_path, caplog):
    path = tmp_path / "t.csv"
    rows = ["year,site,m_soil,nitrate,ph"]
    for i in range(300):
        nitrate = "<0.01" if i % 4 == 0 else f"{0.01 + i / 1000:.3f}"
        ph = f"{6 + i % 10 / 10:.1f}".replace(".", ",")  # a decimal comma, quoted
        rows.append(f'{2015 + i % 3},S{i % 2},{i / 300:.4f},{nitrate},"{ph}"')
    path.write_text("\n".join(rows) + "\n")
    expected = pd.read_csv(path).groupby("year")[["m_soil"]].mean()
    with dask.config.set(scheduler="threads"), caplog.at_level(logging.INFO):
        every = compute_averages(path, "utf-8", "year", blocksize="2KB")
        named = compute_averages(path, "utf-8", "year", blocksize="2KB", columns=["m_soil"])
    pd.testing.assert_frame_equal(every, expected, check_names=False)
    pd.testing.assert_frame_equal(named, expected, check_names=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("'nitrate' looks numeric but is read as text" in w and "'<0.01'" in w for w in warnings)
    assert any("'ph' looks numeric" in w and "'6,0'" in w for w in warnings)
    assert any("text columns, not averaged: site" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "columns, message",
    [
        (["m_siol"], r"no column 'm_siol' \(from the table's `columns:`\).*Did you mean 'm_soil'\?"),
        (
            ["nitrate"],
            r"column 'nitrate' \(from the table's `columns:`\) is not numeric: values such as '<0.01'",
        ),
        (["year", "m_soil"], r"`columns:` lists 'year', the column it is grouped by"),
    ],
    ids=["missing", "text", "the key"],
)
def test_bad_columns_are_refused(tmp_path, columns, message):
    path = tmp_path / "t.csv"
    path.write_text("year,m_soil,nitrate\n" + "".join(f"{2015 + i % 2},{i / 10},<0.01\n" for i in range(20)))
    with dask.config.set(scheduler="threads"), pytest.raises(TableError, match=message):
        compute_averages(path, "utf-8", "year", columns=columns)


@ENGINES
def test_counts_per_group_equal_pandas(tmp_path, engine):
    # 2020 is a partial year; m_soil has NA, more in some years than others.
    rows = ["year,m_soil,temp"]
    for i in range(3000):
        year = 2017 + i % 3 if i < 2900 else 2020
        m_soil = "NA" if i % (7 + year % 3) == 0 else f"{i / 3000:.4f}"
        rows.append(f"{year},{m_soil},{i % 13 - 6}")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    with dask.config.set(scheduler="threads"):
        means, counts = compute_averages(path, "utf-8", "year", blocksize="8KB", engine=engine, counts=True)
    frame = pd.read_csv(path)
    expected = (
        frame.groupby("year").count().assign(rows=frame.groupby("year").size())[["rows", "m_soil", "temp"]]
    )
    pd.testing.assert_frame_equal(counts, expected, check_dtype=False, check_names=False)
    pd.testing.assert_frame_equal(means, frame.groupby("year").mean(), check_names=False)
    assert counts.loc[2020, "rows"] == 100


@ENGINES
def test_rows_without_a_key_and_a_group_without_values(tmp_path, engine):
    # As pandas: rows without a key are left out; a group whose column is all NA
    # averages to NaN with a count of 0. `n` is read as int64 and summed without overflow.
    rows = ["year,m_soil,n"]
    for i in range(2000):
        year = "NA" if i % 11 == 0 else str(2000 + i % 4)
        m_soil = "NA" if year == "2003" else f"{i / 2000:.3f}"
        rows.append(f"{year},{m_soil},{i + 2**62 // 1000}")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    means, counts = compute_averages(
        path, "utf-8", "year", blocksize="4KB", dtype={"n": "int64"}, engine=engine, counts=True
    )
    frame = pd.read_csv(path)
    grouped = frame.groupby("year")
    expected = grouped.count().assign(rows=grouped.size())[["rows", "m_soil", "n"]]
    pd.testing.assert_frame_equal(
        counts, expected, check_dtype=False, check_names=False, check_index_type=False
    )
    pd.testing.assert_frame_equal(means, grouped.mean(), check_names=False, check_index_type=False)
    assert counts["rows"].sum() == 2000 - 182 and counts.loc[2003, "m_soil"] == 0
    assert np.isnan(means.loc[2003, "m_soil"])

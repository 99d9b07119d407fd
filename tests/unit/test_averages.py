"""Averages: dask groupby means against plain pandas, dtype drift, clear errors."""

import logging
import re

import dask
import numpy as np
import pandas as pd
import pytest

from snakedask.averages import compute_averages
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
def test_text_in_a_numeric_column_further_down(tmp_path, engine, caplog):
    # Past the 1 MB sample: pandas reads the whole column as text and leaves it out; so does the workflow.
    rows = [f"{2000 + i % 3},{i * 0.5},{i}" for i in range(150_000)] + ["2001,broken,7"]
    path = tmp_path / "text.csv"
    path.write_text("year,value,n\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        result = compute_averages(path, "utf-8", "year", blocksize="256KB", engine=engine)
    pd.testing.assert_frame_equal(result, pandas_means(path), check_names=False)
    assert list(result.columns) == ["n"]
    assert any(
        "'value' is numeric in the first rows but holds 'broken'" in r.getMessage() for r in caplog.records
    )
    with pytest.raises(
        TableError, match=r"'value' is numeric in the first rows but holds 'broken'.*`columns:`"
    ):
        compute_averages(path, "utf-8", "year", blocksize="256KB", engine=engine, columns=["value"])


def test_unsafe_read_option_is_refused(sample):
    with pytest.raises(TableError, match="not allowed"):
        compute_averages(sample["csv"], "latin-1", read_options={"usecols": ["year"]})


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


def averages_and_counts_equal_pandas(path, key, engine, encoding="utf-8", **options):
    """The workflow's means and counts against plain pandas on the whole file (both with pandas' column names)."""
    means, counts = compute_averages(path, encoding, key, engine=engine, counts=True, **options)
    frame = pd.read_csv(path, encoding=encoding, **options.get("read_options", {}))
    grouped = frame.groupby(key)
    expected = grouped.mean(numeric_only=True)[options.get("columns") or slice(None)]
    pd.testing.assert_frame_equal(means, expected, rtol=1e-12, check_names=False)
    expected_counts = grouped.count()[expected.columns].assign(rows=grouped.size())[
        ["rows", *expected.columns]
    ]
    pd.testing.assert_frame_equal(counts, expected_counts, check_dtype=False, check_names=False)
    return means


@ENGINES
def test_bool_columns_are_averaged_as_pandas_does(tmp_path, engine):
    # yes/no flags pandas reads as bool: their mean is the fraction of True. With a gap they are text.
    rows = [
        f"{2000 + i % 3},{'True' if i % 3 else 'False'},{'TRUE' if i % 4 else ''},{i}" for i in range(4000)
    ]
    path = tmp_path / "flags.csv"
    path.write_text("year,flag,gappy,n\n" + "\n".join(rows) + "\n")
    means = averages_and_counts_equal_pandas(path, "year", engine, blocksize="8KB")
    assert list(means.columns) == ["flag", "n"]


@ENGINES
def test_an_empty_first_header_name_is_pandas_unnamed(tmp_path, engine):
    # DataFrame.to_csv writes its index under an empty name; pandas reads it back as "Unnamed: 0".
    frame = pd.DataFrame({"site": [f"S{i % 4}" for i in range(500)], "v": np.arange(500) / 7})
    path = tmp_path / "indexed.csv"
    frame.to_csv(path)
    means = averages_and_counts_equal_pandas(path, "site", engine, blocksize="2KB")
    assert list(means.columns) == ["Unnamed: 0", "v"]
    averages_and_counts_equal_pandas(path, "site", engine, blocksize="2KB", columns=["Unnamed: 0"])


@ENGINES
def test_numeric_na_values_in_any_spelling(tmp_path, engine):
    # na_values ["-9999"]: pandas also reads -9999.0 and -9999.00 as missing, in the key too.
    rows = [
        f"{['2019', '2020', '-9999.0'][i % 3]},{['-9999.0', '-9999.00', '-9999', str(i)][i % 4]}"
        for i in range(900)
    ]
    path = tmp_path / "sentinels.csv"
    path.write_text("year,t\n" + "\n".join(rows) + "\n")
    means = averages_and_counts_equal_pandas(
        path, "year", engine, blocksize="1KB", read_options={"na_values": ["-9999"]}
    )
    assert (means["t"] > 0).all()


@ENGINES
@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"], ids=["CR", "CRLF", "LF"])
def test_any_line_ending(tmp_path, engine, ending):
    path = tmp_path / "mac.csv"
    path.write_bytes(
        ("year,v" + ending + "".join(f"{2000 + i % 2},{i}{ending}" for i in range(3000))).encode()
    )
    averages_and_counts_equal_pandas(path, "year", engine, blocksize="1KB")


@ENGINES
def test_short_rows_are_filled_as_pandas_fills_them(tmp_path, engine):
    # Trailing empty fields left off: pandas reads the missing fields as NaN (pyarrow alone refuses such rows).
    rows = [f"{2000 + i % 2},{i}" if i % 9 == 0 else f"{2000 + i % 2},{i},{i / 2}" for i in range(2000)]
    path = tmp_path / "short.csv"
    path.write_text("year,a,b\n" + "\n".join(rows) + "\n")
    averages_and_counts_equal_pandas(path, "year", engine, blocksize="2KB")


@ENGINES
def test_a_key_with_text_further_down_is_grouped_as_text(tmp_path, engine):
    rows = [f"{i % 3},{i}" for i in range(150_000)] + ["x,5"]  # past the 1 MB sample
    path = tmp_path / "key.csv"
    path.write_text("site,v\n" + "\n".join(rows) + "\n")
    means = averages_and_counts_equal_pandas(path, "site", engine, blocksize="256KB")
    assert list(means.index) == ["0", "1", "2", "x"]


@ENGINES
@pytest.mark.parametrize("late", ["0x1F,5,3", "1,5,0X1f"], ids=["in the key", "in a value column"])
def test_hex_after_the_sample_is_text_as_in_pandas(tmp_path, engine, late):
    # pyarrow reads 0x1F as the integer 31 (a group 31, or 31 averaged); pandas as text.
    rows = [f"{i % 3},{i * 0.5},{i}" for i in range(150_000)]  # past the 1 MB sample
    path = tmp_path / "hex.csv"
    path.write_text("site,v,n\n" + "\n".join(rows) + f"\n{late}\n31,1,2\n")
    averages_and_counts_equal_pandas(path, "site", engine, blocksize="256KB")


@ENGINES
def test_a_key_with_missing_values_is_float_as_in_pandas(tmp_path, engine):
    rows = [f"{'NA' if i % 7 == 0 else 2000 + i % 3},{i}" for i in range(2000)]
    path = tmp_path / "k.csv"
    path.write_text("year,v\n" + "\n".join(rows) + "\n")
    means = averages_and_counts_equal_pandas(path, "year", engine, blocksize="1KB")
    assert means.index.dtype == np.float64


@ENGINES
@pytest.mark.parametrize("earlier", ["", "-1,3\n"], ids=["unsigned", "beside a negative key"])
def test_a_key_beyond_int64_in_a_later_block_keeps_its_value(tmp_path, engine, earlier):
    # 2**64 - 1 is uint64 in its block: met with int64 blocks it must neither wrap (-1) nor round
    # through float64; beside a negative key elsewhere, pandas reads the column as text.
    path = tmp_path / "ids.csv"
    rows = "".join(f"{i % 5},{i}\n" for i in range(3000))
    # Two ids 1 apart that float64 cannot tell apart: two groups, as in pandas.
    path.write_text(f"id,v\n{earlier}{rows}18446744073709551615,5\n18446744073709551614,7\n")
    means = averages_and_counts_equal_pandas(path, "id", engine, blocksize="4KB")
    assert "18446744073709551615" in [str(label) for label in means.index]


@ENGINES
@pytest.mark.parametrize("late", ["-9223372036854775809", "18446744073709551616", "1e300"])
def test_a_value_column_with_integers_beyond_int64_later_on_is_averaged_as_in_pandas(tmp_path, engine, late):
    # pandas reads integers below -2**63 or above 2**64 as Python objects and leaves the column out;
    # pyarrow read them as floats and averaged it. A float literal that large stays a float.
    rows = [f"{i % 3},{i},{i / 4}" for i in range(150_000)]  # past the 1 MB sample
    path = tmp_path / "big.csv"
    path.write_text("site,n,v\n" + "\n".join(rows) + f"\n1,{late},0.5\n")
    means = averages_and_counts_equal_pandas(path, "site", engine, blocksize="256KB")
    assert list(means.columns) == (["v"] if "e" not in late else ["n", "v"])


@ENGINES
@pytest.mark.parametrize(
    "text, na",
    [
        ("k,v\n1,007\n1,5\n2,7\n", "7"),  # integers: 007 is not "7", so 7 (pandas' int parse)
        ("k,v\n1,007\n1,5\n2,7\n1,0.5\n", "7"),  # floats: 007 is 7.0, so missing
        ("k,v\n1,-0.0\n1,5\n2,0\n", "-0.0"),  # -0.0 and 0 are the same number
        ("k,v\n-0,1\n1,3\n0,5\n2,-0.0\n2,0\n", "0"),  # an integer key -0 is kept, a float -0.0 missing
        ("k,v\n-09999,1\n1,3\n-9999,5\n2,-09999\n", "-9999"),
        ("k,v\n1,7.0\n1,5\n2,7\n", "7.0"),  # "7.0" makes "7" missing too
        ("k,v\n1,5\n2,07\n1,7\n", "7"),  # integers with a missing value: 07 stays 7
        ("k,v\n-9999.00,1\nx,3\n-9999,5\n", "-9999"),  # a text key: only the spellings are missing
    ],
)
def test_numeric_na_values_compare_as_pandas_compares_them(tmp_path, engine, text, na):
    path = tmp_path / "na.csv"
    path.write_text(text)
    averages_and_counts_equal_pandas(path, "k", engine, read_options={"na_values": [na]})


@ENGINES
def test_a_float32_dtype_averages_to_float32_as_in_pandas(tmp_path, engine):
    # pandas' mean of a float32 column is float32, not float64.
    rng = np.random.default_rng(4)
    path = tmp_path / "f.csv"
    path.write_text(
        "year,v\n" + "".join(f"{2000 + i % 3},{x}\n" for i, x in enumerate(rng.random(5000).tolist()))
    )
    means = compute_averages(path, "utf-8", "year", blocksize="16KB", dtype={"v": "float32"}, engine=engine)
    expected = pd.read_csv(path, dtype={"v": "float32"}).groupby("year").mean()
    # To a float32 ulp: pandas adds up in float32, the blocks in float64.
    pd.testing.assert_frame_equal(means, expected, rtol=2**-23, atol=0)
    assert means["v"].dtype == np.float32


@ENGINES
def test_a_float_dtype_for_true_false_is_read_as_pandas_reads_it(tmp_path, engine):
    path = tmp_path / "t.csv"
    path.write_text("year,flag\n" + "".join(f"{2000 + i % 2},{i % 3 == 0}\n" for i in range(50)))
    averages_and_counts_equal_pandas(path, "year", engine, dtype={"flag": "float64"})


@ENGINES
@pytest.mark.parametrize(
    "dtype, message",
    [
        (
            {"site": "float64"},
            r"a column set under the table's `dtype:` .*site.* holds a value of another type",
        ),
        ({"n": "int64"}, r"column 'n' has missing values, but the table's `dtype:` reads it as int64"),
    ],
    ids=["float for text", "int with missing values"],
)
def test_a_dtype_the_values_do_not_fit_is_refused_as_pandas_refuses_it(tmp_path, engine, dtype, message):
    # The missing value lies past the 1 MB sample (which pandas reads), in a block the engine parses.
    rows = [f"{2000 + i % 2},S{i % 3},{'NA' if i == 140_000 else i}" for i in range(150_000)]
    path = tmp_path / "t.csv"
    path.write_text("year,site,n\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError):
        pd.read_csv(path, dtype=dtype)  # the oracle refuses it too
    if engine == "pandas" and "n" in dtype:
        message = (
            r"a column set under the table's `dtype:` .* holds a value of another type.*Integer column has NA"
        )
    with pytest.raises(TableError, match=message):
        compute_averages(path, "utf-8", "year", dtype=dtype, engine=engine, blocksize="256KB")


LAYOUTS = {
    # R's write.table: the header leaves out the row names' column; pandas makes that field the index.
    "header one name short": "a,b\n" + "".join(f'"r{i}",{i % 3},{i * 2}\n' for i in range(400)),
    "trailing separator": "a,b,\n" + "".join(f"{i % 3},{i}," + "\n" for i in range(400)),
    "blank lines before and between": "\n\na,b\n" + "".join(f"{i % 3},{i}\n\n" for i in range(400)),
    "quoted header": '"a","b c"\n' + "".join(f'"{i % 3}",{i}\n' for i in range(400)),
}


@ENGINES
@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_layouts_pandas_reads(tmp_path, engine, layout):
    path = tmp_path / "t.csv"
    path.write_text(LAYOUTS[layout])
    averages_and_counts_equal_pandas(path, "a", engine, blocksize="1KB")


@ENGINES
def test_a_comment_preamble_before_the_header(tmp_path, engine):
    path = tmp_path / "logger.csv"
    path.write_text(
        "# logger 7\n# site: LBR\nyear,v\n" + "".join(f"{2000 + i % 2},{i} # ok\n" for i in range(400))
    )
    averages_and_counts_equal_pandas(path, "year", engine, blocksize="1KB", read_options={"comment": "#"})


@ENGINES
def test_an_unclosed_quote_is_refused_as_pandas_refuses_it(tmp_path, engine):
    path = tmp_path / "t.csv"
    path.write_text(
        'year,v,note\n2000,1,"never closed\n' + "".join(f"{2000 + i % 2},{i},x\n" for i in range(50))
    )
    with pytest.raises(pd.errors.ParserError):
        pd.read_csv(path)
    with pytest.raises(
        TableError, match=r"t.csv: not every row .* or a quote is never closed.*EOF inside string"
    ):
        compute_averages(path, "utf-8", "year", engine=engine)


def test_a_blocksize_that_gives_too_many_blocks_is_a_warning_naming_the_key(tmp_path, caplog):
    path = tmp_path / "t.csv"
    path.write_text("year,v\n" + "".join(f"{2000 + i % 2},{i}\n" for i in range(600_000)))  # ~7 MB
    with caplog.at_level(logging.WARNING):
        compute_averages(path, "utf-8", "year", blocksize="1KB")
    assert any("`blocksize: 1KB` cuts this" in r.getMessage() and "blocks, one Dask task each" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        compute_averages(path, "utf-8", "year", blocksize="64KB")
    assert not caplog.records


def test_progress_of_the_blocks_is_in_the_log(tmp_path, caplog, distributed_client):
    path = tmp_path / "t.csv"
    path.write_text("year,v\n" + "".join(f"{2000 + i % 2},{i}\n" for i in range(20_000)))
    with caplog.at_level(logging.INFO):
        result = compute_averages(path, "utf-8", "year", blocksize="16KB")
    pd.testing.assert_frame_equal(result, pandas_means(path), check_names=False)
    done = [r.getMessage() for r in caplog.records if " blocks done " in r.getMessage()]
    assert done and re.match(r"(\d+) of \1 blocks done \(\d+ s\)$", done[-1]), done


@ENGINES
def test_a_file_read_in_one_piece_reports_its_text_columns_as_text(tmp_path, engine, caplog):
    # UTF-16 cannot be split on bytes: no sample, the one block says which columns are text.
    path = tmp_path / "utf16.csv"
    path.write_bytes(
        ("year,site,v\n" + "".join(f"{2000 + i % 2},Sé{i % 3},{i}\n" for i in range(300))).encode("utf-16")
    )
    with caplog.at_level(logging.INFO):
        means = averages_and_counts_equal_pandas(path, "year", engine, encoding="utf-16")
    assert list(means.columns) == ["v"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("text columns, not averaged: site" in m for m in messages), messages
    assert not any("further down" in m for m in messages), messages


@ENGINES
@pytest.mark.parametrize("text", ["utf-8", "utf-16"], ids=["in blocks", "in one piece"])
def test_blocks_sent_by_the_rule_give_pandas_answer(tmp_path, engine, text, distributed_client):
    # dask.shared_filesystem: false: this process reads each block and sends its bytes to a worker.
    # The key turns to text late (a second pass over the blocks), and a column holds text further down.
    rows = ["year,m_soil,flag"]
    rows += [f"{2000 + i % 3},{i / 7:.3f},{'n.d.' if i == 2990 else i % 5}" for i in range(3000)]
    rows.append("early,1.5,2")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n", encoding=text)
    means, counts = compute_averages(
        path, text, "year", blocksize="8KB", engine=engine, counts=True, send_blocks=True
    )
    frame = pd.read_csv(path, encoding=text)
    expected = frame.groupby("year").mean(numeric_only=True)
    pd.testing.assert_frame_equal(means, expected, check_names=False)
    assert counts["rows"].to_dict() == frame.groupby("year").size().to_dict()


@ENGINES
def test_inf_and_minus_inf_in_one_group_average_to_nan_as_in_pandas(tmp_path, engine):
    # Found by fuzzing against pandas: a block's inf + -inf is NaN, and summing the blocks' sums skipped it.
    rows = ["2000,inf", "2000,-inf", *(f"{2000 + i % 2},1.5" for i in range(2000)), "2001,-inf"]
    path = tmp_path / "inf.csv"
    path.write_text("year,v\n" + "\n".join(rows) + "\n")
    for blocksize in ("4KB", "20MB"):  # inf and -inf in different blocks, then in the same one
        means = averages_and_counts_equal_pandas(path, "year", engine, blocksize=blocksize)
        assert np.isnan(means.loc[2000, "v"]) and means.loc[2001, "v"] == -np.inf


@ENGINES
def test_integers_beyond_2_to_the_53_are_averaged_as_pandas_does(tmp_path, engine):
    # Nanosecond timestamps: float64 cannot hold them exactly, and pandas' mean rounds them as numpy does.
    rows = [f"{2000 + i % 2},{1_700_000_000_000_000_001 + i * 999},{i}" for i in range(3000)]
    path = tmp_path / "ns.csv"
    path.write_text("year,t_ns,v\n" + "\n".join(rows) + "\n")
    averages_and_counts_equal_pandas(path, "year", engine, blocksize="16KB")


def test_a_column_named_rows_is_refused_not_mixed_into_counts(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("year,rows,v\n2000,5,1\n2000,,2\n2001,7,3\n")
    with pytest.raises(TableError, match=r"rows.csv: its column 'rows' would be averaged.*`columns:`"):
        compute_averages(path, "utf-8", "year", counts=True)
    averages_and_counts_equal_pandas(path, "year", "pyarrow", columns=["v"])  # the fix the message names


# Found by fuzzing against pandas: quotes pandas reads as text, a BOM before a preamble, a blank first line.
@ENGINES
@pytest.mark.parametrize(
    "content, options",
    [
        (
            '# probe at 5" depth\nyear,v\n2000,1\n2000,2\n2001,3\n# probe moved to 10" depth\n2001,4\n',
            {"comment": "#"},
        ),
        (
            'year,v,note\n2000,1,5" pipe\n'
            + "2000,1.5,x\n" * 600
            + '2000,2,"two\nlines"\n2001,3,x\n2001,4,6" pipe\n',
            {},
        ),
        ("\ufeff# logger export\nsite,10,20\nA,0.1,0.2\nA,0.3,0.4\nB,0.5,0.6\n", {"comment": "#"}),
        ('\nyear,size,v\n2000,5",1\n2000,6,2\n2001,7,3\n', {}),
    ],
    ids=["quote-in-comment", "inch-marks-and-a-quoted-line-break", "bom-then-comment", "blank-first-line"],
)
def test_quotes_read_as_text_and_preambles_as_pandas_reads_them(tmp_path, engine, content, options):
    path = tmp_path / "odd.csv"
    path.write_text(content, encoding="utf-8")
    key = "site" if "site" in content else "year"
    encoding = "utf-8-sig" if content.startswith("\ufeff") else "utf-8"
    read = {"read_options": options} if options else {}
    averages_and_counts_equal_pandas(path, key, engine, encoding, blocksize="4KB", **read)


@ENGINES
@pytest.mark.parametrize(
    "filler, options", [("\n", {}), ("# logger paused\n", {"comment": "#"})], ids=["blank", "comment"]
)
def test_a_block_of_blank_or_comment_lines_has_no_say_in_the_types(tmp_path, engine, filler, options):
    # Found by fuzzing: such a block typed True/False columns as text and the integer key as float.
    rows = [f"{2000 + i % 2},{'True' if i % 3 else 'False'},{i}" for i in range(400)]
    path = tmp_path / "gap.csv"
    path.write_text("year,irrigated,v\n" + "\n".join(rows) + "\n" + filler * 3000 + "2001,True,7\n")
    read = {"read_options": options} if options else {}
    means = averages_and_counts_equal_pandas(path, "year", engine, blocksize="4KB", **read)
    assert list(means.columns) == ["irrigated", "v"] and means.index.dtype == np.int64


@ENGINES
def test_a_separator_outside_ascii_is_read_as_pandas_reads_it(tmp_path, engine):
    path = tmp_path / "section.csv"  # Latin-1, separated by the section sign
    path.write_bytes("year§v§unit\n2000§1.5§m³\n2000§2.5§m³\n2001§3§m³\n".encode("latin-1"))
    averages_and_counts_equal_pandas(path, "year", engine, "latin-1", read_options={"sep": "§"})


@ENGINES
@pytest.mark.parametrize("key", ["v_sum", "count_all", "v_count"])
def test_a_key_named_like_an_aggregate_is_grouped_as_any_other(tmp_path, engine, key):
    path = tmp_path / "names.csv"  # pyarrow names its aggregates "<column>_sum", "count_all"
    path.write_text(f"{key},v,w\na,1,2\na,3,4\nb,5,6\n")
    averages_and_counts_equal_pandas(path, key, engine)


@ENGINES
def test_a_true_false_key_with_missing_values_is_grouped_by_bool_as_in_pandas(tmp_path, engine):
    # Found by fuzzing: grouped as text, "True" and "true" were two groups.
    rows = [f"{('True', 'true', 'False', 'FALSE', '')[i % 5]},{i}" for i in range(3000)]
    path = tmp_path / "irrigated.csv"
    path.write_text("irrigated,v\n" + "\n".join(rows) + "\n")
    for blocksize in ("4KB", "20MB"):
        means = averages_and_counts_equal_pandas(path, "irrigated", engine, blocksize=blocksize)
        assert list(means.index) == [False, True]


@pytest.mark.parametrize("spelled", ["Int64", "category", "Float64"])
def test_a_pandas_extension_dtype_is_refused_naming_the_column(tmp_path, spelled):
    path = tmp_path / "t.csv"
    path.write_text("year,v\n2000,1\n2001,2\n")
    with pytest.raises(TableError, match=rf"t.csv: `dtype: {{v: {spelled}}}` is not a NumPy type.*float64"):
        compute_averages(path, "utf-8", "year", dtype={"v": spelled})


@pytest.mark.parametrize("spelled", ["complex128", "datetime64[ns]", "timedelta64[s]", "float16"])
def test_a_dtype_without_a_mean_is_refused_naming_the_column(tmp_path, spelled):
    # Found by fuzzing: these crashed in pyarrow or pandas (float16 with a missing value: KeyError).
    path = tmp_path / "t.csv"
    path.write_text("year,v\n2000,NA\n2001,2\n")
    with pytest.raises(
        TableError, match=rf"t.csv: `dtype: {{v: {re.escape(spelled)}}}` cannot be averaged.*float64"
    ):
        compute_averages(path, "utf-8", "year", dtype={"v": spelled})


@ENGINES
@pytest.mark.parametrize("row", ["1,2,3,4", "HDF1,wet, muddy,0.3"], ids=["extra field", "unquoted comma"])
def test_a_row_with_more_fields_than_the_header_stops_the_run_as_in_pandas(tmp_path, engine, row):
    # Found by fuzzing: past the sample, its extra field was dropped (and an unquoted comma shifted the
    # numbers into the next column); pandas refuses the file.
    rows = [f"{i % 3},{i},{i / 4}" for i in range(150_000)]
    path = tmp_path / "long.csv"
    path.write_text("site,n,v\n" + "\n".join(rows) + f"\n{row}\n2,3,4\n")
    with pytest.raises(pd.errors.ParserError):
        pd.read_csv(path)
    with pytest.raises(TableError, match=r"long.csv: (a row has more fields than the header|not every row)"):
        compute_averages(path, "utf-8", "site", blocksize="256KB", engine=engine)

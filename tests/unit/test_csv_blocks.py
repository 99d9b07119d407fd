"""The block reader: every row exactly once whatever the block size, and each block's column kinds
combined as pandas types a column of the whole file."""

import io

import dask
import pandas as pd
import pytest

from snakedask.csv_blocks import (
    NULL_VALUES,
    TEXT,
    CsvFormat,
    column_kind,
    group_sums,
    holds_hex_prefix,
    plan_blocks,
)
from snakedask.csv_records import record_offsets
from snakedask.errors import TableError
from snakedask.table_header import read_header
from tests.helpers import read_blocks

ENGINES = pytest.mark.parametrize("engine", ["pyarrow", "pandas"])


@ENGINES
@pytest.mark.parametrize("blocksize", [1000, 4096, 65536, 1 << 30])
def test_blocks_cover_every_line_once(sample, blocksize, engine):
    expected = pd.read_csv(sample["csv"], encoding="latin-1")
    columns = ["year", "doy", "hour", "minute", "sensorZ", "m_soil", "site"]
    got = read_blocks(sample["csv"], "iso8859-1", blocksize, columns=columns, engine=engine)
    assert len(got) == len(expected)
    for column in columns:
        if column == "site":
            assert list(got[column]) == list(expected[column])
        else:
            # A block where the column is all missing has no type of its own: None there.
            numbers = got[column].astype("float64")
            pd.testing.assert_series_equal(numbers, expected[column], check_names=False, check_dtype=False)


@ENGINES
def test_crlf_and_latin1_text_survive(sample, engine):
    units = read_blocks(sample["csv"], "iso8859-1", 65536, columns=["unit"], engine=engine)
    assert set(units["unit"]) == {"m³/m³ VWC"}


def test_blocks_smaller_than_a_line(sample, tmp_path):
    # Most 37-byte ranges hold no record start at all and must give empty blocks.
    lines = sample["csv"].read_bytes().split(b"\r\n")[:150]
    path = tmp_path / "short.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    got = read_blocks(path, "iso8859-1", 37, columns=["year", "m_soil"])
    expected = pd.read_csv(path, encoding="latin-1")
    assert len(got) == len(expected) == 149
    assert got["m_soil"].astype("float64").tolist() == pytest.approx(expected["m_soil"].tolist(), nan_ok=True)


def test_every_null_spelling_is_missing_to_pandas():
    text = "k,v\n" + "".join(f"1,{value}\n" for value in NULL_VALUES if value) + "1,\n"
    assert pd.read_csv(io.StringIO(text), keep_default_na=True)["v"].isna().all()


# Each case: a column's values in two blocks, as text. The oracle is pandas' dtype for the whole file.
KIND_CASES = {
    "numbers": (["1", "2.5"], ["3", "-4e3"]),
    "numbers then missing": (["1", "2"], ["NA", ""]),
    "all missing": (["NA", ""], ["", "nan"]),
    "bool": (["True", "False"], ["TRUE", "false"]),
    "bool then missing": (["True", "False"], ["NA", "NA"]),
    "bool with a gap": (["True", ""], ["False", "True"]),
    "numbers then text": (["1", "2"], ["3", "n.d."]),
    "text then numbers": (["<0.1", "2"], ["3", "4"]),
    "bool then numbers": (["True", "False"], ["1", "0"]),
    "ones and zeros": (["1", "0"], ["0", "1"]),
    "NAN spelled out": (["1", "NAN"], ["3", "4"]),
    "dates": (["2019-01-01", "2019-01-02"], ["2019-01-03", "2019-01-04"]),
}


@ENGINES
@pytest.mark.parametrize("case", KIND_CASES, ids=list(KIND_CASES))
def test_block_kinds_combine_as_pandas_types_the_whole_column(tmp_path, case, engine):
    first, second = KIND_CASES[case]
    head = [f"{i % 2},{value}" for i, value in enumerate(first)]
    tail = [f"{i % 2},{value}" for i, value in enumerate(second)]
    path = tmp_path / "t.csv"
    path.write_text("key,value\n" + "\n".join(head) + "\n" + "\n".join(tail) + "\n")
    whole = pd.read_csv(path)["value"]
    averaged_by_pandas = pd.api.types.is_numeric_dtype(whole)  # bool included, as mean(numeric_only=True)
    records = record_offsets(path, "utf-8", step=4096)
    fmt, _, _ = plan_blocks(path, "utf-8", read_header(path, "utf-8"), records, 1 << 20, engine=engine)
    split = records["starts"][0] + sum(len(line) + 1 for line in head)
    with dask.config.set(scheduler="sync"):
        parts = [group_sums(fmt, *span, "key", ["value"]) for span in [(records["starts"][0], split),
                                                                         (split, records["size"])]]  # fmt: skip
    assert (column_kind([part["kinds"]["value"] for part in parts]) != TEXT) is averaged_by_pandas


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_a_hex_prefix_is_found_in_any_encoding_and_only_in_its_range(tmp_path, encoding):
    """The check behind sending a block with ``0x1F`` to pandas (pyarrow reads it as 31)."""
    head = "k,n\n1,2\n1,"
    path = tmp_path / "t.csv"
    path.write_bytes((head + "0X1f\n2,xylophone 10\n").encode(encoding))
    fmt = CsvFormat(str(path), encoding, ["k", "n"], {}, {}, "pyarrow", whole_file=True, multiline=False)
    data = path.read_bytes()
    at, after = len(head.encode(encoding)), len((head + "0X").encode(encoding))  # where 0X starts, ends
    assert holds_hex_prefix(fmt, 0, len(data)) and holds_hex_prefix(fmt, 0, len(data), data=data)
    assert not holds_hex_prefix(fmt, after, len(data))  # an x and a 0 further on, but no 0x
    assert not holds_hex_prefix(fmt, 0, at) and not holds_hex_prefix(fmt, 0, at, data=data[:at])


@ENGINES
def test_a_block_that_starts_with_a_long_row_is_refused(tmp_path, engine):
    """pandas given names reads a long first row as an index column, silently: refused instead."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,3\n1,2,3,4\n2,5,6\n")
    fmt = CsvFormat(str(path), "utf-8", ["a", "b", "c"], {}, {}, engine, whole_file=False, multiline=False)
    start = len("a,b,c\n1,2,3\n")
    with pytest.raises(TableError, match=r"t.csv: a row has more fields than the header's 3 .*'1,2,3,4'"):
        group_sums(fmt, start, path.stat().st_size, "a", ["b", "c"])

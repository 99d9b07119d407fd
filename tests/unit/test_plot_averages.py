"""The averages chart reads averages.csv and counts.csv with the csv module: the same columns,
numbers and partial groups as pandas reads from them, and a PNG that opens."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from snakedask.plot_averages import DPI, PARTIAL, Table, averages_figure, partial_groups, plot_averages


def written_by_pandas(tmp_path, frame: pd.DataFrame, name: str):
    path = tmp_path / name
    frame.to_csv(path, encoding="utf-8")
    return path


@pytest.fixture
def by_site(tmp_path):
    """Averages by a text key (commas and quotes in it), a column with missing means, and its counts."""
    index = pd.Index(['DAVY, "north"', "HUMM", "PIKE", "ZOOM"], name="site")
    averages = pd.DataFrame(
        {
            "m_soil": [0.27, np.nan, 0.31, 1e-12],
            "sensorZ": [-10.0, -20.5, np.nan, np.nan],
            "note": list("abcd"),
        },
        index=index,
    )
    counts = pd.DataFrame({"rows": [1000, 990, 700, 1000], "m_soil": [900, 0, 600, 10]}, index=index)
    return (
        written_by_pandas(tmp_path, averages, "averages.csv"),
        written_by_pandas(tmp_path, counts, "counts.csv"),
    )


def test_table_reads_what_pandas_reads(by_site):
    averages, _ = by_site
    expected = pd.read_csv(averages, index_col=0)
    table = Table(averages)
    assert table.key == expected.index.name
    assert table.groups == [str(v) for v in expected.index]
    assert table.numeric() == list(expected.select_dtypes("number").columns)
    for column in table.numeric():
        np.testing.assert_array_equal(table.numbers(column), expected[column].to_numpy(float))
    assert table.numbers("note") is None


def test_partial_groups_as_pandas_finds_them(by_site):
    _, counts = by_site
    rows = pd.read_csv(counts, index_col=0)["rows"]
    expected = [str(v) for v in rows.index[rows < PARTIAL * rows.median()]]
    assert partial_groups(Table(counts)) == expected == ["PIKE"]


def test_numeric_keys_and_a_missing_column(tmp_path):
    averages = written_by_pandas(
        tmp_path, pd.DataFrame({"m": [1.5, math.inf]}, index=pd.Index([2014, 2015], name="year")), "a.csv"
    )
    table = Table(averages)
    assert table.groups == ["2014", "2015"] and table.numbers("m").tolist() == [1.5, math.inf]
    with pytest.raises(ValueError, match="no column 'nope'"):
        table.numbers("nope")


def test_chart_is_a_png(by_site, tmp_path):
    averages, counts = by_site
    png = tmp_path / "averages.png"
    plot_averages(averages, png, "by site", counts, units={"m_soil": "m³/m³ VWC"})
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 200


def test_no_numeric_column_is_an_error(tmp_path):
    averages = written_by_pandas(
        tmp_path, pd.DataFrame({"note": ["x"]}, index=pd.Index([1], name="k")), "a.csv"
    )
    with pytest.raises(ValueError, match="no numeric column"):
        plot_averages(averages, tmp_path / "a.png", "t")


@pytest.mark.parametrize(
    "text, message",
    [("", "is empty"), ("year,m\n2014,1.5\n2015\n", "not every row has the header's 2 fields")],
)
def test_an_empty_or_ragged_table_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "averages.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        Table(path)


def test_a_categorical_key_is_drawn_as_categories(by_site):
    # Sites are categories: points, no line joining them, none hollow however few rows a site has.
    averages, counts = by_site
    fig = averages_figure(averages, "t", counts)
    ax = fig.axes[0]
    assert len(ax.lines) == 0 and len(ax.collections) == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ['DAVY, "north"', "HUMM", "PIKE", "ZOOM"]
    plt.close(fig)


def test_a_numeric_key_is_a_line_with_its_partial_groups_hollow(tmp_path):
    index = pd.Index([2014, 2015, 2016, 2017], name="year")
    averages = written_by_pandas(
        tmp_path, pd.DataFrame({"m_soil": [0.2, 0.3, 0.25, 0.22]}, index=index), "a.csv"
    )
    counts = written_by_pandas(tmp_path, pd.DataFrame({"rows": [100, 100, 100, 30]}, index=index), "c.csv")
    fig = averages_figure(averages, "t", counts)
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and len(ax.collections) == 2  # the line, full points, hollow 2017
    assert list(ax.collections[1].get_offsets()[:, 0]) == [2017]
    plt.close(fig)


@pytest.mark.parametrize("groups", [3, 500])
def test_the_figure_is_bounded_whatever_the_number_of_groups(tmp_path, groups):
    index = pd.Index([f"site {i}" for i in range(groups)], name="site")
    frame = pd.DataFrame({f"v{j}": np.arange(groups, dtype=float) for j in range(7)}, index=index)
    png = tmp_path / "a.png"
    fig = averages_figure(written_by_pandas(tmp_path, frame, "a.csv"), "t")
    fig.savefig(png, dpi=DPI)  # as plot_averages does
    width, height = Image.open(png).size
    assert max(width, height) <= 24 * 110
    # Every group is drawn; labels that would overlap are thinned to every step-th, in order.
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == groups
    shown = [t.get_text() for t in ax.get_xticklabels()]
    step = 1 if groups == 3 else int(shown[1].split()[1])
    assert shown == list(index[::step]) and (groups == 3) == (step == 1)
    width_points = ax.get_window_extent().width / fig.dpi * 72
    assert len(shown) * 8 * 1.2 <= width_points  # rotated 8-point labels, side by side, do not overlap
    plt.close(fig)

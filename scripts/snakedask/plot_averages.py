"""Chart of ``averages.csv``: one panel per averaged variable against the group key.

With the group counts (``counts.csv``), groups with fewer than 80 % of the
median group's rows (a partial year, a logger that stopped) are drawn hollow
and named in a note, so a mean from a partial group is never mistaken for a
full one. Unless the table's ``columns:`` names them, the means of timestamp
parts (``doy``, ``hour``, ``minute``, ...) are left off the chart (they stay
in ``averages.csv``): they say when rows were logged, not what was measured.
"""

import csv
import math
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

PARTIAL = 0.8  # a group with fewer rows than this share of the median group's is partial
# Parts of a timestamp: their means say when rows were logged, not what was measured.
TIME_PARTS = {"year", "month", "day", "doy", "dayofyear", "hour", "minute", "second"}


class Table:
    """A small CSV written by pandas' ``to_csv`` (the group key first): its key, its groups, and
    each column as floats (None for a column of text).

    Read with the csv module: importing pandas would cost this job more than
    drawing the chart.
    """

    def __init__(self, path: str | Path):
        with open(path, newline="", encoding="utf-8") as stream:
            lines = [row for row in csv.reader(stream) if row]
        if not lines:
            raise ValueError(f"{path} is empty: no header line")
        (self.key, *names), rows = lines[0], lines[1:]
        if any(len(row) != len(lines[0]) for row in rows):
            raise ValueError(f"{path}: not every row has the header's {len(lines[0])} fields")
        self.path = path
        self.groups = [row[0] for row in rows]
        self.columns = {name: _numbers([row[i] for row in rows]) for i, name in enumerate(names, start=1)}

    def numbers(self, name: str) -> np.ndarray | None:
        """The column as floats (empty = missing = NaN), or None if it holds text."""
        if name not in self.columns:
            raise ValueError(f"{self.path} has no column {name!r}; columns found: {list(self.columns)}")
        return self.columns[name]

    def numeric(self) -> list[str]:
        return [name for name, values in self.columns.items() if values is not None]


def _numbers(values: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(v) if v.strip() else math.nan for v in values], dtype=float)
    except ValueError:
        return None


def partial_groups(counts: Table) -> list[str]:
    """Groups with fewer rows than ``PARTIAL`` x the median group's."""
    rows = counts.numbers("rows")
    if rows is None or not len(rows):
        return []
    median = statistics.median(rows)
    return [group for group, count in zip(counts.groups, rows, strict=True) if count < PARTIAL * median]


def plot_averages(
    csv_path: str | Path,
    png: str | Path,
    title: str,
    counts: str | Path | None = None,
    units: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> None:
    averages = Table(csv_path)
    if columns:  # the table's `columns:`, plotted as given
        columns = list(columns)
    else:
        numeric = averages.numeric()
        columns = [c for c in numeric if c.lower() not in TIME_PARTS] or numeric
    if not columns:
        raise ValueError(f"{csv_path} has no numeric column to plot")
    partial = partial_groups(Table(counts)) if counts else []
    units = units or {}
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows + (0.3 if partial else 0)), squeeze=False,
        constrained_layout=True,
    )  # fmt: skip
    key, labels = averages.key, averages.groups
    keys = _numbers(labels)
    numeric_key = keys is not None
    positions = keys if numeric_key else np.arange(len(labels), dtype=float)
    full = np.array([label not in partial for label in labels], dtype=bool)
    for ax, column in zip(axes.flat, columns, strict=False):
        values = averages.numbers(column)
        if values is None:
            raise ValueError(f"{csv_path}: column {column!r} is not numeric")
        line = ax.plot(positions, values, color="C0", zorder=1)[0]
        ax.scatter(positions[full], values[full], color=line.get_color(), zorder=2)
        if partial:
            ax.scatter(positions[~full], values[~full], facecolors="white",
                       edgecolors=line.get_color(), zorder=2)  # fmt: skip
        ax.set_title(column)
        ax.set_xlabel(key)
        unit = units.get(column)
        ax.set_ylabel(f"mean {column}" + (f" ({unit})" if unit else ""))
        if not numeric_key or len(labels) <= 12:
            ax.set_xticks(list(positions), labels, rotation=45 if not numeric_key else 0)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(columns) :]:
        ax.remove()
    fig.suptitle(f"{title}: means by {key}")
    if partial:
        fig.supxlabel(
            f"hollow: partial {key} ({', '.join(map(str, partial))}: fewer than 80 % of the median "
            f"{key}'s rows; see counts.csv)",
            fontsize=9,
        )
    fig.savefig(png, dpi=110)
    plt.close(fig)

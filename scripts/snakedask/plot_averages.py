"""Chart of ``averages.csv``: one panel per measured variable against the group key.

A numeric key (years, depths) is an ordered quantity: its means are joined by
a line, and with the group counts (``counts.csv``) a group with fewer than
80 % of the median group's rows (a partial year, a logger that stopped) is
drawn hollow and named in a note, so a mean from a partial period is never
mistaken for a full one. A text or True/False key (sites, species) names
categories: points without a line, and no group is "partial" (a smaller site
is not an incomplete one). Unless the table's ``columns:`` names them, the
means of timestamp parts (``doy``, ``hour``, ``minute``, ...) are left off the
chart (they stay in ``averages.csv``): they say when rows were logged, not
what was measured.
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
DPI = 110
MAX_INCHES = 24  # no side of the figure beyond this (2640 px at DPI), however many groups
# Room per rotated 8-point category label (its height and a gap), and the part of a panel its axis gets.
LABEL_POINTS, AXIS_SHARE = 8 * 1.2, 0.65
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
    """Write the chart of ``averages.csv`` (:func:`averages_figure`) to ``png``."""
    fig = averages_figure(csv_path, title, counts, units, columns)
    fig.savefig(png, dpi=DPI)
    plt.close(fig)


def averages_figure(
    csv_path: str | Path,
    title: str,
    counts: str | Path | None = None,
    units: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> plt.Figure:
    """One panel per measured variable (or each of ``columns``) against the key, with units and partial groups."""
    averages = Table(csv_path)
    if columns:  # the table's `columns:`, plotted as given
        columns = list(columns)
    else:
        numeric = averages.numeric()
        columns = [c for c in numeric if c.lower() not in TIME_PARTS] or numeric
    if not columns:
        raise ValueError(f"{csv_path} has no numeric column to plot")
    key, labels = averages.key, averages.groups
    keys = _numbers(labels)
    numeric_key = keys is not None
    # "Partial" means an incomplete period of an ordered key; categories are only more or less numerous.
    partial = partial_groups(Table(counts)) if counts and numeric_key else []
    units = units or {}
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    # Categories need room for their labels: a wider panel per category, within a bounded figure.
    panel_width = 4.2 if numeric_key else min(max(4.2, 0.22 * len(labels)), MAX_INCHES / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_width * ncols, min(3.2 * nrows + (0.3 if partial else 0), MAX_INCHES)),
        squeeze=False, constrained_layout=True,
    )  # fmt: skip
    positions = keys if numeric_key else np.arange(len(labels), dtype=float)
    full = np.array([label not in partial for label in labels], dtype=bool)
    for ax, column in zip(axes.flat, columns, strict=False):
        values = averages.numbers(column)
        if values is None:
            raise ValueError(f"{csv_path}: column {column!r} is not numeric")
        if numeric_key:
            ax.plot(positions, values, color="C0", zorder=1)
        ax.scatter(positions[full], values[full], color="C0", zorder=2)
        if partial:
            ax.scatter(positions[~full], values[~full], facecolors="white", edgecolors="C0", zorder=2)
        ax.set_title(column)
        ax.set_xlabel(key)
        unit = units.get(column)
        ax.set_ylabel(f"mean {column}" + (f" ({unit})" if unit else ""))
        if not numeric_key:
            # More categories than 8-point labels fit side by side: label every step-th one (all are drawn).
            step = math.ceil(len(labels) / max(1, int(panel_width * 72 * AXIS_SHARE / LABEL_POINTS)))
            shown = slice(None, None, step)
            ax.set_xticks(
                list(positions[shown]), labels[shown], rotation=90 if len(labels) > 8 else 0, fontsize=8
            )
            ax.set_xlim(-0.6, len(labels) - 0.4)
            if step > 1:
                ax.set_xlabel(f"{key} (1 in {step} of {len(labels)} labelled)")
        elif len(labels) <= 12:
            ax.set_xticks(list(positions), labels)
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
    return fig

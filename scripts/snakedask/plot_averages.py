"""Chart of ``averages.csv``: one panel per averaged variable against the group key.

With the group counts (``counts.csv``), groups with fewer than 80 % of the
median group's rows (a partial year, a logger that stopped) are drawn hollow
and named in a note, so a mean from a partial group is never mistaken for a
full one. Unless the table's ``columns:`` names them, the means of timestamp
parts (``doy``, ``hour``, ``minute``, ...) are left off the chart (they stay
in ``averages.csv``): they say when rows were logged, not what was measured.
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

PARTIAL = 0.8  # a group with fewer rows than this share of the median group's is partial
# Parts of a timestamp: their means say when rows were logged, not what was measured.
TIME_PARTS = {"year", "month", "day", "doy", "dayofyear", "hour", "minute", "second"}


def partial_groups(counts: pd.DataFrame) -> list:
    """Groups with fewer rows than ``PARTIAL`` x the median group's."""
    rows = counts["rows"]
    return list(rows.index[rows < PARTIAL * rows.median()])


def plot_averages(
    csv: str | Path,
    png: str | Path,
    title: str,
    counts: str | Path | None = None,
    units: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> None:
    averages = pd.read_csv(csv, index_col=0)
    if columns:  # the table's `columns:`, plotted as given
        columns = list(columns)
    else:
        numeric = list(averages.select_dtypes("number").columns)
        columns = [c for c in numeric if c.lower() not in TIME_PARTS] or numeric
    if not columns:
        raise ValueError(f"{csv} has no numeric column to plot")
    partial = partial_groups(pd.read_csv(counts, index_col=0)) if counts else []
    units = units or {}
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows + (0.3 if partial else 0)), squeeze=False,
        constrained_layout=True,
    )  # fmt: skip
    key = averages.index.name
    numeric_key = pd.api.types.is_numeric_dtype(averages.index)
    positions = pd.Series(averages.index if numeric_key else range(len(averages)), index=averages.index)
    full = ~averages.index.isin(partial)
    for ax, column in zip(axes.flat, columns, strict=False):
        line = ax.plot(positions, averages[column], color="C0", zorder=1)[0]
        ax.scatter(positions[full], averages[column][full], color=line.get_color(), zorder=2)
        if partial:
            ax.scatter(positions[~full], averages[column][~full], facecolors="white",
                       edgecolors=line.get_color(), zorder=2)  # fmt: skip
        ax.set_title(column)
        ax.set_xlabel(key)
        unit = units.get(column)
        ax.set_ylabel(f"mean {column}" + (f" ({unit})" if unit else ""))
        if not numeric_key or len(averages) <= 12:
            ax.set_xticks(
                list(positions), [str(v) for v in averages.index], rotation=45 if not numeric_key else 0
            )
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

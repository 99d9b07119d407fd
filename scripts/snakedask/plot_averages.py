"""Chart of ``averages.csv``: one panel per numeric variable against the group key."""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd


def plot_averages(csv: str | Path, png: str | Path, title: str) -> None:

    averages = pd.read_csv(csv, index_col=0)
    columns = list(averages.select_dtypes("number").columns)
    if not columns:
        raise ValueError(f"{csv} has no numeric column to plot")
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False, constrained_layout=True
    )
    key = averages.index.name
    numeric_key = pd.api.types.is_numeric_dtype(averages.index)
    positions = averages.index if numeric_key else range(len(averages))
    for ax, column in zip(axes.flat, columns, strict=False):
        ax.plot(positions, averages[column], marker="o")
        ax.set_title(column)
        ax.set_xlabel(key)
        ax.set_ylabel(f"mean {column}")
        if not numeric_key or len(averages) <= 12:
            ax.set_xticks(
                list(positions), [str(v) for v in averages.index], rotation=45 if not numeric_key else 0
            )
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(columns) :]:
        ax.remove()
    fig.suptitle(f"{title}: means by {key}")
    fig.savefig(png, dpi=110)
    plt.close(fig)

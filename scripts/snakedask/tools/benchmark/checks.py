"""Whether the workflow made the same product as the eager baseline: else the ratios mean nothing.

Each check returns None when the two products agree, else what differs, in words.
"""

from __future__ import annotations

from pathlib import Path


def averages_difference(workflow_csv: Path, eager_csv: Path) -> str | None:
    """How the rule's means differ from the baseline's (years, columns, values), or None."""
    import numpy as np
    import pandas as pd

    missing = [str(path) for path in (workflow_csv, eager_csv) if not Path(path).exists()]
    if missing:
        return f"not compared: {', '.join(missing)} missing"
    ours = pd.read_csv(workflow_csv, index_col=0)
    theirs = pd.read_csv(eager_csv, index_col=0)
    if list(ours.index) != list(theirs.index):
        return f"years differ: workflow {list(ours.index)}, eager {list(theirs.index)}"
    if list(ours.columns) != list(theirs.columns):
        return f"columns differ: workflow {list(ours.columns)}, eager {list(theirs.columns)}"
    a, b = ours.to_numpy(float), theirs.to_numpy(float)
    close = np.isclose(a, b, rtol=1e-9, equal_nan=True)
    if close.all():
        return None
    rows, cols = np.nonzero(~close)
    first = [
        f"{ours.columns[c]} in {ours.index[r]}: workflow {a[r, c]!r}, eager {b[r, c]!r}"
        for r, c in zip(rows[:3], cols[:3], strict=True)
    ]
    return f"{len(rows)} of {close.size} means differ (rtol 1e-9), e.g. " + "; ".join(first)


def ndvi_difference(workflow_tif: Path, eager_tif: Path, size: int = 512) -> str | None:
    """How the two NDVI files differ (grid, dtype, or pixels in three windows: corner, centre, corner)."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    missing = [str(path) for path in (workflow_tif, eager_tif) if not Path(path).exists()]
    if missing:
        return f"not compared: {', '.join(missing)} missing"
    with rasterio.open(workflow_tif) as ours, rasterio.open(eager_tif) as theirs:
        for what in ("shape", "crs", "transform", "dtypes"):
            if getattr(ours, what) != getattr(theirs, what):
                return f"{what} differs: workflow {getattr(ours, what)}, eager {getattr(theirs, what)}"
        height, width = ours.shape
        corners = [(0, 0), ((height - size) // 2, (width - size) // 2), (height - size, width - size)]
        for row, col in corners:
            window = Window(max(0, col), max(0, row), min(size, width), min(size, height))
            a, b = ours.read(1, window=window), theirs.read(1, window=window)
            close = np.isclose(a, b, atol=1e-6, equal_nan=True)
            if close.all():
                continue
            rows, cols = np.nonzero(~close)
            r, c = rows[0], cols[0]
            return (
                f"{len(rows)} of {close.size} pixels differ (atol 1e-6) in window {window}, e.g. at row "
                f"{window.row_off + r}, column {window.col_off + c}: workflow {a[r, c]!r}, eager {b[r, c]!r}"
            )
    return None


def averages_agree(workflow_csv: Path, eager_csv: Path) -> str:
    """The report's note on the comparison."""
    difference = averages_difference(workflow_csv, eager_csv)
    return "workflow and eager averages agree" if difference is None else f"averages DIFFER: {difference}"


def ndvi_agree(workflow_tif: Path, eager_tif: Path) -> str:
    difference = ndvi_difference(workflow_tif, eager_tif)
    if difference is None:
        return "workflow and eager NDVI agree (3 windows, grid, dtype)"
    return f"NDVI DIFFERS: {difference}"

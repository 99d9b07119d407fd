"""Whether the workflow made the same product as a baseline (eager, or a peer tool): else the ratios mean nothing.

``*_difference`` returns None when the two products agree, else what differs, in words;
``check_*`` raises ProductMismatch (naming the case and the difference), which fails the benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ProductMismatch(Exception):
    """The workflow's product differs from a baseline's (the eager one's, or a peer's): the benchmark fails."""

    def __init__(self, case: str, product: str, difference: str, baseline: str = "eager"):
        super().__init__(
            f"{case}: the workflow's {product} differs from the {baseline} baseline's: {difference}"
        )
        self.case, self.product, self.difference, self.baseline = case, product, difference, baseline


def check_averages(case: str, workflow_csv: Path, eager_csv: Path, baseline: str = "eager") -> None:
    """Raise ProductMismatch unless both files hold the same per-year means (``baseline`` names the other)."""
    difference = averages_difference(workflow_csv, eager_csv, baseline)
    if difference is not None:
        raise ProductMismatch(case, Path(workflow_csv).name, difference, baseline)


def check_ndvi(case: str, workflow_tif: Path, eager_tif: Path, baseline: str = "eager") -> None:
    """Raise ProductMismatch unless both files hold the same NDVI on the same grid (``baseline`` names the other)."""
    difference = ndvi_difference(workflow_tif, eager_tif, baseline=baseline)
    if difference is not None:
        raise ProductMismatch(case, Path(workflow_tif).name, difference, baseline)


def averages_difference(workflow_csv: Path, eager_csv: Path, baseline: str = "eager") -> str | None:
    """How the rule's means differ from the baseline's (years, columns, values), or None."""
    import numpy as np
    import pandas as pd

    missing = [str(path) for path in (workflow_csv, eager_csv) if not Path(path).exists()]
    if missing:
        return f"{' and '.join(missing)} missing"
    ours = pd.read_csv(workflow_csv, index_col=0)
    theirs = pd.read_csv(eager_csv, index_col=0)
    if list(ours.index) != list(theirs.index):
        return f"years differ: workflow {list(ours.index)}, {baseline} {list(theirs.index)}"
    if list(ours.columns) != list(theirs.columns):
        return f"columns differ: workflow {list(ours.columns)}, {baseline} {list(theirs.columns)}"
    a, b = ours.to_numpy(float), theirs.to_numpy(float)
    close = np.isclose(a, b, rtol=1e-9, equal_nan=True)
    if close.all():
        return None
    rows, cols = np.nonzero(~close)
    first = [
        f"{ours.columns[c]} in {ours.index[r]}: workflow {float(a[r, c])!r}, {baseline} {float(b[r, c])!r}"
        for r, c in zip(rows[:3], cols[:3], strict=True)
    ]
    return f"{len(rows)} of {close.size} means differ (rtol 1e-9), e.g. " + "; ".join(first)


def _missing(*paths: Path) -> str | None:
    missing = [str(path) for path in paths if not Path(path).exists()]
    return f"{' and '.join(missing)} missing" if missing else None


def _grid_difference(ours: Any, theirs: Any, baseline: str, attributes: tuple[str, ...]) -> str | None:
    """The first of the open rasters' ``attributes`` (shape, crs, ...) that differs, said; None if none."""
    for what in attributes:
        if getattr(ours, what) != getattr(theirs, what):
            return f"{what} differs: workflow {getattr(ours, what)}, {baseline} {getattr(theirs, what)}"
    return None


def ndvi_difference(
    workflow_tif: Path, eager_tif: Path, size: int = 512, baseline: str = "eager"
) -> str | None:
    """How the two NDVI files differ (grid, dtype, or pixels in three windows: corner, centre, corner)."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    if (missing := _missing(workflow_tif, eager_tif)) is not None:
        return missing
    with rasterio.open(workflow_tif) as ours, rasterio.open(eager_tif) as theirs:
        if (
            grid := _grid_difference(ours, theirs, baseline, ("shape", "crs", "transform", "dtypes"))
        ) is not None:
            return grid
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
                f"{len(rows)} of {close.size} pixels differ (atol 1e-6) in window {window}, e.g. at "
                f"row {window.row_off + r}, column {window.col_off + c}: "
                f"workflow {float(a[r, c])!r}, {baseline} {float(b[r, c])!r}"
            )
    return None


def check_same_pixels(case: str, workflow_tif: Path, other_tif: Path, baseline: str) -> None:
    """Raise ProductMismatch unless both rasters are the same grid and the same pixels, every one."""
    difference = pixels_difference(workflow_tif, other_tif, baseline=baseline)
    if difference is not None:
        raise ProductMismatch(case, Path(workflow_tif).name, difference, baseline)


def pixels_difference(
    workflow_tif: Path, other_tif: Path, rows: int = 512, baseline: str = "other"
) -> str | None:
    """How two single-band rasters differ (grid, dtype, nodata, or any pixel: NaN equals NaN), or None.

    Read ``rows`` rows at a time, so a large raster is compared without holding it whole.
    """
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    if (missing := _missing(workflow_tif, other_tif)) is not None:
        return missing
    with rasterio.open(workflow_tif) as ours, rasterio.open(other_tif) as theirs:
        grid = _grid_difference(ours, theirs, baseline, ("count", "shape", "crs", "transform", "dtypes"))
        if grid is not None:
            return grid
        if not np.array_equal(np.array(ours.nodatavals), np.array(theirs.nodatavals), equal_nan=True):
            return f"nodata differs: workflow {ours.nodatavals}, {baseline} {theirs.nodatavals}"
        height, width = ours.shape
        for top in range(0, height, rows):
            window = Window(0, top, width, min(rows, height - top))
            a, b = ours.read(1, window=window), theirs.read(1, window=window)
            same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
            if same.all():
                continue
            bad_rows, bad_cols = np.nonzero(~same)
            r, c = bad_rows[0], bad_cols[0]
            return (
                f"{len(bad_rows)} of {same.size} pixels differ in rows {top}-{top + window.height - 1}, e.g. at "
                f"row {top + r}, column {c}: workflow {float(a[r, c])!r}, {baseline} {float(b[r, c])!r}"
            )
    return None

"""Map and histogram of a spectral index GeoTIFF (NDVI and its siblings).

Diverging colours from the index's registry entry, robust limits, nodata
transparent; the histogram spans the index's nominal value range.

The map is drawn from a decimated read (GDAL's overviews when the file has
them, else an averaged subsample read block by block), so plotting never holds
the full-resolution raster in memory.
"""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from rasterio.enums import Resampling

from snakedask.indices import SpectralIndex, lookup


def read_overview(
    path: str | Path, max_pixels: int = 1600
) -> tuple[np.ma.MaskedArray, tuple[float, float, float, float], rasterio.crs.CRS]:
    """Band 1 decimated so that its longer side is at most ``max_pixels``; nodata masked.

    Returns the masked array, its extent (left, right, bottom, top) in CRS units and the CRS.
    """
    with rasterio.open(path) as src:
        factor = max(1, int(np.ceil(max(src.height, src.width) / max_pixels)))
        shape = (max(1, src.height // factor), max(1, src.width // factor))
        data = src.read(1, out_shape=shape, resampling=Resampling.average, masked=True)
        data = np.ma.masked_invalid(data)
        bounds = src.bounds
        return data, (bounds.left, bounds.right, bounds.bottom, bounds.top), src.crs


def robust_limits(values: np.ma.MaskedArray, low: float = 2, high: float = 98) -> tuple[float, float]:
    """The ``low``/``high`` percentiles of the unmasked values (as xarray's ``robust=True``)."""
    valid = values.compressed()
    if valid.size == 0:
        raise ValueError("the raster has no valid pixel to plot")
    vmin, vmax = np.percentile(valid, [low, high])
    if vmin == vmax:
        vmin, vmax = vmin - 0.01, vmax + 0.01
    return float(vmin), float(vmax)


def crs_label(crs) -> str:
    """``WGS 84 / UTM zone 57N (EPSG:32657)``: the name a person reads, and the code."""
    if not crs:
        return "no CRS"
    from pyproj import CRS

    name = CRS.from_wkt(crs.to_wkt()).name
    return f"{name} ({crs.to_string()})" if crs.to_epsg() else name


def colour_norm(vmin: float, vmax: float) -> Normalize:
    """A linear colour scale: symmetric about 0 when the limits straddle it (the diverging map's
    middle colour is 0), else from ``vmin`` to ``vmax``. One scale for the map and the histogram."""
    if vmin < 0 < vmax:
        limit = max(-vmin, vmax)
        return Normalize(-limit, limit)
    return Normalize(vmin, vmax)


def stats_limits(stats: dict) -> tuple[float, float] | None:
    """The 2nd and 98th percentiles of all valid pixels, from the index's statistics."""
    percentiles = stats.get("percentiles") or {}
    if "p2" in percentiles and "p98" in percentiles and percentiles["p2"] < percentiles["p98"]:
        return float(percentiles["p2"]), float(percentiles["p98"])
    return None


def colour_map(index: SpectralIndex) -> Any:
    cmap = plt.get_cmap(index.colormap).copy()
    cmap.set_bad(alpha=0.0)
    return cmap


def plot_ndvi(
    tif: str | Path,
    png: str | Path,
    title: str,
    index: SpectralIndex | str = "ndvi",
    stats: dict | None = None,
) -> None:
    """The index's map (the function keeps its first index's name; any registry index works).

    Colours run linearly between the 2nd and 98th percentiles of the valid
    pixels (from ``stats`` when given: every pixel, as the histogram; else
    from the decimated read), symmetric about 0 when they straddle it; the
    colour bar's arrows stand for the values beyond.
    """
    index = lookup(index)
    label = index.name.upper()
    data, extent, crs = read_overview(tif)
    vmin, vmax = (stats and stats_limits(stats)) or robust_limits(data)
    norm = colour_norm(vmin, vmax)
    height, width = data.shape
    fig, ax = plt.subplots(figsize=(10, max(3.0, 10 * height / width + 1)), constrained_layout=True)
    image = ax.imshow(data, extent=extent, cmap=colour_map(index), norm=norm, interpolation="nearest")
    scale = "; scale symmetric about 0" if norm.vmin == -norm.vmax else ""
    fig.colorbar(
        image, ax=ax, extend="both", shrink=0.8,
        label=f"{label}: 2–98 % of valid pixels, {vmin:.3g} to {vmax:.3g}\n(arrows: beyond{scale})",
    )  # fmt: skip
    unit = crs.linear_units if crs and crs.is_projected else "degrees"
    crs_name = crs_label(crs)
    ax.set_xlabel(f"Easting ({unit})")
    ax.set_ylabel(f"Northing ({unit})")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_title(f"{label} — {title}\n{crs_name}")
    if crs and crs.is_projected:
        add_scale_bar(ax, extent[1] - extent[0], unit)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def nice_length(span: float) -> float:
    """A round length (1, 2 or 5 x 10^n) near a fifth of ``span``."""
    target = span / 5
    power = 10 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def add_scale_bar(ax, span: float, unit: str) -> None:
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = nice_length(span)
    label = f"{length:g} m" if unit in ("metre", "meter", "m") else f"{length:g} {unit}"
    ax.add_artist(
        AnchoredSizeBar(
            ax.transData, length, label, "lower left", pad=0.6, sep=4, frameon=True, size_vertical=span / 300
        )
    )


def plot_histogram(stats: dict, png: str | Path, title: str, index: SpectralIndex | str = "ndvi") -> None:
    """Histogram of the index's valid values, with the summary statistics beside it."""
    index = lookup(index)
    label = index.name.upper()
    low, high = index.value_range

    edges = np.asarray(stats["histogram"]["edges"])
    counts = np.asarray(stats["histogram"]["counts"])
    fig, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
    centres = (edges[:-1] + edges[1:]) / 2
    # The map's colours for the same values (its scale comes from the same percentiles).
    limits = stats_limits(stats) or (low, high)
    colours = colour_map(index)(colour_norm(*limits)(centres))
    # One artist for the 2000 bins (ax.bar would draw 2000 patches, about ten times slower).
    left, right = edges[:-1], edges[1:]
    bars = np.stack(
        [np.c_[left, 0 * counts], np.c_[left, counts], np.c_[right, counts], np.c_[right, 0 * counts]], 1
    )
    ax.add_collection(PolyCollection(bars, facecolors=colours, edgecolors="none"))
    ax.autoscale_view()
    ax.set_ylim(bottom=0)
    percentiles = stats["percentiles"]
    summary = "\n".join(
        [
            f"valid pixels: {stats['count_valid']:,}",
            f"nodata pixels: {stats['count_nodata']:,}",
            f"mean: {stats['mean']:.3f}   std: {stats['std']:.3f}",
            f"min: {stats['min']:.3f}   max: {stats['max']:.3f}",
            *(f"{name}: {value:.3f}" for name, value in percentiles.items() if name in ("p2", "p50", "p98")),
        ]
    )
    ax.text(
        0.02,
        0.97,
        summary,
        transform=ax.transAxes,
        va="top",
        family="monospace",
        fontsize=8,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"},
    )
    ax.set_xlim(low, high)
    ax.set_xlabel(label)
    ax.set_ylabel("pixels")
    ax.set_title(f"{label} of valid pixels — {title}")
    fig.savefig(png, dpi=110)
    plt.close(fig)

"""Map and histogram of a spectral index GeoTIFF (NDVI and its siblings).

Diverging colours from the index's registry entry, robust limits, nodata
transparent; the histogram spans the index's nominal value range.

The map is drawn from a decimated read (GDAL's overviews when the file has
them, else an averaged subsample read block by block), so plotting never holds
the full-resolution raster in memory.

Maps are right for any CRS (issue 25): a geographic one in longitude and
latitude, its aspect true at the scene's centre latitude; a projected one in
its linear unit with a scale bar; no CRS, or a rotated or sheared grid, in
pixel space (columns, rows) with a note in the title (for a rotated grid: by
how much, and where north is). Drawing in pixel space rather than warping keeps
every pixel's value and shape as stored (no resampling, no invented nodata
corners, no second copy in memory). Every figure's size is bounded whatever the
raster's shape; a map too thin to see (a 1 x N raster) is stretched across its
short side, by a factor the title gives. The histogram's statistics are in a
panel beside the bars, never over them.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator
from pyproj import CRS as PyprojCRS
from rasterio import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling

from snakedask.spectral_indices import SpectralIndex, lookup

DPI = 120  # the map's (the histogram's: HISTOGRAM_DPI)
HISTOGRAM_DPI = 110
MAP_INCHES = 9.0  # the map's longer side
MIN_STRIP_INCHES = 0.3  # the map's shorter side at least about this (36 px): a 1 x N raster stays visible
MIN_FIGURE = (6.0, 3.0)  # inches: room for the title, the axes' labels and the colour bar
MAX_INCHES = 20.0  # no side of a figure beyond this (2400 px at DPI), whatever the raster's shape
MIN_COS_LATITUDE = 0.01  # near a pole: the aspect stays finite (89.4°)
UNIT_SYMBOLS = {"metre": "m", "meter": "m", "foot": "ft", "US survey foot": "US ft", "kilometre": "km"}


@dataclass
class MapFrame:
    """How a raster's grid is drawn: its extent (left, right, bottom, top: row 0 at ``top``,
    column 0 at ``left``) in the axes' units, their labels, the aspect (display length of a y unit
    over an x unit), notes for the title, the unit of a scale bar (None: no scale bar) and the
    pixel's size in it; ``pixel_space``: columns and rows, row 0 at the top."""

    extent: tuple[float, float, float, float]
    xlabel: str
    ylabel: str
    crs_name: str = "no CRS"
    aspect: float = 1.0
    notes: list[str] = field(default_factory=list)
    scale_unit: str | None = None
    pixel_size: tuple[float, float] = (1.0, 1.0)
    pixel_space: bool = False

    def box(self) -> tuple[float, float]:
        """The map's true display proportions (width, height), in x units."""
        left, right, bottom, top = self.extent
        return abs(right - left), abs(top - bottom) * self.aspect


def grid_geometry(transform: Affine) -> tuple[float, float] | None:
    """None for a north-up grid (columns along the CRS's x axis, rows along y); else the angle
    (degrees, counter-clockwise) of the columns from the CRS's x axis and the shear (degrees: how
    far the rows are from perpendicular to the columns)."""
    a, b, _, d, e, _ = transform[:6]
    if abs(b) <= 1e-9 * abs(a) and abs(d) <= 1e-9 * abs(e):
        return None
    rotation = math.degrees(math.atan2(d, a))
    between = math.degrees(math.acos((a * b + d * e) / math.hypot(a, d) / math.hypot(b, e)))
    return rotation, abs(90 - between)


def north_from_up(transform: Affine) -> float:
    """Clockwise angle (degrees, -180 to 180: negative anticlockwise) from up to the CRS's +y
    direction on the map drawn in pixel space (columns to the right, rows down, each pixel in its
    true proportions: a column is as wide as its ground length, a row as tall)."""
    a, b, _, d, e, _ = transform[:6]
    det = a * e - b * d
    # CRS vector (0, 1) in pixels: (column, row) = (-b, a) / det; up on the screen is -row.
    right, up = -b / det * math.hypot(a, d), -a / det * math.hypot(b, e)
    return math.degrees(math.atan2(right, up))


def grid_note(transform: Affine, rotation: float, shear: float, whose: str) -> str:
    """``grid rotated 30.0° from the CRS's axes, north 30° clockwise from up``."""
    how = " and ".join(
        word
        for word in (
            f"rotated {rotation:.1f}°" if abs(rotation) >= 0.05 else "",
            f"sheared {shear:.1f}°" if shear >= 0.05 else "",
        )
        if word
    )
    north = north_from_up(transform)
    turn = "clockwise" if north >= 0 else "anticlockwise"
    return f"grid {how or 'rotated'} from {whose} axes, north {abs(north):.0f}° {turn} from up"


def unit_name(crs: CRS, direction: str) -> tuple[str, float]:
    """The name of the unit of the CRS's axis pointing ``direction`` ('east', 'north') and its size
    in the SI unit (radians or metres); the first axis when none points that way."""
    axes = PyprojCRS.from_wkt(crs.to_wkt()).axis_info
    axis = next((axis for axis in axes if axis.direction == direction), axes[0] if axes else None)
    if axis is None:
        return "unknown", 1.0
    return axis.unit_name, axis.unit_conversion_factor


def map_frame(src) -> MapFrame:
    """The frame for an open dataset: geographic axes with the aspect of the scene's centre
    latitude, projected axes with a scale bar, or pixel space (no CRS, a rotated or sheared grid)."""
    crs, transform = src.crs, src.transform
    pixels = (0.0, float(src.width), float(src.height), 0.0)
    # In pixel space a pixel keeps its proportions (rows over columns, from the transform).
    a, b, _, d, e, _ = transform[:6]
    column, row = math.hypot(a, d), math.hypot(b, e)
    pixel_aspect = row / column if column > 0 and row > 0 else 1.0
    geometry = grid_geometry(transform)
    name = crs_label(crs)
    if not crs or geometry is not None:
        notes = ["drawn in pixel space"]
        if geometry is not None:
            notes.append(grid_note(transform, *geometry, "the CRS's" if crs else "its coordinates'"))
        return MapFrame(
            pixels, "column", "row", name, aspect=pixel_aspect, notes=["; ".join(notes)], pixel_space=True
        )
    # Row 0 at ``top`` and column 0 at ``left``, whichever way the grid runs (south-up included).
    bounds = src.bounds
    extent = (bounds.left, bounds.right, bounds.bottom, bounds.top)
    if crs.is_geographic:
        unit, radians = unit_name(crs, "north")
        latitude = (extent[2] + extent[3]) / 2
        cos_latitude = max(math.cos(latitude * radians), MIN_COS_LATITUDE)
        east, north = ("°E", "°N") if unit == "degree" else (unit, unit)
        return MapFrame(
            extent,
            f"Longitude ({east})",
            f"Latitude ({north})",
            name,
            aspect=1 / cos_latitude,
            notes=[f"aspect true at {latitude:.4g}{'°' if unit == 'degree' else ' ' + unit} latitude"],
        )
    unit, _ = unit_name(crs, "east")
    symbol = UNIT_SYMBOLS.get(unit, unit)
    known = unit not in ("unknown", "")
    return MapFrame(
        extent,
        f"Easting ({symbol})" if known else "Easting",
        f"Northing ({symbol})" if known else "Northing",
        name,
        scale_unit=symbol if known else None,
        pixel_size=src.res,
    )


def read_overview(path: str | Path, max_pixels: int = 1600) -> tuple[np.ma.MaskedArray, MapFrame]:
    """Band 1 decimated so that its longer side is at most ``max_pixels``; nodata masked; and the
    frame to draw it in (:func:`map_frame`)."""
    with rasterio.open(path) as src:
        factor = max(1, int(np.ceil(max(src.height, src.width) / max_pixels)))
        shape = (max(1, src.height // factor), max(1, src.width // factor))
        data = src.read(1, out_shape=shape, resampling=Resampling.average, masked=True)
        return np.ma.masked_invalid(data), map_frame(src)


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
    name = PyprojCRS.from_wkt(crs.to_wkt()).name
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
    return plt.get_cmap(index.colormap).with_extremes(bad=(0, 0, 0, 0))


def plot_index_map(
    tif: str | Path,
    png: str | Path,
    title: str,
    index: SpectralIndex | str = "ndvi",
    stats: dict | None = None,
) -> None:
    """The index's map as a PNG (:func:`map_figure`; the function keeps its first index's name)."""
    fig = map_figure(tif, title, index, stats)
    try:
        fig.savefig(png, dpi=DPI)
    finally:
        plt.close(fig)


def map_box(frame: MapFrame) -> tuple[float, float, float]:
    """The map's size on the figure (width, height in inches: its longer side ``MAP_INCHES``, its
    shorter at least ``MIN_STRIP_INCHES``) and the factor its aspect is stretched by to reach that
    (1: true proportions; above 1 taller, below 1 wider than true)."""
    width, height = frame.box()
    ratio = height / width
    if ratio <= 1:
        box_width, box_height = MAP_INCHES, MAP_INCHES * ratio
    else:
        box_width, box_height = MAP_INCHES / ratio, MAP_INCHES
    stretch = 1.0
    if box_height < MIN_STRIP_INCHES:
        stretch, box_height = MIN_STRIP_INCHES / box_height, MIN_STRIP_INCHES
    elif box_width < MIN_STRIP_INCHES:
        stretch, box_width = box_width / MIN_STRIP_INCHES, MIN_STRIP_INCHES
    return box_width, box_height, stretch


def bounded(width: float, height: float) -> tuple[float, float]:
    """A figure size (inches) within ``MIN_FIGURE`` and ``MAX_INCHES``."""
    return (
        min(max(width, MIN_FIGURE[0]), MAX_INCHES),
        min(max(height, MIN_FIGURE[1]), MAX_INCHES),
    )


def map_figure(
    tif: str | Path,
    title: str,
    index: SpectralIndex | str = "ndvi",
    stats: dict | None = None,
) -> Figure:
    """The index's map (any registry index), in the frame :func:`map_frame` chooses.

    Colours run linearly between the 2nd and 98th percentiles of the valid
    pixels (from ``stats`` when given: every pixel, as the histogram; else
    from the decimated read), symmetric about 0 when they straddle it; the
    colour bar's arrows stand for the values beyond. The figure's size is
    bounded whatever the raster's shape: a map too thin to see (a 1 x N
    raster) is stretched across its short side, and the title says by how much.
    """
    index = lookup(index)
    label = index.name.upper()
    data, frame = read_overview(tif)
    vmin, vmax = (stats and stats_limits(stats)) or robust_limits(data)
    norm = colour_norm(vmin, vmax)
    box_width, box_height, stretch = map_box(frame)
    notes = list(frame.notes)
    if stretch > 1:
        notes.append(f"drawn {stretch:.3g}× taller than true, to be seen")
    elif stretch < 1:
        notes.append(f"drawn {1 / stretch:.3g}× wider than true, to be seen")
    if frame.scale_unit and box_width < 1.5:  # too narrow for a scale bar: the pixel's size
        width, height = frame.pixel_size
        notes.append(f"pixel {width:.3g} × {height:.3g} {frame.scale_unit}")
    # A wide map takes its colour bar below, a square or tall one beside it.
    below = box_height / box_width < 0.5
    size = (box_width + 1.8, box_height + 2.8) if below else (box_width + 3.0, box_height + 2.0)
    fig = plt.figure(figsize=bounded(*size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(
        data, extent=frame.extent, cmap=colour_map(index), norm=norm, interpolation="nearest", aspect="auto"
    )
    # East and north up and to the right, whichever way the grid runs; rows down in pixel space.
    left, right, bottom, top = frame.extent
    if not frame.pixel_space:
        left, right, bottom, top = min(left, right), max(left, right), min(bottom, top), max(bottom, top)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect(frame.aspect * stretch, adjustable="box")
    scale = "; scale symmetric about 0" if norm.vmin == -norm.vmax else ""
    fig.colorbar(
        image, ax=ax, extend="both", shrink=0.8 if not below else 0.6,
        location="bottom" if below else "right", aspect=30 if below else 20,
        label=f"{label}: 2–98 % of valid pixels, {vmin:.3g} to {vmax:.3g}\n(arrows: beyond{scale})",
    )  # fmt: skip
    ax.set_xlabel(frame.xlabel)
    ax.set_ylabel(frame.ylabel)
    ax.ticklabel_format(useOffset=False, style="plain")
    # About a tick an inch; one in the middle of a side too short for two labels.
    for axis, inches, (low, high) in (
        (ax.xaxis, box_width, (left, right)),
        (ax.yaxis, box_height, (bottom, top)),
    ):
        if inches < 0.8:
            axis.set_major_locator(FixedLocator([(low + high) / 2]))
        else:
            axis.set_major_locator(MaxNLocator(max(2, min(9, int(inches / 0.9)))))
    ax.set_title("\n".join([f"{label} — {title}", frame.crs_name, *notes]), fontsize=10)
    if frame.scale_unit and box_width >= 1.5:
        # 3 px thick, whatever the map's stretch.
        thickness = abs(top - bottom) * 3 / (box_height * DPI)
        add_scale_bar(ax, right - left, frame.scale_unit, thickness, outside=box_height < 1)
    return fig


def nice_length(span: float) -> float:
    """A round length (1, 2 or 5 x 10^n) near a fifth of ``span``."""
    target = span / 5
    power = 10 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def add_scale_bar(ax, span: float, unit: str, thickness: float, outside: bool = False) -> None:
    """A bar of a round length near a fifth of ``span`` (x units), ``thickness`` y units thick: in
    the map's lower left corner, or ``outside`` above its upper right one (a map too thin to hold it)."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = nice_length(span)
    label = f"{length:g} m" if unit in ("metre", "meter", "m") else f"{length:g} {unit}"
    place = {
        "loc": "lower right",
        "bbox_to_anchor": (1, 1),
        "bbox_transform": ax.transAxes,
        "borderpad": 0.2,
    }
    bar = AnchoredSizeBar(
        ax.transData, length, label, **(place if outside else {"loc": "lower left"}),
        pad=0.6 if not outside else 0.2, sep=4, frameon=not outside, size_vertical=thickness,
    )  # fmt: skip
    bar.set_clip_on(False)
    ax.add_artist(bar)


def plot_histogram(stats: dict, png: str | Path, title: str, index: SpectralIndex | str = "ndvi") -> None:
    """The histogram as a PNG (:func:`histogram_figure`)."""
    fig = histogram_figure(stats, title, index)
    try:
        fig.savefig(png, dpi=HISTOGRAM_DPI)
    finally:
        plt.close(fig)


def histogram_figure(stats: dict, title: str, index: SpectralIndex | str = "ndvi") -> Figure:
    """Histogram of the index's valid values, with the summary statistics in a panel beside it
    (never over the bars)."""
    index = lookup(index)
    label = index.name.upper()
    low, high = index.value_range

    edges = np.asarray(stats["histogram"]["edges"])
    counts = np.asarray(stats["histogram"]["counts"])
    fig, (ax, panel) = plt.subplots(1, 2, figsize=(10, 4.5), width_ratios=(3.2, 1), layout="constrained")
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
            f"mean: {stats['mean']:.3f}",
            f"std:  {stats['std']:.3f}",
            f"min:  {stats['min']:.3f}",
            f"max:  {stats['max']:.3f}",
            *(f"{name}:  {value:.3f}" for name, value in percentiles.items() if name in ("p2", "p50", "p98")),
        ]
    )
    panel.set_axis_off()
    panel.text(0, 1, summary, transform=panel.transAxes, va="top", ha="left", family="monospace", fontsize=8)
    ax.set_xlim(low, high)
    ax.set_xlabel(label)
    ax.set_ylabel("pixels")
    ax.set_title(f"{label} of valid pixels — {title}")
    return fig

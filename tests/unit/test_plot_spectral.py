"""Maps and histograms of an index GeoTIFF (issue 25): right for any CRS, bounded whatever the
raster's shape, the statistics beside the histogram's bars. Small rasters written by rasterio;
the figures are inspected, and saved PNGs measured with PIL."""

import math
import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import rasterio
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from PIL import Image
from rasterio import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin

from snakedask.plot_spectral import (
    DPI,
    HISTOGRAM_DPI,
    MAP_INCHES,
    MAX_INCHES,
    MIN_FIGURE,
    MIN_STRIP_INCHES,
    histogram_figure,
    map_figure,
    plot_histogram,
    plot_index_map,
    read_overview,
)

UTM = "EPSG:32657"
LAT = 68.5  # the scenes' latitude: a degree of longitude is 0.37 of a degree of latitude


def write_tif(path, height, width, crs, transform, data=None):
    """A float32 raster: a smooth pattern, NaN nodata in a round hole (when big enough)."""
    if data is None:
        y, x = np.mgrid[0:height, 0:width]
        data = (np.sin(x / max(width, 2) * 6) * np.cos(y / max(height, 2) * 4)).astype("float32")
        if min(height, width) > 8:
            data[(y - height / 2) ** 2 + (x - width / 2) ** 2 < (min(height, width) / 4) ** 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver="GTiff", height=height, width=width, count=1, dtype="float32",
            crs=crs, transform=transform, nodata=np.nan,
        ) as dst:  # fmt: skip
            dst.write(data, 1)
    return path


@pytest.fixture
def figures():
    """Close the figures a test draws."""
    yield
    plt.close("all")


def draw(tif, title="scene"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        fig = map_figure(tif, title, "ndvi")
    fig.canvas.draw()
    return fig, fig.axes[0]


def title(ax) -> str:
    return ax.get_title()


def scale_bars(ax):
    return [artist for artist in ax.artists if isinstance(artist, AnchoredSizeBar)]


def box(ax) -> tuple[float, float]:
    """The map's drawn size in pixels (width, height), after aspect."""
    extent = ax.get_window_extent()
    return extent.width, extent.height


def test_geographic_map_is_in_longitude_and_latitude_with_true_proportions(tmp_path, figures):
    # Square on the ground: 0.01° of latitude, 0.01° / cos(lat) of longitude per pixel, 100 x 100.
    pixel = 0.01
    tif = write_tif(
        tmp_path / "geo.tif",
        100,
        100,
        "EPSG:4326",
        from_origin(20, LAT + 0.5, pixel / math.cos(math.radians(LAT)), pixel),
    )
    _, ax = draw(tif)
    assert ax.get_xlabel() == "Longitude (°E)" and ax.get_ylabel() == "Latitude (°N)"
    assert ax.get_aspect() == pytest.approx(1 / math.cos(math.radians(LAT)), rel=1e-3)
    width, height = box(ax)
    assert height / width == pytest.approx(1, abs=0.02)  # a round lake stays round
    assert not scale_bars(ax)
    assert "EPSG:4326" in title(ax) and f"aspect true at {LAT:g}° latitude" in title(ax)


def test_geographic_map_in_grads(tmp_path, figures):
    tif = write_tif(tmp_path / "paris.tif", 20, 30, "EPSG:4807", from_origin(2, 50, 0.01, 0.01))
    _, ax = draw(tif)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Longitude (grad)", "Latitude (grad)")
    assert ax.get_aspect() == pytest.approx(1 / math.cos(49.9 * math.pi / 200))
    assert "aspect true at 49.9 grad latitude" in title(ax)


def test_projected_map_in_metres_with_a_scale_bar(tmp_path, figures):
    tif = write_tif(tmp_path / "utm.tif", 100, 200, UTM, from_origin(600000, 7500000, 10, 10))
    _, ax = draw(tif)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Easting (m)", "Northing (m)")
    assert ax.get_aspect() == 1
    width, height = box(ax)
    assert height / width == pytest.approx(0.5, abs=0.02)
    assert len(scale_bars(ax)) == 1
    assert "UTM zone 57N (EPSG:32657)" in title(ax)


def test_projected_map_in_feet(tmp_path, figures):
    tif = write_tif(tmp_path / "ny.tif", 20, 20, "EPSG:2263", from_origin(900000, 200000, 100, 100))
    _, ax = draw(tif)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Easting (US ft)", "Northing (US ft)")
    assert scale_bars(ax)[0].txt_label.get_text().endswith("US ft")


def test_no_crs_is_drawn_in_pixel_space(tmp_path, figures):
    tif = write_tif(tmp_path / "plain.tif", 30, 40, None, Affine.identity())
    _, ax = draw(tif)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("column", "row")
    assert "no CRS" in title(ax) and "pixel space" in title(ax)
    assert ax.get_xlim() == (0, 40) and ax.get_ylim() == (30, 0)  # row 0 at the top
    assert not scale_bars(ax)


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        (Affine.translation(600000, 7500000) @ Affine.rotation(30) @ Affine.scale(10, -10),
         "grid rotated 30.0° from the CRS's axes, north 30° clockwise from up"),
        (Affine.translation(600000, 7500000) @ Affine.rotation(-45) @ Affine.scale(20, -10),
         "grid rotated -45.0° from the CRS's axes, north 45° anticlockwise from up"),
        (Affine.translation(600000, 7500000) @ Affine.shear(10, 0) @ Affine.scale(10, -10),
         "grid sheared 10.0° from the CRS's axes, north 10° anticlockwise from up"),
    ],
)  # fmt: skip
def test_a_rotated_or_sheared_grid_is_drawn_in_pixel_space_and_says_so(
    tmp_path, figures, transform, expected
):
    tif = write_tif(tmp_path / "rotated.tif", 40, 60, UTM, transform)
    _, ax = draw(tif)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("column", "row")
    assert expected in title(ax) and "pixel space" in title(ax)
    assert not scale_bars(ax)
    # Each pixel in its true proportions (20 m columns, 10 m rows: half as tall as wide).
    column, row = math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e)
    assert ax.get_aspect() == pytest.approx(row / column)


def test_south_up_grid_is_drawn_north_up(tmp_path, figures):
    data = np.zeros((20, 30), "float32")
    data[0] = 1  # row 0: the southern edge of a south-up grid
    tif = write_tif(tmp_path / "south_up.tif", 20, 30, UTM, Affine(10, 0, 600000, 0, 10, 7500000), data)
    _, ax = draw(tif)
    bottom, top = ax.get_ylim()
    assert bottom < top == 7500200
    *_, image_top = ax.images[0].get_extent()
    assert image_top == 7500000  # row 0 (the one) drawn at the bottom of the map


SHAPES = [(1, 1200), (1200, 1), (1, 1), (71, 2475), (2475, 71), (200, 300)]
FRAMES = {
    "geographic": ("EPSG:4326", lambda: from_origin(20, LAT, 0.001, 0.001)),
    "projected": (UTM, lambda: from_origin(600000, 7500000, 10, 10)),
    "no CRS": (None, Affine.identity),
    "rotated": (
        UTM,
        lambda: Affine.translation(600000, 7500000) @ Affine.rotation(30) @ Affine.scale(10, -10),
    ),
}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("frame", list(FRAMES))
def test_every_map_is_bounded_and_visible(tmp_path, figures, shape, frame):
    height, width = shape
    crs, transform = FRAMES[frame]
    tif = write_tif(tmp_path / "shape.tif", height, width, crs, transform())
    fig, ax = draw(tif)
    fig_width, fig_height = fig.get_size_inches() * DPI
    assert MIN_FIGURE[0] * DPI <= fig_width <= MAX_INCHES * DPI <= 2400
    assert MIN_FIGURE[1] * DPI <= fig_height <= MAX_INCHES * DPI
    # The map: a visible strip at least, never more than its figure.
    map_width, map_height = box(ax)
    assert min(map_width, map_height) >= 24 and max(map_width, map_height) <= max(fig_width, fig_height)
    drawn_ratio = map_height / map_width
    true_ratio = (
        height * abs(transform().e) / (width * abs(transform().a)) if frame != "rotated" else height / width
    )
    if frame == "geographic":
        true_ratio /= math.cos(math.radians(LAT - height * 0.001 / 2))
    # True proportions, or stretched across the short side by the factor the title gives.
    stretched = re.search(r"drawn ([0-9.]+)× (taller|wider) than true, to be seen", title(ax))
    if stretched:
        factor = float(stretched[1])
        assert stretched[2] == ("taller" if height < width else "wider")
        expected = true_ratio * factor if stretched[2] == "taller" else true_ratio / factor
        assert drawn_ratio == pytest.approx(expected, rel=0.05)
    else:
        assert drawn_ratio == pytest.approx(true_ratio, rel=0.05)
    # Stretched only when the true shorter side would be below MIN_STRIP_INCHES (a 30th of the longer).
    assert bool(stretched) == (min(true_ratio, 1 / true_ratio) < MIN_STRIP_INCHES / MAP_INCHES)


@pytest.mark.parametrize("shape", [(1, 1200), (71, 2475), (2475, 71)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_saved_map_png_is_bounded(tmp_path, shape):
    tif = write_tif(tmp_path / "shape.tif", *shape, UTM, from_origin(600000, 7500000, 10, 10))
    png = tmp_path / "map.png"
    plot_index_map(tif, png, "scene", "ndvi")
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert (
            MIN_FIGURE[0] * DPI - 1 <= image.width <= 2400 and MIN_FIGURE[1] * DPI - 1 <= image.height <= 2400
        )


def test_a_scene_at_the_pole_keeps_a_finite_aspect(tmp_path, figures):
    tif = write_tif(tmp_path / "pole.tif", 10, 360, "EPSG:4326", from_origin(-180, 90, 1, 1))
    fig, ax = draw(tif)
    assert math.isfinite(ax.get_aspect()) and max(fig.get_size_inches()) <= MAX_INCHES


def test_large_rasters_are_decimated(tmp_path):
    tif = write_tif(tmp_path / "long.tif", 4, 6000, UTM, from_origin(600000, 7500000, 10, 10))
    data, frame = read_overview(tif)
    assert data.shape == (1, 1500)  # the longer side at most 1600; never below one row
    assert frame.extent == (600000, 660000, 7499960, 7500000)


@pytest.fixture
def stats():
    edges = np.linspace(-1, 1, 2001)
    centres = (edges[:-1] + edges[1:]) / 2
    counts = (1e5 * np.exp(-(((centres - 0.5) / 0.1) ** 2))).astype(int)  # tall bars on the right
    return {
        "count_valid": int(counts.sum()),
        "count_nodata": 12,
        "min": -0.2,
        "max": 0.9,
        "mean": 0.5,
        "std": 0.1,
        "percentiles": {"p2": 0.3, "p50": 0.5, "p98": 0.7},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def test_histogram_statistics_never_cover_the_bars(tmp_path, figures, stats):
    fig = histogram_figure(stats, "scene", "ndvi")
    fig.canvas.draw()
    bars = fig.axes[0]
    (text,) = [text for ax in fig.axes for text in ax.texts]
    assert "valid pixels: " in text.get_text()
    assert not text.get_window_extent().overlaps(bars.get_window_extent())
    png = tmp_path / "histogram.png"
    plot_histogram(stats, png, "scene", "ndvi")
    with Image.open(png) as image:
        assert image.size == tuple(round(v * HISTOGRAM_DPI) for v in fig.get_size_inches())

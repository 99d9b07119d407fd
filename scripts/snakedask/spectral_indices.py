"""Spectral indices: the one place to add one.

Each index is a small public function of reflectance arrays (NaN where a
band is invalid; computed in their precision: the workflow passes float64
and rounds the result to the products' float32 once) and one
:data:`REGISTRY` entry saying which bands it needs, its nominal value range,
its colours and what it measures. The workflow builds the products of every
index a scene names from the registry alone: adding an index is one
function, one entry, and a test against numpy.

Every formula is a ratio: a pixel is nodata (NaN) where a band it needs is
invalid (nodata, masked, not finite) or where the denominator is 0.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BANDS = ("blue", "green", "red", "rededge", "nir")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` in their precision; NaN where the denominator is 0 (or a band was NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(numerator, denominator)
    out[denominator == 0] = np.nan
    return out


def _normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a - b) / (a + b)``."""
    return _ratio(a - b, a + b)


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Normalized difference vegetation index: (nir - red) / (nir + red)."""
    return _normalized_difference(nir, red)


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Normalized difference water index (McFeeters 1996): (green - nir) / (green + nir)."""
    return _normalized_difference(green, nir)


def gndvi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Green NDVI: (nir - green) / (nir + green)."""
    return _normalized_difference(nir, green)


def ndre(rededge: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Normalized difference red edge: (nir - rededge) / (nir + rededge)."""
    return _normalized_difference(nir, rededge)


def savi(red: np.ndarray, nir: np.ndarray, soil: float = 0.5) -> np.ndarray:
    """Soil-adjusted vegetation index (Huete 1988, L = 0.5): (1 + L)(nir - red) / (nir + red + L)."""
    soil = np.float32(soil)
    return _ratio((np.float32(1) + soil) * (nir - red), nir + red + soil)


def evi(blue: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Enhanced vegetation index (MODIS): 2.5 (nir - red) / (nir + 6 red - 7.5 blue + 1)."""
    f = np.float32
    return _ratio(f(2.5) * (nir - red), nir + f(6) * red - f(7.5) * blue + f(1))


@dataclass(frozen=True)
class SpectralIndex:
    """What the workflow needs to know about an index."""

    name: str
    function: Callable[..., np.ndarray]  # keyword arguments named after BANDS
    bands: tuple[str, ...]
    value_range: tuple[float, float]  # nominal: the histogram's span and the map's colour limits
    description: str  # one line: what it measures (figure captions, the report)
    colormap: str = "RdYlGn"


REGISTRY: dict[str, SpectralIndex] = {}


def lookup(index: "SpectralIndex | str") -> SpectralIndex:
    """The registry entry of ``index`` (a name), or ``index`` itself."""
    return REGISTRY[index] if isinstance(index, str) else index


def register(index: SpectralIndex) -> SpectralIndex:
    """Add ``index`` to :data:`REGISTRY` (its bands must be among :data:`BANDS`)."""
    unknown = set(index.bands) - set(BANDS)
    if unknown:
        raise ValueError(
            f"index {index.name!r} needs bands {sorted(unknown)} that scenes cannot name: {BANDS}"
        )
    REGISTRY[index.name] = index
    return index


for _index in (
    SpectralIndex(
        "ndvi", ndvi, ("red", "nir"), (-1.0, 1.0), "vegetation vigour: green leaves reflect NIR, absorb red"
    ),
    SpectralIndex(
        "ndwi",
        ndwi,
        ("green", "nir"),
        (-1.0, 1.0),
        "open water (positive) against vegetation and soil",
        "RdBu",
    ),
    SpectralIndex(
        "gndvi",
        gndvi,
        ("green", "nir"),
        (-1.0, 1.0),
        "chlorophyll content, less saturated than NDVI in dense canopy",
    ),
    SpectralIndex(
        "ndre", ndre, ("rededge", "nir"), (-1.0, 1.0), "chlorophyll and nitrogen status from the red edge"
    ),
    SpectralIndex(
        "savi",
        savi,
        ("red", "nir"),
        (-1.5, 1.5),
        "vegetation where bare soil shows through (soil brightness damped)",
    ),
    SpectralIndex(
        "evi",
        evi,
        ("blue", "red", "nir"),
        (-1.0, 2.5),
        "vegetation vigour, corrected for the atmosphere and canopy background",
    ),
):
    register(_index)

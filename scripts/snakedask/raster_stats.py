"""Summary statistics of a (Dask) raster in the same pass that writes it: counts, moments, histogram.

Each block is summarised where it is computed (count, min, max, sum, sum of
squares, a fine histogram) and the small per-block results are added up, so
no pass ever sorts, gathers or rechunks the pixels. Percentiles come from the
histogram over a fixed range (2000 bins over [-1, 1] for NDVI: within 0.001 of
the exact value).
"""

from typing import Any

import dask.array as da
import numpy as np

from snakedask import raster_kernels

PERCENTILES = (2, 5, 25, 50, 75, 95, 98)


def block_statistics(
    block: np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0), bins: int = 2000
) -> dict[str, Any]:
    """Statistics of one block (NaN = nodata), to be added up by :func:`combine`.

    One compiled pass (:func:`raster_kernels.statistics`); the histogram's bins
    are ``np.histogram``'s.
    """
    histogram = np.zeros(bins, np.int64)
    # np.histogram computes the edges in the values' precision (float32 for NDVI) and bins against them.
    edges = np.linspace(*value_range, bins + 1, dtype=np.result_type(block.dtype, np.float32))
    count, smallest, largest, total, squares = raster_kernels.statistics(block, edges, histogram)
    return {
        "size": block.size,
        "count": count,
        "min": smallest,
        "max": largest,
        "sum": total,
        "sum_squares": squares,
        "histogram": histogram,
    }


def combine(parts: Any) -> dict[str, Any]:
    """Add up :func:`block_statistics` results (a list or an object array of them)."""
    parts = list(np.asarray(parts, dtype=object).ravel())
    return {
        "size": sum(p["size"] for p in parts),
        "count": sum(p["count"] for p in parts),
        "min": min(p["min"] for p in parts),
        "max": max(p["max"] for p in parts),
        "sum": float(np.sum([p["sum"] for p in parts])),
        "sum_squares": float(np.sum([p["sum_squares"] for p in parts])),
        "histogram": np.sum([p["histogram"] for p in parts], axis=0),
    }


def _block_cell(block: np.ndarray, value_range: tuple[float, float], bins: int) -> np.ndarray:
    cell = np.empty((1,) * block.ndim, dtype=object)
    cell.flat[0] = block_statistics(block, value_range, bins)
    return cell


def lazy_statistics(
    values: da.Array, value_range: tuple[float, float] = (-1.0, 1.0), bins: int = 2000
) -> da.Array:
    """Per-block statistics as a Dask object array, to compute together with the product.

    Its computed value goes to :func:`summarise` (which adds the blocks up).
    """
    return da.map_blocks(
        _block_cell,
        values,
        value_range=value_range,
        bins=bins,
        dtype=object,
        chunks=tuple((1,) * len(c) for c in values.chunks),
    )


def summarise(
    computed: dict[str, Any], value_range: tuple[float, float] = (-1.0, 1.0), histogram_bins: int = 100
) -> dict[str, Any]:
    """JSON-ready statistics from :func:`lazy_statistics` results (per block, or already combined)."""
    if not isinstance(computed, dict):
        computed = combine(computed)
    count = int(computed["count"])
    counts = np.asarray(computed["histogram"], dtype=np.int64)
    edges = np.linspace(*value_range, len(counts) + 1)
    in_range = int(counts.sum())
    percentiles = {}
    if in_range:
        cumulative = np.cumsum(counts)
        for p in PERCENTILES:
            index = int(np.searchsorted(cumulative, p / 100 * in_range))
            percentiles[f"p{p}"] = round(float((edges[index] + edges[index + 1]) / 2), 4)
    mean = float(computed["sum"]) / count if count else None
    variance = float(computed["sum_squares"]) / count - mean * mean if count else None
    group = len(counts) // histogram_bins
    return {
        "count_valid": count,
        "count_nodata": int(computed["size"]) - count,
        "min": float(computed["min"]) if count else None,
        "max": float(computed["max"]) if count else None,
        "mean": mean,
        "std": float(np.sqrt(max(variance, 0.0))) if count else None,
        "percentiles": percentiles,
        "percentile_resolution": float(edges[1] - edges[0]),
        "count_outside_histogram_range": count - in_range,
        "histogram": {
            "edges": [round(float(e), 6) for e in edges[::group]],
            "counts": counts[: group * histogram_bins].reshape(histogram_bins, group).sum(axis=1).tolist(),
        },
    }

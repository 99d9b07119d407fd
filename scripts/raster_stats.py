"""Summary statistics of a (Dask) raster in one streaming pass: counts, moments, histogram.

Percentiles come from a fine histogram over a fixed range (2000 bins over
[-1, 1] for NDVI: within 0.001 of the exact value) so that no pass ever sorts
or gathers the pixels.
"""

from typing import Any

import dask.array as da
import numpy as np

PERCENTILES = (2, 5, 25, 50, 75, 95, 98)


def lazy_statistics(values: da.Array, value_range: tuple[float, float] = (-1.0, 1.0), bins: int = 2000) -> dict:
    """Dask scalars/arrays to compute together with the product (NaN = nodata)."""
    flat = values.ravel()
    finite = ~da.isnan(flat)
    as64 = da.where(finite, flat, 0).astype(np.float64)
    # NaN is moved outside the range, where the histogram does not count it.
    outside = value_range[1] + abs(value_range[1] - value_range[0])
    counts, _ = da.histogram(da.where(finite, flat, outside), bins=bins, range=value_range)
    return {
        "size": flat.size,
        "count": finite.sum(),
        "min": da.where(finite, flat, np.inf).min(),
        "max": da.where(finite, flat, -np.inf).max(),
        "sum": as64.sum(),
        "sum_squares": (as64 * as64).sum(),
        "histogram": counts,
    }


def summarise(computed: dict[str, Any], value_range: tuple[float, float] = (-1.0, 1.0),
              histogram_bins: int = 100) -> dict[str, Any]:
    """JSON-ready statistics from :func:`lazy_statistics` results."""
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

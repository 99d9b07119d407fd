"""Per-block raster loops compiled with numba: NDVI, statistics, overview sums, the TIFF predictor.

Each is one pass over a block that runs without the GIL, so Dask's threads
really run in parallel; the same work as chains of numpy temporaries passes
over every block many times and holds the GIL in places (boolean indexing,
``np.histogram``). Compiled code is cached beside this file (``cache=True``):
only the first run in a checkout pays for compiling.

Arithmetic is IEEE (no fastmath) and in the same precision as the numpy
expressions they replace; the tests compare each with plain numpy.
"""

import numba
import numpy as np

jit = numba.njit(nogil=True, cache=True)


def nodata_in(dtype: np.dtype, nodata: float | None) -> tuple[bool, object]:
    """``(has_nodata, value)`` with the value as ``dtype``, compared as numpy compares ``raw != nodata``.

    A float band compares with the nodata rounded to its own precision; an
    integer band only with an integer in its range (no value of it can equal 0.5 or -1 in uint16).
    """
    dtype = np.dtype(dtype)
    if nodata is None or (np.issubdtype(dtype, np.floating) and np.isnan(nodata)):
        return False, dtype.type(0)
    if np.issubdtype(dtype, np.floating):
        return True, dtype.type(nodata)
    info = np.iinfo(dtype)
    if float(nodata).is_integer() and info.min <= nodata <= info.max:
        return True, dtype.type(int(nodata))
    return False, dtype.type(0)


@jit
def _reflectance(raw, has_nodata, nodata, scaled, scale, offset):
    value = np.float32(raw)
    if not np.isfinite(value) or (has_nodata and raw == nodata):
        return np.float32(np.nan)
    if scaled:
        value = value * scale + offset
    return value


@jit
def reflectance(raw, has_nodata, nodata, scaled, scale, offset, out):
    """``out = raw * scale + offset`` in float32, NaN where ``raw`` is nodata or not finite."""
    rows, cols = out.shape
    for i in range(rows):
        for j in range(cols):
            out[i, j] = _reflectance(raw[i, j], has_nodata, nodata, scaled, scale, offset)
    return out


@jit
def normalized_difference(
    a_raw,
    b_raw,
    a_has_nodata,
    a_nodata,
    a_scaled,
    a_scale,
    a_offset,
    b_has_nodata,
    b_nodata,
    b_scaled,
    b_scale,
    b_offset,
    out,
):
    """``out = (b - a) / (b + a)`` in float32 after each band's nodata mask and ``* scale + offset``.

    NaN where a band is nodata (or not finite) or ``b + a == 0``. ``scale``
    and ``offset`` are float32, so every step stays in float32 as in numpy.
    """
    rows, cols = out.shape
    for i in range(rows):
        for j in range(cols):
            a = _reflectance(a_raw[i, j], a_has_nodata, a_nodata, a_scaled, a_scale, a_offset)
            b = _reflectance(b_raw[i, j], b_has_nodata, b_nodata, b_scaled, b_scale, b_offset)
            total = b + a
            if total == 0:
                out[i, j] = np.nan
            else:
                out[i, j] = (b - a) / total
    return out


@jit
def statistics(values, edges, histogram):
    """Count, min, max, sum and sum of squares (float64) of the non-NaN ``values``; adds to ``histogram``.

    The bins are ``np.histogram(values, bins=len(edges) - 1, range=(edges[0], edges[-1]))``'s, given
    its ``edges`` (in the values' precision, as numpy makes them): a value falls in bin ``i`` where
    ``edges[i] <= value < edges[i + 1]`` (the last bin includes its right edge), found as numpy
    does, by arithmetic then a correction against the edges.
    """
    bins = len(edges) - 1
    low, high = edges[0], edges[bins]
    per_unit = bins / (high - low)
    count, smallest, largest, total, squares = 0, np.inf, -np.inf, 0.0, 0.0
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            x = np.float64(values[i, j])
            if np.isnan(x):
                continue
            count += 1
            smallest = min(smallest, x)
            largest = max(largest, x)
            total += x
            squares += x * x
            if low <= x <= high:
                index = min(int((x - low) * per_unit), bins - 1)
                if x < edges[index]:
                    index -= 1
                elif x >= edges[index + 1] and index != bins - 1:
                    index += 1
                histogram[index] += 1
    return count, smallest, largest, total, squares


@jit
def first_sums(values, out):
    """``out[0]``, ``out[1]``: sum (float64) and count of the valid values of each 2 x 2 window of ``values``."""
    rows, cols = values.shape
    out[:] = 0.0
    for i in range(rows):
        for j in range(cols):
            value = values[i, j]
            if not np.isnan(value):
                out[0, i // 2, j // 2] += value
                out[1, i // 2, j // 2] += 1.0
    return out


@jit
def next_sums(planes, out):
    """Add up 2 x 2 windows of (sum, count) planes: the next overview level's sums and counts."""
    rows, cols = planes.shape[1], planes.shape[2]
    out[:] = 0.0
    for plane in range(2):
        for i in range(rows):
            for j in range(cols):
                out[plane, i // 2, j // 2] += planes[plane, i, j]
    return out


@jit
def means(planes, out):
    """float32 mean of each (sum, count) pixel; NaN where the count is 0."""
    rows, cols = out.shape
    for i in range(rows):
        for j in range(cols):
            count = planes[1, i, j]
            out[i, j] = planes[0, i, j] / count if count > 0 else np.nan
    return out


NAN_BITS = np.uint32(0x7FC00000)  # float32 NaN, the padding of edge tiles


@jit
def predict_tile(bits, top, left, size, out):
    """TIFF floating-point predictor (Technical Note 3) of one tile of a float32 block, given as uint32 ``bits``.

    The tile is ``bits[top:top + size, left:left + size]``, padded with NaN
    where it passes the block's edge. Each row's bytes are put in planes, most
    significant first (as libtiff does for little-endian floats), then replaced
    by their differences along the row, modulo 256. ``out`` is (size, 4 * size) uint8.
    """
    rows, cols = bits.shape
    planes = np.empty(4 * size, np.uint8)
    padded = np.full(size, NAN_BITS, np.uint32)
    valid_cols = min(size, cols - left)
    for r in range(size):
        if top + r >= rows:
            words = np.full(size, NAN_BITS, np.uint32)
        elif valid_cols < size:
            padded[:valid_cols] = bits[top + r, left : left + valid_cols]
            words = padded
        else:
            words = bits[top + r, left : left + size]
        for c in range(size):
            word = words[c]
            planes[c] = np.uint8(word >> 24)
            planes[size + c] = np.uint8((word >> 16) & 0xFF)
            planes[2 * size + c] = np.uint8((word >> 8) & 0xFF)
            planes[3 * size + c] = np.uint8(word & 0xFF)
        out[r, 0] = planes[0]
        for k in range(1, 4 * size):
            out[r, k] = planes[k] - planes[k - 1]
    return out

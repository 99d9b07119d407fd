"""Per-block raster loops compiled with numba: NDVI, statistics, overview sums, the TIFF predictor.

Each is one pass over a block that runs without the GIL, so Dask's threads
really run in parallel; the same work as chains of numpy temporaries passes
over every block many times and holds the GIL in places (boolean indexing,
``np.histogram``). Compiled code is cached beside this file (``cache=True``):
only the first run in a checkout pays for compiling.

Arithmetic is IEEE (no fastmath). Reflectance and the indices are computed
in float64 and rounded to the products' float32 once (as the float64 formula
cast to float32); the tests compare each with plain numpy.
"""

import math

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


NO_MASK = np.ones((1, 1), np.uint8)  # the ``valid`` argument of a band without a mask (``masked`` False)


@jit
def _reflectance(raw, valid, masked, has_nodata, nodata, scaled, scale, offset):
    value = np.float64(raw)
    if not np.isfinite(value) or (has_nodata and raw == nodata) or (masked and valid == 0):
        return np.nan
    if scaled:
        value = value * scale + offset
    return value


@jit
def reflectance(raw, valid, masked, has_nodata, nodata, scaled, scale, offset, out):
    """``out = raw * scale + offset`` in float64; NaN where ``raw`` is nodata or not finite, or ``valid`` is 0.

    ``valid`` (uint8, the block's GDAL mask: 0 = invalid) is read only where
    ``masked``; pass :data:`NO_MASK` otherwise.
    """
    rows, cols = out.shape
    for i in range(rows):
        for j in range(cols):
            mask = valid[i, j] if masked else np.uint8(1)
            out[i, j] = _reflectance(raw[i, j], mask, masked, has_nodata, nodata, scaled, scale, offset)
    return out


@jit
def normalized_difference(
    a_raw,
    a_valid,
    a_masked,
    a_has_nodata,
    a_nodata,
    a_scaled,
    a_scale,
    a_offset,
    b_raw,
    b_valid,
    b_masked,
    b_has_nodata,
    b_nodata,
    b_scaled,
    b_scale,
    b_offset,
    out,
):
    """``out = (b - a) / (b + a)`` after each band's masks and ``* scale + offset`` (:func:`reflectance`).

    Computed in float64 (``scale`` and ``offset`` as given, float64) and
    rounded to ``out``'s float32 once. NaN where a band is invalid or ``b + a == 0``.
    """
    rows, cols = out.shape
    for i in range(rows):
        for j in range(cols):
            a_mask = a_valid[i, j] if a_masked else np.uint8(1)
            b_mask = b_valid[i, j] if b_masked else np.uint8(1)
            a = _reflectance(
                a_raw[i, j], a_mask, a_masked, a_has_nodata, a_nodata, a_scaled, a_scale, a_offset
            )
            b = _reflectance(
                b_raw[i, j], b_mask, b_masked, b_has_nodata, b_nodata, b_scaled, b_scale, b_offset
            )
            total = b + a
            if total == 0:
                out[i, j] = np.nan
            else:
                out[i, j] = (b - a) / total
    return out


# Coarse bins for values outside the fine histogram's range: 128 per power of two (a bin spans at most
# 1/128 of its values' magnitude), ordered as the values; zero in the middle, infinities at the ends.
COARSE_STEPS = 128
_COARSE_EXPONENTS = 278  # frexp exponents -149 (float32's smallest subnormal) .. 128, shifted to 1..278
COARSE_MIDDLE = (_COARSE_EXPONENTS + 1) * COARSE_STEPS + 1  # the code of 0; +/- inf are 0 and 2 * this
COARSE_BINS = 2 * COARSE_MIDDLE + 1


@jit
def coarse_code(x):
    """The coarse bin of ``x`` (float64 of a float32): a code that grows with ``x`` (see :func:`coarse_edges`)."""
    if x == 0:
        return COARSE_MIDDLE
    if np.isinf(x):
        return 0 if x < 0 else 2 * COARSE_MIDDLE
    mantissa, exponent = math.frexp(abs(x))  # abs(x) = mantissa * 2**exponent, mantissa in [0.5, 1)
    exponent = min(max(exponent, -149), 128)
    step = min(int((2.0 * mantissa - 1.0) * COARSE_STEPS), COARSE_STEPS - 1)
    magnitude = (exponent + 150) * COARSE_STEPS + step
    return COARSE_MIDDLE + magnitude if x > 0 else COARSE_MIDDLE - magnitude


def coarse_edges(code: int) -> tuple[float, float]:
    """The values ``[low, high]`` that :func:`coarse_code` puts in bin ``code``."""
    if code in (0, 2 * COARSE_MIDDLE):
        value = -np.inf if code == 0 else np.inf
        return value, value
    if code == COARSE_MIDDLE:
        return 0.0, 0.0
    magnitude = abs(code - COARSE_MIDDLE)
    exponent, step = magnitude // COARSE_STEPS - 150, magnitude % COARSE_STEPS
    low = math.ldexp(1.0 + step / COARSE_STEPS, exponent - 1)
    high = math.ldexp(1.0 + (step + 1) / COARSE_STEPS, exponent - 1)
    return (low, high) if code > COARSE_MIDDLE else (-high, -low)


@jit
def statistics(values, edges, histogram, coarse):
    """Count, min, max, and the sum and sum of squares (float64) of the non-NaN ``values`` less a shift
    (the first of them, returned too); adds to the histograms.

    The shift keeps the variance exact where the values are close together: a sum of squares about
    zero loses it to cancellation (a relative error of 1e-5 in the std of a near-constant block).

    ``histogram``'s bins are ``np.histogram(values, bins=len(edges) - 1, range=(edges[0], edges[-1]))``'s,
    given its ``edges`` (in the values' precision, as numpy makes them): a value falls in bin ``i`` where
    ``edges[i] <= value < edges[i + 1]`` (the last bin includes its right edge), found as numpy
    does, by arithmetic then a correction against the edges. Values outside that range are
    counted in ``coarse`` (``2 * COARSE_BINS`` long) by :func:`coarse_code`: those below it in the
    first half, those above in the second.
    """
    bins = len(edges) - 1
    low, high = edges[0], edges[bins]
    per_unit = bins / (high - low)
    count, smallest, largest, shift, total, squares = 0, np.inf, -np.inf, 0.0, 0.0, 0.0
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            x = np.float64(values[i, j])
            if np.isnan(x):
                continue
            if count == 0 and np.isfinite(x):
                shift = x
            count += 1
            smallest = min(smallest, x)
            largest = max(largest, x)
            total += x - shift
            squares += (x - shift) * (x - shift)
            if low <= x <= high:
                index = min(int((x - low) * per_unit), bins - 1)
                if x < edges[index]:
                    index -= 1
                elif x >= edges[index + 1] and index != bins - 1:
                    index += 1
                histogram[index] += 1
            elif x < low:
                coarse[coarse_code(x)] += 1
            else:
                coarse[COARSE_BINS + coarse_code(x)] += 1
    return count, smallest, largest, shift, total, squares


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

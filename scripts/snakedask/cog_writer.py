"""Write a 2-D Dask array as a Cloud-Optimized GeoTIFF in one parallel pass.

GDAL's COG driver can only copy a finished file, so a COG made with it costs a
staging write, an overview pass over that file, then a second full read and
recompression. Here tiles are compressed where they are computed: each Dask
task encodes the 256-px tiles of its block (ZSTD + the floating-point
predictor, as GDAL writes them) into a segment file in a stage folder, and the
overview levels are averaged from the same blocks in the same graph. Once every
tile's size is known, the client writes the TIFF header and all IFDs and then
appends the segments in COG order (smallest overview first, rows of tiles from
the top) as plain byte copies: no pixel is decoded or compressed twice.

The layout is GDAL's COG layout: the structural-metadata ("ghost") header
(``LAYOUT=IFDS_BEFORE_DATA``, row-major blocks, each tile preceded by its size
and followed by a copy of its last 4 bytes), every IFD before any tile data,
the overviews' data before the full resolution's. The georeferencing tags are
GDAL's own, copied from a one-pixel GeoTIFF that GDAL writes with the same CRS,
transform, nodata and metadata. Overview pixels are the mean of the valid
full-resolution pixels they cover (NaN where there is none).

Workers write their segments into the stage folder beside the product: workers
of an external cluster must see the product's folder (a shared filesystem).
Where they cannot (``workers_share_files=False``), the encoded tiles stay in the
workers' memory (Dask spills them to the workers' own disks if it must) and
come back to this process, which writes them, one block at a time.
"""

import contextlib
import math
import os
import shutil
import struct
import sys
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import dask
import dask.array as da
import numpy as np

from snakedask import raster_kernels
from snakedask.cluster import log_progress

TILE = 256
COMPRESSION_ZSTD = 50000  # the TIFF Compression code libtiff and GDAL use for Zstandard
ZSTD_LEVEL = 1
PREDICTOR_FLOAT = 3
NODATA = float("nan")

# TIFF field types: code -> bytes per value.
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
SHORT, LONG, LONG8, ASCII = 3, 4, 16, 2
# Tags taken from GDAL's template: GeoTIFF georeferencing and GDAL's metadata (nodata goes in every IFD).
GEO_TAGS = (33550, 33922, 34264, 34735, 34736, 34737, 42112)
GDAL_NODATA = 42113
GHOST_LINES = (
    "LAYOUT=IFDS_BEFORE_DATA",
    "BLOCK_ORDER=ROW_MAJOR",
    "BLOCK_LEADER=SIZE_AS_UINT4",
    "BLOCK_TRAILER=LAST_4_BYTES_REPEATED",
    "KNOWN_INCOMPATIBLE_EDITION=NO",
)


def overview_factors(height: int, width: int, smallest: int = TILE) -> list[int]:
    """Overview factors 2, 4, 8, ... until the coarsest level fits in ``smallest`` pixels (as GDAL's COG driver)."""
    factors, factor = [], 2
    while max(height, width) // (factor // 2) > smallest:  # the coarsest level so far is too big
        factors.append(factor)
        factor *= 2
    return factors


# --------------------------------------------------------------------------- encoding tiles


def encode_tile(bits: np.ndarray, top: int = 0, left: int = 0, compressor: Any = None) -> bytes:
    """The tile at ``top, left`` of a float32 block (given as its uint32 ``bits``) as TIFF bytes:
    floating-point predictor, then ZSTD. Edge tiles are padded with NaN to 256 x 256.

    The predictor (TIFF Technical Note 3) puts each row's bytes in planes, most
    significant first, then stores byte-wise differences along the row: smooth
    floating-point data then compress far better.
    """
    import zstandard

    predicted = raster_kernels.predict_tile(bits, top, left, TILE, np.empty((TILE, 4 * TILE), np.uint8))
    return (compressor or zstandard.ZstdCompressor(level=ZSTD_LEVEL)).compress(predicted)


def float_bits(block: np.ndarray) -> np.ndarray:
    """A float32 block's bits as uint32 (contiguous), what :func:`encode_tile` reads."""
    return np.ascontiguousarray(block, dtype=np.float32).view(np.uint32)


def decode_tile(data: bytes) -> np.ndarray:
    """The inverse of :func:`encode_tile` (for tests; GDAL reads the product itself)."""
    import zstandard

    predicted = np.frombuffer(zstandard.ZstdDecompressor().decompress(data), np.uint8).reshape(TILE, 4 * TILE)
    planes = np.cumsum(predicted, axis=1, dtype=np.uint8)
    return np.ascontiguousarray(planes.reshape(TILE, 4, TILE).transpose(0, 2, 1)[:, :, ::-1]).view("<f4")[
        :, :, 0
    ]


class EncodedBlock(NamedTuple):
    """The encoded tiles of one block: one run per row of tiles, in memory or in a stage file.

    ``runs`` are ``(level, tile_row, first_tile_col, start, [tile sizes])``,
    ``start`` being where the run begins in the block's bytes; in them every
    tile is preceded by its size (uint32) and followed by its last 4 bytes, as
    the COG's ghost header announces.
    """

    runs: list[tuple[int, int, int, int, list[int]]]
    data: bytes | None  # held in memory, or
    segment: str | None  # written to this stage file

    def without_data(self) -> "EncodedBlock":
        return self._replace(data=None)


_held: dict[str, int] = {}  # per product (its stage folder): encoded bytes held in this process's memory
_held_lock = threading.Lock()


def _may_hold(stage: str, size: int, budget: int) -> bool:
    with _held_lock:
        held = _held.get(stage, 0)
        if held + size > budget:
            return False
        _held[stage] = held + size
        return True


def encode_block(block: np.ndarray, level: int, top: int, left: int, stage: str, budget: int) -> EncodedBlock:
    """Encode the tiles of one block (its corner at pixel ``top, left`` of its level).

    ``top`` and ``left`` are multiples of 256, so the block holds whole tiles
    (cut by the raster's edge at most). The bytes stay in memory while this
    process holds less than ``budget`` bytes for the product; past that they
    go to a segment file in ``stage`` (written beside, then renamed, so a
    retried task rewrites it whole).
    """
    import zstandard

    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    bits = float_bits(block)
    runs, parts, position = [], [], 0
    for row in range(0, block.shape[0], TILE):
        sizes, start = [], position
        for col in range(0, block.shape[1], TILE):
            data = encode_tile(bits, row, col, compressor)
            parts += [struct.pack("<I", len(data)), data, data[-4:]]
            sizes.append(len(data))
            position += len(data) + 8
        runs.append((level, (top + row) // TILE, left // TILE, start, sizes))
    if _may_hold(stage, position, budget):
        return EncodedBlock(runs, b"".join(parts), None)
    target = Path(stage) / f"L{level}-{top}-{left}.seg"
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as out:
        out.writelines(parts)
    os.replace(tmp, target)
    return EncodedBlock(runs, None, str(target))


def _encode_cell(
    block: np.ndarray, level: int, stage: str, budget: int, block_info: dict | None = None
) -> np.ndarray:
    (top, _), (left, _) = block_info[0]["array-location"]
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = encode_block(block, level, top, left, stage, budget)
    return cell


def lazy_encoded(values: da.Array, level: int, stage: str | Path, budget: int) -> da.Array:
    """A Dask object array with one :class:`EncodedBlock` per block of ``values`` (rechunked to whole tiles)."""
    values = tile_aligned(values)
    return da.map_blocks(
        _encode_cell,
        values,
        level=level,
        stage=str(stage),
        budget=budget,
        dtype=object,
        chunks=tuple((1,) * len(c) for c in values.chunks),
    )


def write_block(block: EncodedBlock, path: str, offsets: list[int]) -> int:
    """Write a block's runs into the product at ``offsets`` (one per run); returns the bytes written."""
    written = 0
    with contextlib.ExitStack() as stack:
        fd = os.open(path, os.O_WRONLY)
        stack.callback(os.close, fd)
        source = stack.enter_context(open(block.segment, "rb")) if block.segment else None
        for (_, _, _, start, sizes), offset in zip(block.runs, offsets, strict=True):
            length = sum(sizes) + 8 * len(sizes)
            if block.data is not None:
                _pwrite_all(fd, memoryview(block.data)[start : start + length], offset)
            else:
                _copy_range(source, start, length, fd, offset)
            written += length
    return written


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        done = os.pwrite(fd, data, offset)
        data, offset = data[done:], offset + done


def _copy_range(source: Any, start: int, length: int, fd: int, offset: int) -> None:
    """Copy ``length`` bytes of ``source`` from ``start`` to ``fd`` at ``offset``, in the kernel where it can."""
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while copied < length:
                done = os.copy_file_range(
                    source.fileno(), fd, length - copied, start + copied, offset + copied
                )
                if done == 0:
                    break
                copied += done
        except OSError:  # not between these filesystems: copy through memory
            pass
    if copied < length:
        source.seek(start + copied)
        _pwrite_all(fd, memoryview(source.read(length - copied)), offset + copied)


# --------------------------------------------------------------------------- overviews


def _aligned(sizes: tuple[int, ...], multiple: int) -> bool:
    """Whether every chunk but the last is a multiple of ``multiple``."""
    return all(s % multiple == 0 for s in sizes[:-1])


def _regular(total: int, step: int) -> tuple[int, ...]:
    return tuple(min(step, total - start) for start in range(0, total, step)) or (0,)


def tile_aligned(values: da.Array) -> da.Array:
    """``values`` rechunked, where needed, so that every chunk holds whole 256-px tiles."""
    chunks = []
    for sizes in values.chunks[-2:]:
        if _aligned(sizes, TILE):
            chunks.append(sizes)
        else:
            step = max(TILE, round(max(sizes) / TILE) * TILE)
            chunks.append(_regular(sum(sizes), step))
    return values.rechunk(tuple(chunks)) if tuple(chunks) != values.chunks[-2:] else values


def _even(values: da.Array) -> da.Array:
    """Rechunk so that every chunk but the last has an even size (needed to halve it in place)."""
    chunks = tuple(
        sizes if _aligned(sizes, 2) else _regular(sum(sizes), max(2, max(sizes) // 2 * 2))
        for sizes in values.chunks[-2:]
    )
    if chunks == values.chunks[-2:]:
        return values
    return values.rechunk(((values.chunks[0]), *chunks) if values.ndim == 3 else chunks)


def _first_sums(values: np.ndarray) -> np.ndarray:
    out = np.empty((2, (values.shape[0] + 1) // 2, (values.shape[1] + 1) // 2), np.float64)
    return raster_kernels.first_sums(values, out)


def _next_sums(planes: np.ndarray) -> np.ndarray:
    out = np.empty((2, (planes.shape[1] + 1) // 2, (planes.shape[2] + 1) // 2), np.float64)
    return raster_kernels.next_sums(planes, out)


def _means(planes: np.ndarray) -> np.ndarray:
    return raster_kernels.means(planes, np.empty(planes.shape[1:], np.float32))


def _halved_chunks(chunks: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple((s + 1) // 2 for s in sizes) for sizes in chunks)


def overview_levels(values: da.Array, count: int) -> list[da.Array]:
    """``count`` lazy overview levels of ``values`` (2-D float32, NaN = nodata), each half the last.

    A level's pixel is the mean of the valid pixels of ``values`` it covers:
    sums and counts are carried from level to level, never means of means.
    """
    levels = []
    planes = None
    for _level in range(count):
        if planes is None:
            source = _even(values)
            planes = da.map_blocks(
                _first_sums,
                source,
                new_axis=0,
                dtype=np.float64,
                chunks=((2,), *_halved_chunks(source.chunks)),
            )
        else:
            planes = _even(planes)
            planes = da.map_blocks(
                _next_sums, planes, dtype=np.float64, chunks=((2,), *_halved_chunks(planes.chunks[1:]))
            )
        # Whole tiles per block where a level's blocks have become smaller than a tile.
        rows, cols = (
            sizes if max(sizes) >= TILE or len(sizes) == 1 else _regular(sum(sizes), TILE)
            for sizes in planes.chunks[1:]
        )
        if (rows, cols) != planes.chunks[1:]:
            planes = planes.rechunk(((2,), rows, cols))
        levels.append(da.map_blocks(_means, planes, drop_axis=0, dtype=np.float32))
    return levels


# --------------------------------------------------------------------------- TIFF structure


def gdal_template_tags(
    crs: Any, transform: Any, tags: dict[str, str] | None = None, description: str | None = None
) -> dict[int, tuple[int, int, bytes]]:
    """GeoTIFF and GDAL metadata tags as GDAL writes them: {tag: (type, count, raw little-endian bytes)}."""
    from rasterio.io import MemoryFile

    with MemoryFile() as memory:
        with memory.open(
            driver="GTiff",
            width=1,
            height=1,
            count=1,
            dtype="float32",
            crs=crs,
            transform=transform,
            nodata=NODATA,
        ) as dataset:
            if tags:
                dataset.update_tags(**tags)
            if description:
                dataset.set_band_description(1, description)
        memory.seek(0)
        found = read_ifd_tags(memory.read())
    return {tag: found[tag] for tag in (*GEO_TAGS, GDAL_NODATA) if tag in found}


def read_ifd_tags(data: bytes) -> dict[int, tuple[int, int, bytes]]:
    """The first IFD's tags of a little-endian TIFF or BigTIFF: {tag: (type, count, raw bytes)}."""
    if data[:2] != b"II":
        raise ValueError("expected a little-endian TIFF")
    big = struct.unpack_from("<H", data, 2)[0] == 43
    count_format, entry_format, offset_format = ("<Q", "<HHQ", "<Q") if big else ("<H", "<HHI", "<I")
    offset = struct.unpack_from("<Q" if big else "<I", data, 8 if big else 4)[0]
    inline = 8 if big else 4
    entries = struct.unpack_from(count_format, data, offset)[0]
    position = offset + struct.calcsize(count_format)
    tags = {}
    for _ in range(entries):
        tag, kind, count = struct.unpack_from(entry_format, data, position)
        value_at = position + struct.calcsize(entry_format)
        size = TYPE_SIZES[kind] * count
        if size > inline:
            value_at = struct.unpack_from(offset_format, data, value_at)[0]
        tags[tag] = (kind, count, bytes(data[value_at : value_at + size]))
        position += struct.calcsize(entry_format) + inline
    return tags


def _values(kind: int, values: Iterable[int]) -> tuple[int, int, bytes]:
    values = list(values)
    code = {SHORT: "H", LONG: "I", LONG8: "Q"}[kind]
    return kind, len(values), struct.pack(f"<{len(values)}{code}", *values)


class _Layout:
    """Sizes and offsets of the header, IFDs and tile data: classic TIFF, or BigTIFF past 4 GiB."""

    def __init__(self, big: bool):
        self.big = big
        self.header = 16 if big else 8
        self.entry = 20 if big else 12
        self.count = 8 if big else 2
        self.inline = 8 if big else 4
        self.offset_type = LONG8 if big else LONG

    def ifd_size(self, tags: dict[int, tuple[int, int, bytes]]) -> int:
        extra = sum(_padded(len(raw)) for _, _, raw in tags.values() if len(raw) > self.inline)
        return self.count + self.entry * len(tags) + self.inline + extra

    def pack_ifd(self, tags: dict[int, tuple[int, int, bytes]], at: int, next_ifd: int) -> bytes:
        """One IFD at file offset ``at``: entries sorted by tag, then the values that do not fit inline."""
        entries = bytearray(struct.pack("<Q" if self.big else "<H", len(tags)))
        values = bytearray()
        values_at = at + self.count + self.entry * len(tags) + self.inline
        for tag in sorted(tags):
            kind, count, raw = tags[tag]
            entries += struct.pack("<HHQ" if self.big else "<HHI", tag, kind, count)
            if len(raw) <= self.inline:
                entries += raw.ljust(self.inline, b"\0")
            else:
                entries += struct.pack("<Q" if self.big else "<I", values_at + len(values))
                values += raw.ljust(_padded(len(raw)), b"\0")
        entries += struct.pack("<Q" if self.big else "<I", next_ifd)
        return bytes(entries + values)


def _padded(size: int) -> int:
    return size + size % 2  # TIFF values start on word boundaries


def _ghost_header() -> bytes:
    body = "".join(line + "\n" for line in GHOST_LINES) + " "
    header = f"GDAL_STRUCTURAL_METADATA_SIZE={len(body):06d} bytes\n"
    if (len(header) + len(body)) % 2:  # the first IFD must start on a word boundary
        body += " "
        header = f"GDAL_STRUCTURAL_METADATA_SIZE={len(body):06d} bytes\n"
    return (header + body).encode("ascii")


def _level_tags(
    height: int,
    width: int,
    overview: bool,
    offsets: list[int],
    sizes: list[int],
    layout: _Layout,
    georeferencing: dict,
) -> dict[int, tuple[int, int, bytes]]:
    tags = {
        254: _values(LONG, [1 if overview else 0]),
        256: _values(LONG, [width]),
        257: _values(LONG, [height]),
        258: _values(SHORT, [32]),
        259: _values(SHORT, [COMPRESSION_ZSTD]),
        262: _values(SHORT, [1]),  # BlackIsZero
        277: _values(SHORT, [1]),
        284: _values(SHORT, [1]),
        317: _values(SHORT, [PREDICTOR_FLOAT]),
        322: _values(SHORT, [TILE]),
        323: _values(SHORT, [TILE]),
        324: _values(layout.offset_type, offsets),
        325: _values(LONG, sizes),
        339: _values(SHORT, [3]),  # IEEE floating point
    }
    for tag, value in georeferencing.items():
        if tag == GDAL_NODATA or not overview:
            tags[tag] = value
    return tags


def plan(
    shapes: list[tuple[int, int]],
    blocks: Iterable[EncodedBlock],
    georeferencing: dict[int, tuple[int, int, bytes]],
    bigtiff: bool | None = None,
) -> tuple[bytes, dict[tuple[int, int, int], int], int]:
    """Lay the COG out: its header and IFDs, where each run of tiles goes, and the file's size.

    ``shapes`` are (height, width) of the full resolution and each overview
    level. Data order: coarsest level first, rows of tiles top to bottom, runs
    left to right. Classic TIFF, or BigTIFF when the file reaches 4 GiB
    (``bigtiff`` True or False forces one).
    """
    by_row: dict[tuple[int, int], list[tuple]] = {}
    for block in blocks:
        for run in block.runs:
            by_row.setdefault(run[:2], []).append(run)
    grids = [(math.ceil(h / TILE), math.ceil(w / TILE)) for h, w in shapes]
    ordered = []
    for level in reversed(range(len(shapes))):
        for row in range(grids[level][0]):
            row_runs = sorted(by_row.get((level, row), []), key=lambda run: run[2])
            if sum(len(run[4]) for run in row_runs) != grids[level][1]:
                raise RuntimeError(f"COG level {level}, tile row {row}: tiles are missing")
            ordered += row_runs
    data_size = sum(sum(run[4]) + 8 * len(run[4]) for run in ordered)
    ghost = _ghost_header()

    def layout_for(big: bool) -> tuple[_Layout, int]:
        layout = _Layout(big)
        ifds = 0
        for level, (height, width) in enumerate(shapes):
            tiles = grids[level][0] * grids[level][1]
            ifds += layout.ifd_size(
                _level_tags(height, width, level > 0, [0] * tiles, [0] * tiles, layout, georeferencing)
            )
        return layout, layout.header + len(ghost) + ifds

    layout, data_start = layout_for(big=bool(bigtiff))
    if bigtiff is None and data_start + data_size >= 1 << 32:
        layout, data_start = layout_for(big=True)
    elif bigtiff is False and data_start + data_size >= 1 << 32:
        raise ValueError("the COG needs BigTIFF: it reaches 4 GiB")

    # Tile offsets follow the data order; each tile's data starts after its 4-byte size.
    offsets = [np.zeros(g[0] * g[1], np.int64) for g in grids]
    sizes = [np.zeros(g[0] * g[1], np.int64) for g in grids]
    places, position = {}, data_start
    for level, row, first, _, run_sizes in ordered:
        places[(level, row, first)] = position
        index = row * grids[level][1] + first
        for size in run_sizes:
            offsets[level][index], sizes[level][index] = position + 4, size
            position += size + 8
            index += 1
    ifds, at = [], layout.header + len(ghost)
    for level, (height, width) in enumerate(shapes):
        tags = _level_tags(
            height, width, level > 0, offsets[level].tolist(), sizes[level].tolist(), layout, georeferencing
        )
        size = layout.ifd_size(tags)
        ifds.append(layout.pack_ifd(tags, at, at + size if level + 1 < len(shapes) else 0))
        at += size
    header = (
        struct.pack("<2sHHHQ", b"II", 43, 8, 0, layout.header + len(ghost))
        if layout.big
        else struct.pack("<2sHI", b"II", 42, layout.header + len(ghost))
    )
    return header + ghost + b"".join(ifds), places, position


# --------------------------------------------------------------------------- the whole product


def stage_folder(path: Path) -> Path:
    """A new stage folder for ``path``: hidden, beside it."""
    return path.with_name(f".{path.name.split('.')[0]}.{os.getpid()}-{uuid.uuid4().hex[:6]}-stage.partial")


class CogProduct(NamedTuple):
    """One product of :func:`write_cogs`: its pixels (2-D float32, NaN = nodata), file and metadata."""

    values: da.Array
    path: str | Path
    crs: Any
    transform: Any
    tags: dict[str, str] | None = None
    description: str | None = None
    stage: str | Path | None = None


def write_cog(
    values: da.Array,
    path: str | Path,
    crs: Any,
    transform: Any,
    tags: dict[str, str] | None = None,
    description: str | None = None,
    compute_with: Any = None,
    stage: str | Path | None = None,
    memory_budget: int = 1 << 30,
    bigtiff: bool | None = None,
    workers_share_files: bool = True,
) -> Any:
    """Write ``values`` (2-D float32, NaN = nodata) as a COG at ``path``; return ``compute_with`` computed.

    :func:`write_cogs` for one product.
    """
    product = CogProduct(values, path, crs, transform, tags, description, stage)
    return write_cogs([product], compute_with, memory_budget, bigtiff, workers_share_files)


def write_cogs(
    products: list[CogProduct],
    compute_with: Any = None,
    memory_budget: int = 1 << 30,
    bigtiff: bool | None = None,
    workers_share_files: bool = True,
) -> Any:
    """Write each product as a COG, all in one Dask pass; return ``compute_with`` computed.

    ``compute_with`` (any Dask collection, e.g. statistics of the products) is
    computed in the same pass, so pixels and the inputs they share (several
    indices of one scene's bands) are computed and read only once. Encoded
    tiles wait in the workers' memory, up to ``memory_budget`` bytes per
    worker process in all, and past that in each product's ``stage`` (a new
    folder, by default hidden beside its file, removed afterwards whatever
    happens); then each block's tiles are written once, straight to their
    place in the file. A failure removes what was written. ``workers_share_files=False``: no
    task reads or writes a path here; the tiles wait in the workers' memory and this process writes them.
    """
    paths = [Path(product.path).absolute() for product in products]
    stages = [
        Path(p.stage) if p.stage else stage_folder(path) for p, path in zip(products, paths, strict=True)
    ]
    budget = memory_budget // max(1, len(products)) if workers_share_files else sys.maxsize
    made: list[Path] = []  # only the stage folders made here are removed
    try:
        for stage in stages:
            stage.mkdir(parents=True)
            made.append(stage)
        levels, encoded = [], []
        for product, stage in zip(products, stages, strict=True):
            height, width = product.values.shape
            count = len(overview_factors(height, width))
            levels.append([product.values, *overview_levels(product.values, count)])
            encoded.append([lazy_encoded(level, i, stage, budget) for i, level in enumerate(levels[-1])])
        flat = [array for arrays in encoded for array in arrays]
        *flat, extra = dask.persist(*flat, compute_with)
        log_progress([*flat, extra], "blocks")  # a long job shows it moves (on a distributed client)
        extra, *runs = dask.compute(extra, *[array.map_blocks(_runs_only, dtype=object) for array in flat])
        writes = []
        for product, path, product_levels in zip(products, paths, levels, strict=True):
            product_encoded, flat = flat[: len(product_levels)], flat[len(product_levels) :]
            product_runs, runs = runs[: len(product_levels)], runs[len(product_levels) :]
            georeferencing = gdal_template_tags(
                product.crs, product.transform, product.tags, product.description
            )
            blocks = [cell for array in product_runs for cell in array.ravel()]
            header, places, size = plan(
                [level.shape for level in product_levels], blocks, georeferencing, bigtiff
            )
            with open(path, "wb") as out:
                out.write(header)
                out.truncate(size)
            for array, level_runs in zip(product_encoded, product_runs, strict=True):
                offsets = np.empty(level_runs.shape, dtype=object)
                for index, block in np.ndenumerate(level_runs):
                    offsets[index] = [places[run[:3]] for run in block.runs]
                if workers_share_files:  # each worker writes its blocks' tiles
                    writes.append(
                        da.map_blocks(
                            _write_cell,
                            array,
                            da.from_array(offsets, chunks=1),
                            path=str(path),
                            dtype=np.int64,
                        )
                    )
                else:  # fetched and written here, in turn
                    for index, block_offsets in np.ndenumerate(offsets):
                        write_block(array.blocks[index].compute().flat[0], str(path), block_offsets)
        dask.compute(*writes)
        del encoded, flat, writes
    except BaseException:
        if len(made) == len(stages):  # past the stages: the files may be ours
            for path in paths:
                path.unlink(missing_ok=True)
        raise
    finally:
        for stage in made:
            with _held_lock:
                _held.pop(str(stage), None)
            shutil.rmtree(stage, ignore_errors=True)
    return extra


def _runs_only(cell: np.ndarray) -> np.ndarray:
    runs = np.empty(cell.shape, dtype=object)
    runs.flat[0] = cell.flat[0].without_data()
    return runs


def _write_cell(cell: np.ndarray, offsets: np.ndarray, path: str) -> np.ndarray:
    return np.full(cell.shape, write_block(cell.flat[0], path, offsets.flat[0]), np.int64)

"""The one-pass COG writer and the compiled kernels, against numpy, rasterio/GDAL and rio-cogeo."""

import struct

import dask
import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from rio_cogeo.cogeo import cog_validate

from snakedask import cog_writer, raster_kernels
from snakedask.raster_stats import block_statistics, combine, lazy_statistics, summarise

TRANSFORM = Affine(0.0598723001, 0.0, 621986.34120000007, 0.0, -0.0598723001, 7524789.112700001)


@pytest.fixture(autouse=True)
def threaded_dask():
    with dask.config.set(scheduler="threads"):
        yield


def numpy_predictor(tile):
    """TIFF Technical Note 3 as plain numpy: bytes in planes, most significant first, then differences."""
    rows, cols = tile.shape
    planes = tile.astype("<f4").view(np.uint8).reshape(rows, cols, 4)[:, :, ::-1].transpose(0, 2, 1)
    planes = planes.reshape(rows, 4 * cols)
    return np.concatenate([planes[:, :1], np.diff(planes, axis=1)], axis=1).astype(np.uint8)


def test_predictor_matches_numpy_and_pads_edge_tiles_with_nan():
    rng = np.random.default_rng(0)
    block = rng.normal(size=(300, 400)).astype(np.float32)
    block[5, 7] = np.nan
    bits = cog_writer.float_bits(block)
    out = np.empty((256, 1024), np.uint8)
    np.testing.assert_array_equal(
        raster_kernels.predict_tile(bits, 0, 0, 256, out), numpy_predictor(block[:256, :256])
    )
    padded = np.full((256, 256), np.nan, np.float32)
    padded[:44, :144] = block[256:, 256:]
    np.testing.assert_array_equal(
        raster_kernels.predict_tile(bits, 256, 256, 256, out), numpy_predictor(padded)
    )
    np.testing.assert_array_equal(cog_writer.decode_tile(cog_writer.encode_tile(bits, 256, 256)), padded)


def test_statistics_kernel_matches_numpy_histogram_and_moments():
    rng = np.random.default_rng(1)
    edges = np.linspace(-1, 1, 2001)
    values = rng.uniform(-1.2, 1.2, (500, 300)).astype(np.float32)
    values[::7, ::3] = np.nan
    values[0, :6] = [-1.0, 1.0, edges[1000], edges[1], np.nextafter(np.float32(1), 0), -0.0]  # edges exactly
    part = block_statistics(values)
    finite = values[~np.isnan(values)].astype(np.float64)
    np.testing.assert_array_equal(
        part["histogram"], np.histogram(values[~np.isnan(values)], 2000, (-1, 1))[0]
    )
    assert part["count"] == finite.size and part["size"] == values.size
    assert part["min"] == finite.min() and part["max"] == finite.max()
    assert part["sum"] == pytest.approx(finite.sum(), rel=1e-12)
    assert part["deviations"] == pytest.approx(((finite - finite.mean()) ** 2).sum(), rel=1e-12)
    # Blocks add up to the whole.
    lazy = lazy_statistics(da.from_array(values, chunks=(128, 100)))
    whole, pieces = summarise(part), summarise(lazy.compute())
    assert whole["count_valid"] == pieces["count_valid"] and whole["percentiles"] == pieces["percentiles"]
    assert whole["histogram"] == pieces["histogram"] and pieces["mean"] == pytest.approx(
        finite.mean(), rel=1e-12
    )
    empty = combine([block_statistics(np.full((3, 3), np.nan, np.float32))])
    assert empty["count"] == 0 and summarise(empty)["min"] is None


def test_coarse_bins_hold_their_values_in_order_and_within_a_128th():
    rng = np.random.default_rng(6)
    magnitudes = 10.0 ** rng.uniform(-44, 38, 20000)
    values = np.sort(np.concatenate([magnitudes, -magnitudes, [0.0, np.inf, -np.inf]]).astype(np.float32))
    values = values.astype(np.float64)
    codes = [raster_kernels.coarse_code(x) for x in values]
    assert codes == sorted(codes) and min(codes) >= 0 and max(codes) < raster_kernels.COARSE_BINS
    for x, code in zip(values, codes, strict=True):
        low, high = raster_kernels.coarse_edges(code)
        assert low <= x <= high and (np.isinf(x) or high - low <= abs(x) / 128 or abs(x) < 2.0**-126), x


def test_percentiles_of_all_values_within_their_bound_and_between_min_and_max():
    """As numpy.percentile over every valid value, those outside the histogram's range included."""
    rng = np.random.default_rng(12)
    for spread in (0.05, 0.4, 3.0, 500.0):
        values = rng.normal(0.3, spread, (300, 200)).astype(np.float32)
        values[rng.random(values.shape) < 0.1] = np.nan
        stats = summarise(lazy_statistics(da.from_array(values, chunks=(128, 100))).compute())
        finite = values[~np.isnan(values)].astype(np.float64)
        assert stats["count_outside_histogram_range"] == np.count_nonzero(np.abs(finite) > 1)
        ordered = [stats["min"], *stats["percentiles"].values(), stats["max"]]
        assert ordered == sorted(ordered), spread
        for name, value in stats["percentiles"].items():
            error = abs(value - np.percentile(finite, int(name[1:])))
            assert error <= stats["percentile_error_bound"][name], (spread, name, error)
    # One value repeated: every percentile is it, exactly (midpoints once put p98 past the max).
    constant = summarise(block_statistics(np.full((4, 4), 0.6, np.float32)))
    assert set(constant["percentiles"].values()) == {constant["max"]} == {np.float32(0.6)}


@pytest.mark.parametrize("spread", [0.0, 1e-7, 1e-4, 0.3])
def test_std_of_values_close_together_is_numpys(spread):
    """A near-constant index (a lake, a uniform field): the std as numpy's two-pass std, to 1e-9.
    A sum of squares about zero lost it to cancellation (1e-5 relative at 1e-4 around 0.6)."""
    rng = np.random.default_rng(3)
    values = (0.6 + rng.normal(0, spread, (1000, 700))).astype(np.float32)
    values[rng.random(values.shape) < 0.05] = np.nan
    stats = summarise(lazy_statistics(da.from_array(values, chunks=(256, 200))).compute())
    finite = values[~np.isnan(values)].astype(np.float64)
    assert stats["std"] == pytest.approx(finite.std(), rel=1e-9, abs=1e-15)
    assert stats["mean"] == pytest.approx(finite.mean(), rel=1e-12)


@pytest.mark.parametrize(
    "dtype, nodata, expected",
    [
        ("float32", -10000.0, (True, -10000.0)),
        ("float32", float("nan"), (False, 0)),
        ("uint16", 0, (True, 0)),
        ("uint16", 0.5, (False, 0)),  # no uint16 value equals 0.5
        ("uint16", -1, (False, 0)),  # nor -1
        ("int16", -32768, (True, -32768)),
        ("float32", None, (False, 0)),
    ],
)
def test_nodata_compares_as_numpy_does(dtype, nodata, expected):
    has, value = raster_kernels.nodata_in(np.dtype(dtype), nodata)
    assert (has, value) == expected and (not has or value.dtype == np.dtype(dtype))


def write_band(path, data, nodata=-10000.0):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="float32",
        crs="EPSG:32657",
        transform=TRANSFORM,
        nodata=nodata,
    ) as dst:
        dst.write(data, 1)


def smooth(shape, seed=2):
    rows, cols = np.indices(shape)
    field = np.sin(rows / 37.0) * np.cos(cols / 23.0) + np.random.default_rng(seed).normal(0, 0.01, shape)
    return field.astype(np.float32)


@pytest.mark.parametrize(
    "budget, bigtiff",
    [(1 << 30, None), (0, None), (1 << 30, True)],
    ids=["in memory", "staged on disk", "BigTIFF"],
)
def test_written_cog_reads_back_exactly(tmp_path, budget, bigtiff):
    values = smooth((1100, 1300))
    values[:50] = np.nan
    array = da.from_array(values, chunks=(512, 512))
    stats = cog_writer.write_cog(
        array,
        tmp_path / "out.tif",
        crs="EPSG:32657",
        transform=TRANSFORM,
        tags={"units": "1"},
        description="test",
        compute_with=lazy_statistics(array),
        memory_budget=budget,
        bigtiff=bigtiff,
    )
    assert summarise(stats)["count_valid"] == np.count_nonzero(~np.isnan(values))
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]  # the stage folder is gone
    valid, errors, _ = cog_validate(str(tmp_path / "out.tif"))
    assert valid and errors == [], errors
    with rasterio.open(tmp_path / "out.tif") as src:
        np.testing.assert_array_equal(src.read(1), values)
        assert src.transform == TRANSFORM and src.crs.to_epsg() == 32657 and np.isnan(src.nodata)
        assert src.overviews(1) == [2, 4, 8] and src.tags()["units"] == "1" and src.descriptions == ("test",)
        assert src.profile["compress"] == "zstd" and src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        offsets = [
            int(src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=1)) for y in range(5) for x in range(6)
        ]
        sizes = [
            int(src.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=1)) for y in range(5) for x in range(6)
        ]
    data = (tmp_path / "out.tif").read_bytes()
    assert data[2:4] == (b"\x2b\x00" if bigtiff else b"\x2a\x00")
    assert offsets == sorted(offsets)  # row-major tiles
    for offset, size in zip(
        offsets, sizes, strict=False
    ):  # the ghost header's promise: size before, last 4 bytes after
        assert struct.unpack("<I", data[offset - 4 : offset])[0] == size
        assert data[offset + size : offset + size + 4] == data[offset + size - 4 : offset + size]


# Blocks of whole tiles, blocks that halve to odd sizes, blocks smaller than a tile.
@pytest.mark.parametrize("chunks", [(256, 512), (768, 256), (128, 384), (250, 1030)])
def test_overviews_are_means_of_the_valid_pixels_below(tmp_path, chunks):
    values = smooth((1300, 1030))
    values[100:300, 200:700] = np.nan
    values[::3, ::5] = np.nan
    cog_writer.write_cog(
        da.from_array(values, chunks=chunks), tmp_path / "out.tif", crs="EPSG:32657", transform=TRANSFORM
    )
    with rasterio.open(tmp_path / "out.tif") as src:
        for factor in src.overviews(1):
            shape = (-(-1300 // factor), -(-1030 // factor))
            padded = np.full((shape[0] * factor, shape[1] * factor), np.nan)
            padded[:1300, :1030] = values
            windows = padded.reshape(shape[0], factor, shape[1], factor)
            counts = np.count_nonzero(~np.isnan(windows), axis=(1, 3))
            sums = np.nansum(windows, axis=(1, 3))
            expected = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)
            np.testing.assert_allclose(src.read(1, out_shape=shape), expected, rtol=1e-6, equal_nan=True)


def test_a_raster_within_one_tile_has_no_overviews(tmp_path):
    values = smooth((100, 200))
    cog_writer.write_cog(
        da.from_array(values, chunks=64), tmp_path / "out.tif", crs="EPSG:32657", transform=TRANSFORM
    )
    assert cog_validate(str(tmp_path / "out.tif"))[:2] == (True, [])
    with rasterio.open(tmp_path / "out.tif") as src:
        assert src.overviews(1) == [] and src.block_shapes == [(256, 256)]
        np.testing.assert_array_equal(src.read(1), values)


def test_a_failed_computation_leaves_nothing(tmp_path):
    def explode(block):
        raise RuntimeError("a worker lost its input")

    array = da.from_array(smooth((600, 600)), chunks=256).map_blocks(explode, dtype=np.float32)
    with pytest.raises(RuntimeError, match="lost its input"):
        cog_writer.write_cog(array, tmp_path / "out.tif", crs="EPSG:32657", transform=TRANSFORM)
    assert list(tmp_path.iterdir()) == []


def test_several_products_in_one_pass_are_the_files_each_would_be_alone(tmp_path):
    # Two products of one input (as two indices of one scene's bands), with statistics of both.
    source = da.from_array(smooth((700, 900)), chunks=(256, 512))
    first, second = source * 2, (source - 0.25).map_blocks(np.negative)
    computed = cog_writer.write_cogs(
        [
            cog_writer.CogProduct(first, tmp_path / "together/a.tif", "EPSG:32657", TRANSFORM),
            cog_writer.CogProduct(second, tmp_path / "together/b.tif", "EPSG:32657", TRANSFORM),
        ],
        compute_with=[lazy_statistics(first), lazy_statistics(second)],
        memory_budget=1 << 14,  # some blocks held in memory, the rest staged on disk
    )
    for name, array, part in zip("ab", (first, second), computed, strict=True):
        alone = tmp_path / f"alone/{name}.tif"
        alone.parent.mkdir(exist_ok=True)
        cog_writer.write_cog(array, alone, crs="EPSG:32657", transform=TRANSFORM)
        assert (tmp_path / f"together/{name}.tif").read_bytes() == alone.read_bytes()
        assert summarise(part) == summarise(lazy_statistics(array).compute())
    assert sorted(p.name for p in (tmp_path / "together").iterdir()) == ["a.tif", "b.tif"]  # no stages


def test_a_failure_in_one_of_several_products_leaves_none(tmp_path):
    def explode(block):
        raise RuntimeError("a worker lost its input")

    good = da.from_array(smooth((600, 600)), chunks=256)
    bad = good.map_blocks(explode, dtype=np.float32)
    products = [
        cog_writer.CogProduct(good, tmp_path / "good.tif", "EPSG:32657", TRANSFORM),
        cog_writer.CogProduct(bad, tmp_path / "bad.tif", "EPSG:32657", TRANSFORM),
    ]
    with pytest.raises(RuntimeError, match="lost its input"):
        cog_writer.write_cogs(products)
    assert list(tmp_path.iterdir()) == []


def test_a_long_write_logs_its_progress_on_a_distributed_client(tmp_path, caplog, distributed_client):
    import logging

    values = smooth((600, 1030))
    with caplog.at_level(logging.INFO):
        cog_writer.write_cog(
            da.from_array(values, chunks=(256, 512)),
            tmp_path / "out.tif",
            crs="EPSG:32657",
            transform=TRANSFORM,
        )
    done = [r.getMessage() for r in caplog.records if " blocks done " in r.getMessage()]
    assert done and done[-1].split(" of ")[0] == done[-1].split(" of ")[1].split()[0], done
    with rasterio.open(tmp_path / "out.tif") as src:
        np.testing.assert_array_equal(src.read(1), values)


def test_tiles_written_here_when_workers_share_no_files(tmp_path, distributed_client):
    # dask.shared_filesystem: false: the encoded tiles come back to this process, which writes them;
    # the file is the one the workers would write (byte for byte), whatever the memory budget.
    values = smooth((1100, 1300))
    values[600:700, 100:900] = np.nan
    array = da.from_array(values, chunks=(512, 640))
    paths = {}
    for share in (True, False):
        paths[share] = tmp_path / f"share-{share}.tif"
        cog_writer.write_cog(
            array, paths[share], "EPSG:32657", TRANSFORM, memory_budget=0, workers_share_files=share
        )
    assert paths[False].read_bytes() == paths[True].read_bytes()
    with rasterio.open(paths[False]) as src:
        np.testing.assert_array_equal(src.read(1), values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["share-False.tif", "share-True.tif"]

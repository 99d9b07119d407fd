"""Real third-party files (tests/data/real/, see its SOURCES.md) through the real workflow, against
plain pandas / numpy / rasterio reading the same files (the oracles in tests/real_files.py).

One Snakemake run (``--keep-going``) makes every table, with the default engine and with
``engine: pandas``, and every scene; each table, engine and scene is then its own test case, so one
failure hides no other.
"""

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from tests.helpers import copy_workflow, run_snakemake
from tests.real_files import SCENES, TABLES, oracle_ndvi, oracle_table, scene_config, table_config

pytestmark = pytest.mark.workflow

ENGINES = {"default": None, "pandas": "pandas"}
TABLE_RUNS = {f"{name}-{engine}": (name, engine) for name in TABLES for engine in ENGINES}
COMPUTED = [name for name, scene in SCENES.items() if not scene.refused]
REFUSED = [name for name, scene in SCENES.items() if scene.refused]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """The workflow's products for the whole corpus, from one Snakemake run."""
    workdir = copy_workflow(tmp_path_factory.mktemp("real") / "checkout")
    config = {
        "tables": {
            run: table_config(name, TABLES[name], ENGINES[engine])
            for run, (name, engine) in TABLE_RUNS.items()
        },
        "scenes": {name: scene_config(scene) for name, scene in SCENES.items()},
        "dask": {"performance_report": False, "local": {"shared": True}},
    }
    (workdir / "real.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    targets = [
        f"results/tables/{run}/{product}" for run in TABLE_RUNS for product in ("averages.csv", "counts.csv")
    ]
    targets += [
        f"results/scenes/{name}/{product}" for name in SCENES for product in ("ndvi.tif", "ndvi_stats.json")
    ]
    result = run_snakemake(
        workdir, "--keep-going", *targets, "--configfile", "config/config.yaml", "real.yaml", check=False
    )
    return workdir, result


def job_output(workdir, result, folder: str) -> str:
    """What the run said about one dataset: the ends of its jobs' logs, then Snakemake's own output."""
    logs = sorted((workdir / folder).glob("*.log"))
    said = "".join(f"--- {log.name} ---\n{log.read_text(errors='replace')[-2000:]}\n" for log in logs)
    return f"{said}--- snakemake ---\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


def read_product(path, key_is_numeric: bool) -> pd.DataFrame:
    """averages.csv / counts.csv with the key as pandas would type it (numbers or text)."""
    frame = pd.read_csv(path, index_col=0, dtype={0: str} if not key_is_numeric else None, encoding="utf-8")
    if not key_is_numeric:
        frame.index = frame.index.astype(str)
    return frame


@pytest.mark.parametrize("run", list(TABLE_RUNS))
def test_table_averages_and_counts_are_pandas(real_run, run):
    workdir, result = real_run
    name, _ = TABLE_RUNS[run]
    table = TABLES[name]
    means, counts, magnitudes = oracle_table(table)
    folder = workdir / "results" / "tables" / run
    if not (folder / "averages.csv").exists():
        pytest.fail(
            f"{run}: no averages.csv\n{job_output(workdir, result, f'logs/tables/{run}')}",
            pytrace=False,
        )
    numeric = pd.api.types.is_numeric_dtype(means.index) and not pd.api.types.is_bool_dtype(means.index)
    got = read_product(folder / "averages.csv", numeric)
    got_counts = read_product(folder / "counts.csv", numeric)
    if not numeric:
        for frame in (means, counts, magnitudes):
            frame.index = frame.index.astype(str)

    assert list(got.columns) == list(means.columns), f"{run}: averaged columns"
    assert list(got.index) == list(means.index), f"{run}: groups"
    for column in means.columns:
        expected = means[column].to_numpy(dtype=np.float64)
        actual = got[column].to_numpy(dtype=np.float64)
        np.testing.assert_array_equal(
            np.isnan(actual), np.isnan(expected), err_msg=f"{run}: NaN in {column!r}"
        )
        # 1e-12 relative: to the mean itself, or to the values' mean magnitude where they cancel.
        scale = np.maximum(np.abs(expected), magnitudes[column].to_numpy(dtype=np.float64))
        off = np.abs(actual - expected) > 1e-12 * scale
        assert not np.any(off), (
            f"{run}: {column!r} differs from pandas in groups {list(means.index[off])}: "
            f"expected {list(expected[off])}, got {list(actual[off])}"
        )

    assert list(got_counts.columns) == list(counts.columns), f"{run}: counts.csv columns"
    assert list(got_counts.index) == list(counts.index), f"{run}: counts.csv groups"
    for column in counts.columns:
        np.testing.assert_array_equal(
            got_counts[column].to_numpy(), counts[column].to_numpy(), err_msg=f"{run}: count of {column!r}"
        )


@pytest.mark.parametrize("name", COMPUTED)
def test_scene_ndvi_is_rasterios(real_run, name):
    workdir, result = real_run
    folder = workdir / "results" / "scenes" / name
    if not (folder / "ndvi.tif").exists():
        pytest.fail(
            f"{name}: no ndvi.tif\n{job_output(workdir, result, f'logs/scenes/{name}')}",
            pytrace=False,
        )
    expected, grid = oracle_ndvi(SCENES[name])
    with rasterio.open(folder / "ndvi.tif") as out:
        assert out.crs == grid["crs"], f"{name}: CRS"
        assert out.transform == grid["transform"], f"{name}: transform"
        assert (out.height, out.width) == grid["shape"], f"{name}: shape"
        assert out.dtypes == ("float32",), f"{name}: dtype"
        got = out.read(1)
    missing = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), missing, err_msg=f"{name}: where NDVI is nodata")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=f"{name}: NDVI")

    stats = json.loads((folder / "ndvi_stats.json").read_text())
    valid = got[~np.isnan(got)].astype(np.float64)
    assert stats["count_valid"] == int((~missing).sum()), f"{name}: count_valid"
    assert stats["count_nodata"] == int(missing.sum()), f"{name}: count_nodata"
    assert stats["min"] == valid.min() and stats["max"] == valid.max(), f"{name}: min/max of ndvi.tif"
    assert stats["min"] == pytest.approx(float(np.nanmin(expected)), rel=1e-5, abs=1e-6), f"{name}: min"
    assert stats["max"] == pytest.approx(float(np.nanmax(expected)), rel=1e-5, abs=1e-6), f"{name}: max"
    values = [stats["percentiles"][key] for key in sorted(stats["percentiles"], key=lambda k: float(k[1:]))]
    assert values, f"{name}: no percentiles"
    assert all(stats["min"] <= v <= stats["max"] for v in values), (
        f"{name}: percentiles {values} outside [min, max]"
    )
    assert values == sorted(values), f"{name}: percentiles not monotone {values}"


@pytest.mark.parametrize("name", REFUSED)
def test_scene_without_valid_pixels_is_refused_clearly(real_run, name):
    workdir, result = real_run
    assert not (workdir / "results" / "scenes" / name / "ndvi.tif").exists(), name
    said = job_output(workdir, result, f"logs/scenes/{name}")
    assert SCENES[name].refused in said, said

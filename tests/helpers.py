"""Helpers the tests import (fixtures live in the conftest.py files).

``from tests.helpers import run_snakemake`` works because ``tests`` is a package:
pytest puts the checkout's root on ``sys.path`` for it, no path edits needed.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image

from snakedask_tools.checkout import ROOT, copy_checkout, snakemake_environment

SCRIPTS = ROOT / "scripts"
RULE_SCRIPTS = ROOT / "workflow" / "scripts"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def require_service(missing: str | None) -> None:
    """Skip the calling test (or fixture) because a service is missing: ``missing`` says which and why.

    ``None`` means it is there, and nothing happens. In CI (``CI=true``) the test
    fails instead: README says SLURM, TLS, the browser checks and the full-disk
    fault are tested, and ``.ci/run`` installs what they need, so there a missing
    service is a broken CI run, not a skip.
    """
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing}; CI must run this test (.ci/run installs what it needs)", pytrace=False)
    pytest.skip(missing)


def copy_workflow(dest: Path, performance_report: bool = True) -> Path:
    """A fresh copy of the checkout's workflow, config, library and sample data.

    ``performance_report=False``: its config/config.yaml sets ``dask.performance_report: false``
    (the page then says so), for tests of what a run computes rather than of its Dask report;
    the report costs about 0.8 CPU-s per Dask job. tests/workflow/test_report.py and the runs
    on each kind of cluster keep it.
    """
    workdir = copy_checkout(dest)
    if not performance_report:
        import yaml

        config_file = workdir / "config" / "config.yaml"
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        config["dask"]["performance_report"] = False
        config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return workdir


def run_snakemake(
    workdir: Path, *args: str, env: dict | None = None, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir``; on unexpected failure show its output."""
    full_env = snakemake_environment(extra=env)  # the installed library: its numba cache is warm
    result = subprocess.run(
        [str(SNAKEMAKE), "--cores", "2", *args],
        cwd=workdir,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def wait_until(condition, timeout: float, message: str, interval: float = 0.2) -> None:
    """Poll ``condition()`` until true; TimeoutError(message) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(message)


TABLE, SCENE = "dg_soil_moisture", "RU_ANS_TR2_FL005M"
PRODUCTS = [
    f"resources/tables/{TABLE}/raw.csv",
    f"resources/scenes/{SCENE}/red.tif",
    f"resources/scenes/{SCENE}/nir.tif",
    f"results/tables/{TABLE}/encoding.json",
    f"results/tables/{TABLE}/averages.csv",
    f"results/tables/{TABLE}/averages.png",
    f"results/scenes/{SCENE}/ndvi.tif",
    f"results/scenes/{SCENE}/ndvi.png",
]


# The products of the Dask rules alone: what a test of where the Dask work runs asks for.
DASK_PRODUCTS = [f"results/tables/{TABLE}/averages.csv", f"results/scenes/{SCENE}/ndvi.tif"]


def check_products(
    workdir, sample, figures: bool = True, scene_in_place: bool = False, table_in_place: bool = False
):
    """The products of a run on the bundled sample, checked against pandas and numpy
    (``figures=False``: a run of DASK_PRODUCTS, which makes no figure; ``scene_in_place``,
    ``table_in_place``: read in place, so not downloaded)."""
    skipped = ("resources/scenes/",) * scene_in_place + ("resources/tables/",) * table_in_place
    products = [p for p in PRODUCTS if (figures or not p.endswith(".png")) and not p.startswith(skipped)]
    for product in products:
        assert (workdir / product).stat().st_size > 0, product
    if not table_in_place:
        assert (workdir / PRODUCTS[0]).read_bytes() == sample["csv"].read_bytes()

    encoding = json.loads((workdir / f"results/tables/{TABLE}/encoding.json").read_text())
    assert encoding["encoding"] == "iso8859-1" and encoding["method"] == "candidate"

    averages = pd.read_csv(workdir / f"results/tables/{TABLE}/averages.csv", index_col="year")
    expected = pd.read_csv(sample["csv"], encoding="latin-1").groupby("year").mean(numeric_only=True)
    pd.testing.assert_frame_equal(averages, expected, check_dtype=False, rtol=1e-12)

    with (
        rasterio.open(workdir / f"results/scenes/{SCENE}/ndvi.tif") as out,
        rasterio.open(sample["red"]) as red,
        rasterio.open(sample["nir"]) as nir,
    ):
        assert out.transform == red.transform and out.crs == red.crs
        assert out.dtypes == ("float32",) and np.isnan(out.nodata)
        r, n = red.read(1).astype(np.float64), nir.read(1).astype(np.float64)
        valid = (r != red.nodata) & (n != nir.nodata) & (r + n != 0)
        expected_ndvi = np.where(valid, (n - r) / np.where(valid, n + r, 1), np.nan).astype(np.float32)
        np.testing.assert_allclose(out.read(1), expected_ndvi, rtol=2e-7, equal_nan=True)

    for png in (
        (f"results/tables/{TABLE}/averages.png", f"results/scenes/{SCENE}/ndvi.png") if figures else ()
    ):
        image = np.asarray(Image.open(workdir / png).convert("RGB"))
        assert image.shape[0] > 300 and image.shape[1] > 600 and image.std() > 10, png


def read_blocks(path, encoding: str, blocksize: int, records=None, columns=None, engine="pyarrow", **options):
    """Every block of the CSV, parsed by the workflow's block reader and stacked (rows in file order)."""
    from snakedask.csv_blocks import plan_blocks, read_frame
    from snakedask.csv_records import record_offsets
    from snakedask.table_header import field_names

    names = field_names(path, encoding, options.get("read_options"))
    records = records or record_offsets(path, encoding)
    fmt, ranges, _ = plan_blocks(path, encoding, names, records, blocksize, engine=engine, **options)
    frames = [read_frame(fmt, start, end, columns or names) for start, end in ranges]
    return pd.concat(frames, ignore_index=True)

"""The workflow as a Snakemake module, the way `snakedeploy deploy-workflow` sets it up: a folder
outside the checkout with its own Snakefile, config and data."""

import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from tests.helpers import run_snakemake

pytestmark = pytest.mark.workflow

USER_SNAKEFILE = """\
configfile: "config/config.yaml"


module lesson:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from lesson
"""


def test_a_folder_outside_the_checkout_uses_the_workflow_as_a_module(tmp_path, workdir, sample):
    user = tmp_path / "my-analysis"  # not inside the checkout (workdir)
    (user / "config").mkdir(parents=True)
    (user / "data").mkdir()
    for name in ("csv", "red", "nir"):
        shutil.copy(sample[name], user / "data" / sample[name].name)
    (user / "workflow").mkdir()
    (user / "workflow/Snakefile").write_text(USER_SNAKEFILE.format(snakefile=workdir / "workflow/Snakefile"))
    # Relative URLs: relative to the user's working directory, not to the module's checkout.
    config = {
        "tables": {"mine": {"url": f"data/{sample['csv'].name}", "blocksize": "100KB"}},
        "scenes": {
            "drone": {
                "red": {"url": f"data/{sample['red'].name}"},
                "nir": {"url": f"data/{sample['nir'].name}"},
            }
        },
    }
    (user / "config/config.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(user, env={"PYTHONPATH": str(workdir / "scripts")})  # the checkout's own library

    averages = pd.read_csv(user / "results/tables/mine/averages.csv", index_col="year")
    expected = pd.read_csv(sample["csv"], encoding="latin-1").groupby("year").mean(numeric_only=True)
    pd.testing.assert_frame_equal(averages, expected, check_dtype=False, rtol=1e-12)
    with (
        rasterio.open(user / "results/scenes/drone/ndvi.tif") as out,
        rasterio.open(sample["red"]) as red,
        rasterio.open(sample["nir"]) as nir,
    ):
        r, n = red.read(1).astype(np.float64), nir.read(1).astype(np.float64)
        valid = (r != red.nodata) & (n != nir.nodata) & (r + n != 0)
        expected_ndvi = np.where(valid, (n - r) / np.where(valid, n + r, 1), np.nan).astype(np.float32)
        np.testing.assert_allclose(out.read(1), expected_ndvi, rtol=2e-7, equal_nan=True)
        assert out.transform == red.transform and out.crs == red.crs
    for product in ("tables/mine/averages.png", "scenes/drone/ndvi.png", "run_info/run.yaml"):
        assert (user / "results" / product).stat().st_size > 0, product
    # Nothing was written into the module's checkout.
    assert not (workdir / "results").exists() and not (workdir / "resources/tables").exists()

"""Dask workers that share no filesystem with Snakemake (`dask.shared_filesystem: false`).

The scheduler and worker run as another Unix user, from their own virtualenv, in their own
folder; the checkout and Snakemake's working directory are closed to them (mode 0700, checked).
Every input is in a real S3 server on 127.0.0.1 (moto), the scene read in place. The products
must equal pandas' and numpy's; and the same run with `shared_filesystem: true` must fail,
showing that the workers really cannot read the files here.
"""

import json

import numpy as np
import pytest
import rasterio
import yaml

from snakedask.object_storage import gdal_environment
from tests.helpers import ROOT, SCENE, TABLE, check_products, copy_workflow, require_service, run_snakemake
from tests.services import other_user
from tests.services.s3_server import s3_server

pytestmark = pytest.mark.workflow

BUCKET = "field-data"


@pytest.fixture(scope="module")
def s3(tmp_path_factory, sample):
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        for path in sample.values():
            client.put_object(Bucket=BUCKET, Key=f"sample/{path.name}", Body=path.read_bytes())
        yield server


@pytest.fixture(scope="module")
def worker_elsewhere(s3):
    """The scheduler address of a worker that runs as another user, with the S3 settings it needs."""
    require_service(other_user.missing())
    other_user.ensure_user_and_venv(ROOT / "requirements.txt")
    env = {**s3.aws, **gdal_environment(s3.aws)}
    with other_user.other_user_cluster("no-shared-fs", env) as address:
        yield address


def test_workers_that_cannot_read_the_checkout_make_the_same_products(s3, sample, worker_elsewhere, tmp_path):
    workdir = copy_workflow(tmp_path / "checkout", performance_report=False)
    assert not other_user.can_read(workdir / "config/config.yaml")  # tmp_path is 0700: closed to them
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["tables"][TABLE]["url"] = f"s3://{BUCKET}/sample/{sample['csv'].name}"
    for band in ("red", "nir"):  # read in place: never read whole, so no checksum
        config["scenes"][SCENE][band] |= {
            "url": f"s3://{BUCKET}/sample/{sample[band].name}",
            "checksum": None,
        }
    config["scenes"][SCENE]["read_in_place"] = True
    config["dask"] |= {"address": worker_elsewhere, "shared_filesystem": False}
    (workdir / "elsewhere.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))

    run_snakemake(workdir, "--configfile", "elsewhere.yaml", env=s3.aws)
    check_products(workdir, sample, scene_in_place=True)
    for rule in (f"tables/{TABLE}/averages", f"scenes/{SCENE}/ndvi"):
        assert f"Dask scheduler: {worker_elsewhere}" in (workdir / f"logs/{rule}.log").read_text(), rule
    stats = json.loads((workdir / f"results/scenes/{SCENE}/ndvi_stats.json").read_text())
    with rasterio.open(workdir / f"results/scenes/{SCENE}/ndvi.tif") as ndvi:
        assert stats["count_valid"] == np.count_nonzero(~np.isnan(ndvi.read(1)))

    # The same run, but saying the workers share this filesystem: they cannot open the table's blocks.
    config["dask"]["shared_filesystem"] = True
    (workdir / "shared.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    failed = run_snakemake(
        workdir,
        f"results/tables/{TABLE}/averages.csv",
        "--forcerun",
        "averages",
        "--configfile",
        "shared.yaml",
        env=s3.aws,
        check=False,
    )
    assert failed.returncode != 0
    assert "Permission denied" in (workdir / f"logs/tables/{TABLE}/averages.log").read_text()

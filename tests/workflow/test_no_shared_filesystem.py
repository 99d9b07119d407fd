"""Dask workers that share no filesystem with Snakemake (`dask.shared_filesystem: false`).

The scheduler and worker run as another Unix user, from their own virtualenv, in their own
folder; the checkout and Snakemake's working directory are closed to them (mode 0700, checked).
Every input is in a real S3 server on 127.0.0.1 (moto), the scene read in place. The products
must equal pandas' and numpy's; and the same run with `shared_filesystem: true` must fail,
showing that the workers really cannot read the files here. Then the same from a dask-gateway
whose clusters run as that user (its real ``LocalBackend``, as a hub's gateway runs them).
"""

import contextlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from snakedask.object_storage import gdal_environment
from tests.helpers import (
    ROOT,
    SCENE,
    TABLE,
    check_products,
    copy_workflow,
    require_service,
    run_snakemake,
    wait_until,
)
from tests.services import other_user
from tests.services.dask_gateway import dask_gateway_server
from tests.services.dask_gateway import missing_reason as gateway_missing
from tests.services.s3_server import bucket_with_sample, s3_server

pytestmark = pytest.mark.workflow

BUCKET = "field-data"
PRODUCTS_BUCKET = "run-products"


def download_prefix(client, bucket: str, prefix: str, folder):
    """Every object under ``prefix`` as a file under ``folder`` (its key less the prefix)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            path = folder / entry["Key"].removeprefix(prefix)
            path.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, entry["Key"], str(path))
    return folder


@pytest.fixture(scope="module")
def s3(tmp_path_factory, sample):
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        bucket_with_sample(server, BUCKET, sample)
        yield server


@pytest.fixture(scope="module")
def other_user_env(s3):
    """The other user and its virtualenv; the environment its processes need (the S3 settings)."""
    require_service(other_user.missing())
    other_user.ensure_user_and_venv(ROOT / "requirements.txt")
    return {**s3.aws, **gdal_environment(s3.aws)}


@pytest.fixture(scope="module")
def worker_elsewhere(other_user_env):
    """The scheduler address of a worker that runs as another user."""
    with other_user.other_user_cluster("no-shared-fs", other_user_env) as address:
        yield address


def elsewhere_config(workdir, sample, dask: dict, table_in_place: bool = False) -> dict:
    """The sample's config with every input in the bucket, the scene read in place, and ``dask``."""
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["tables"][TABLE] |= {
        "url": f"s3://{BUCKET}/sample/{sample['csv'].name}",
        "read_in_place": table_in_place,
        **({"checksum": None} if table_in_place else {}),
    }
    for band in ("red", "nir"):  # read in place: never read whole, so no checksum
        config["scenes"][SCENE][band] |= {
            "url": f"s3://{BUCKET}/sample/{sample[band].name}",
            "checksum": None,
        }
    config["scenes"][SCENE]["read_in_place"] = True
    config["dask"] |= {"shared_filesystem": False, **dask}
    return config


def test_workers_that_cannot_read_the_checkout_make_the_same_products(s3, sample, worker_elsewhere, tmp_path):
    workdir = copy_workflow(tmp_path / "checkout", performance_report=False)
    assert not other_user.can_read(workdir / "config/config.yaml")  # tmp_path is 0700: closed to them
    # The table read in place too: the worker reads each block from S3 by byte range itself.
    config = elsewhere_config(workdir, sample, {"address": worker_elsewhere}, table_in_place=True)
    (workdir / "elsewhere.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))

    run_snakemake(workdir, "--configfile", "elsewhere.yaml", env=s3.aws)
    check_products(workdir, sample, scene_in_place=True, table_in_place=True)
    located = json.loads((workdir / f"resources/tables/{TABLE}/raw.located.json").read_text())
    head = s3.client().head_object(Bucket=BUCKET, Key=f"sample/{sample['csv'].name}")
    assert located["etag"] == head["ETag"] and located["size"] == sample["csv"].stat().st_size
    records = json.loads((workdir / f"results/tables/{TABLE}/records.json").read_text())
    assert records["size"] == located["size"] and len(records["starts"]) > 1
    assert not (workdir / f"resources/tables/{TABLE}/raw.csv").exists()  # never downloaded
    url = f"s3://{BUCKET}/sample/{sample['csv'].name}"
    assert url in (workdir / f"logs/tables/{TABLE}/inspect_table.log").read_text()
    for rule in (f"tables/{TABLE}/averages", f"scenes/{SCENE}/ndvi"):
        assert f"Dask scheduler: {worker_elsewhere}" in (workdir / f"logs/{rule}.log").read_text(), rule
    stats = json.loads((workdir / f"results/scenes/{SCENE}/ndvi_stats.json").read_text())
    with rasterio.open(workdir / f"results/scenes/{SCENE}/ndvi.tif") as ndvi:
        assert stats["count_valid"] == np.count_nonzero(~np.isnan(ndvi.read(1)))

    # The table downloaded, and saying the workers share this filesystem: they cannot open its blocks.
    config = elsewhere_config(workdir, sample, {"address": worker_elsewhere, "shared_filesystem": True})
    (workdir / "shared.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    # Its products go to a bucket: the jobs that completed put theirs there, the failed one nothing.
    s3.client().create_bucket(Bucket="failed-run")
    failed = run_snakemake(
        workdir,
        f"results/tables/{TABLE}/averages.csv",
        "--configfile",
        "shared.yaml",
        "--default-storage-provider",
        "s3",
        "--default-storage-prefix",
        "s3://failed-run/run",
        env=s3.aws,
        check=False,
    )
    assert failed.returncode != 0
    keys = [entry["Key"] for entry in s3.client().list_objects_v2(Bucket="failed-run").get("Contents", [])]
    assert f"run/results/tables/{TABLE}/records.json" in keys, keys
    assert not [
        key for key in keys if "/averages" in key and not key.startswith(("run/logs/", "run/benchmarks/"))
    ]
    assert not [key for key in keys if "partial" in key or key.endswith(".tmp")], keys
    logs = list((workdir / ".snakemake/storage").rglob("averages.log"))
    assert logs and "Permission denied" in logs[0].read_text(), (logs, failed.stderr[-2000:])


def test_a_gateway_whose_clusters_run_as_another_user(s3, sample, other_user_env, tmp_path):
    require_service(gateway_missing())
    clusters = other_user.HOME / f"gateway-clusters-{tmp_path.name}"
    clusters.mkdir()
    with (
        contextlib.ExitStack() as cleanup,
        dask_gateway_server(
            tmp_path / "gateway",
            as_user=other_user.USER,
            dask=other_user.VENV / "bin/dask",
            clusters=clusters,
            env=other_user_env,
        ) as server,
    ):
        cleanup.callback(shutil.rmtree, clusters, ignore_errors=True)
        workdir = copy_workflow(tmp_path / "checkout", performance_report=False)
        config = elsewhere_config(workdir, sample, server.config())
        (workdir / "gateway.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        # Products in the bucket too, through Snakemake's S3 storage plugin (endpoint and
        # credentials from the same AWS_* variables).
        s3.client().create_bucket(Bucket=PRODUCTS_BUCKET)
        storage = [
            "--default-storage-provider",
            "s3",
            "--default-storage-prefix",
            f"s3://{PRODUCTS_BUCKET}/run",
        ]
        env = {**s3.aws, **server.env}
        run_snakemake(workdir, "--configfile", "gateway.yaml", *storage, env=env)
        assert not (workdir / "results").exists()  # every product went to the bucket
        stored = download_prefix(s3.client(), PRODUCTS_BUCKET, "run/", tmp_path / "from-bucket")
        check_products(stored, sample, scene_in_place=True)
        log = (stored / f"logs/scenes/{SCENE}/ndvi.log").read_text()
        assert "dask-gateway" in log and server.proxy_address.removeprefix("gateway://") in log, log
        secret = s3.aws["AWS_SECRET_ACCESS_KEY"].encode()
        written = [path for folder in (stored, workdir) for path in folder.rglob("*") if path.is_file()]
        assert [path for path in written if secret in path.read_bytes()] == []

        # The HTML report, from the products in the bucket.
        run_snakemake(workdir, "--report", "report.html", "--configfile", "gateway.yaml", *storage, env=env)
        assert "averages.png" in (workdir / "report.html").read_text(errors="replace")
        # dask-gateway-server's own set_file_permissions once gave "/" to the user (see dask_gateway.py).
        assert Path("/").stat().st_uid == 0
        # Every cluster stopped and its folder removed (the server does it after answering the stop).
        wait_until(lambda: not any(clusters.iterdir()), 30, f"clusters left in {clusters}")

"""Inputs in object storage: ``s3://`` URLs against a real S3 server on 127.0.0.1 (moto's).

The fetch itself (bytes, provenance, a cut transfer resumed, an object that changes meanwhile, a
missing object, no credentials), then the sample workflow with every input in the bucket (a scene
also read in place), its products checked against pandas and numpy, and no file the run wrote
holding the secret key.
"""

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from snakedask.download import fetch, fetch_sidecars
from snakedask.errors import DownloadError, NotFound
from tests.helpers import SCENE, TABLE, check_products, copy_workflow, run_snakemake
from tests.services.s3_server import aws_environment, bucket_with_sample, cutting_proxy, s3_server

pytestmark = pytest.mark.workflow

BUCKET = "lesson-data"
IN_PLACE = "read_in_place"


@pytest.fixture(scope="module")
def s3(tmp_path_factory, sample):
    """The S3 server, with the sample's three files and a ~40 kB object in the bucket."""
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        bucket_with_sample(server, BUCKET, sample)
        server.client().put_object(Bucket=BUCKET, Key="small/data.bin", Body=os.urandom(40_000))
        yield server


@pytest.fixture
def aws_env(s3, monkeypatch):
    for name, value in s3.aws.items():
        monkeypatch.setenv(name, value)
    return s3


def test_an_object_is_fetched_whole_with_its_etag_and_checksum(aws_env, sample, tmp_path):
    url = f"s3://{BUCKET}/sample/{sample['csv'].name}"
    sha256 = hashlib.sha256(sample["csv"].read_bytes()).hexdigest()
    record = fetch(url, tmp_path / "raw.csv", checksum=f"sha256:{sha256}")
    assert (tmp_path / "raw.csv").read_bytes() == sample["csv"].read_bytes()
    head = aws_env.client().head_object(Bucket=BUCKET, Key=f"sample/{sample['csv'].name}")
    assert record["http"]["ETag"] == head["ETag"] and record["size"] == head["ContentLength"]
    assert record["verified_by"] == "sha256 from config (`checksum:`)" and record["warning"] is None
    assert record["final_url"] == f"{aws_env.endpoint}/{BUCKET}/sample/{sample['csv'].name}"
    assert "boto3" in record["tools"]


def test_without_a_checksum_the_size_is_checked_and_said_weak(aws_env, tmp_path):
    record = fetch(f"s3://{BUCKET}/small/data.bin", tmp_path / "data.bin")
    assert record["size"] == 40_000 and "ETag recorded" in record["verified_by"]
    assert "nothing proves" in record["warning"]


def test_a_cut_transfer_resumes_from_where_it_stopped(aws_env, monkeypatch, tmp_path):
    expected = aws_env.client().get_object(Bucket=BUCKET, Key="small/data.bin")["Body"].read()
    port = int(aws_env.endpoint.rsplit(":", 1)[1])
    with cutting_proxy(port, f"/{BUCKET}/small/data.bin", cuts=1) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        record = fetch(f"s3://{BUCKET}/small/data.bin", tmp_path / "data.bin", backoff=0.01)
    assert (tmp_path / "data.bin").read_bytes() == expected
    assert record["attempts"] == 2 and record["resumed"] is True


def test_an_object_replaced_during_the_download_leaves_nothing(aws_env, monkeypatch, tmp_path):
    client = aws_env.client()
    client.put_object(Bucket=BUCKET, Key="small/changing.bin", Body=os.urandom(40_000))
    port = int(aws_env.endpoint.rsplit(":", 1)[1])

    def replace():
        client.put_object(Bucket=BUCKET, Key="small/changing.bin", Body=os.urandom(40_000))

    with cutting_proxy(port, f"/{BUCKET}/small/changing.bin", cuts=1, on_cut=replace) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        with pytest.raises(DownloadError, match=r"the object changed while it was downloaded"):
            fetch(f"s3://{BUCKET}/small/changing.bin", tmp_path / "data.bin", backoff=0.01)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_object_is_not_found_and_a_missing_sidecar_skipped(aws_env, sample, tmp_path):
    with pytest.raises(NotFound, match=rf"s3://{BUCKET}/sample/none.csv: no such object"):
        fetch(f"s3://{BUCKET}/sample/none.csv", tmp_path / "raw.csv")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "red.tif.msk").write_bytes(b"a stale mask of an earlier download")
    assert fetch_sidecars(f"s3://{BUCKET}/sample/{sample['red'].name}", tmp_path / "red.tif") == {}
    assert not (tmp_path / "red.tif.msk").exists()


def test_no_credentials_names_the_variables_to_set(s3, monkeypatch, tmp_path):
    env = aws_environment(s3.endpoint, "unused")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DownloadError, match=r"no credentials for the object store. Set AWS_ACCESS_KEY_ID"):
        fetch(f"s3://{BUCKET}/small/data.bin", tmp_path / "data.bin")


def test_the_sample_workflow_from_s3_equals_pandas_and_numpy_and_keeps_no_secret(s3, sample, tmp_path):
    """Every input in the bucket: the sample's table and scene downloaded, and the same scene read in
    place (`read_in_place: true`), whose NDVI must equal the downloaded one's, pixel for pixel."""
    workdir = copy_workflow(tmp_path / "checkout", performance_report=False)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["tables"][TABLE]["url"] = f"s3://{BUCKET}/sample/{sample['csv'].name}"
    for band in ("red", "nir"):
        config["scenes"][SCENE][band]["url"] = f"s3://{BUCKET}/sample/{sample[band].name}"
    in_place = {band: {"url": config["scenes"][SCENE][band]["url"]} for band in ("red", "nir")}
    config["scenes"][IN_PLACE] = {
        **in_place,
        "read_in_place": True,
        "chunks": config["scenes"][SCENE]["chunks"],
    }
    (workdir / "s3.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    run_snakemake(workdir, "--configfile", "s3.yaml", env=s3.aws)
    check_products(workdir, sample)
    provenance = json.loads((workdir / f"resources/tables/{TABLE}/raw.provenance.json").read_text())
    assert provenance["url"] == config["tables"][TABLE]["url"]

    # Read in place: nothing downloaded, the objects located, the same NDVI and statistics.
    assert sorted(path.name for path in (workdir / f"resources/scenes/{IN_PLACE}").iterdir()) == [
        "nir.located.json",
        "red.located.json",
    ]
    located = json.loads((workdir / f"resources/scenes/{IN_PLACE}/red.located.json").read_text())
    head = s3.client().head_object(Bucket=BUCKET, Key=f"sample/{sample['red'].name}")
    assert located["read_in_place"] == f"/vsis3/{BUCKET}/sample/{sample['red'].name}"
    assert located["size"] == sample["red"].stat().st_size and located["etag"] == head["ETag"]
    with (
        rasterio.open(workdir / f"results/scenes/{IN_PLACE}/ndvi.tif") as read_in_place,
        rasterio.open(workdir / f"results/scenes/{SCENE}/ndvi.tif") as downloaded,
    ):
        assert read_in_place.transform == downloaded.transform and read_in_place.crs == downloaded.crs
        np.testing.assert_array_equal(read_in_place.read(1), downloaded.read(1))
    stats = [
        json.loads((workdir / f"results/scenes/{scene}/ndvi_stats.json").read_text())
        for scene in (IN_PLACE, SCENE)
    ]
    assert stats[0] == stats[1]
    assert "/vsis3/" in (workdir / f"logs/scenes/{IN_PLACE}/ndvi.log").read_text()

    secret = s3.aws["AWS_SECRET_ACCESS_KEY"].encode()
    written = [path for path in workdir.rglob("*") if path.is_file() and not path.is_symlink()]
    assert len(written) > 50
    assert [path for path in written if secret in path.read_bytes()] == []


def test_a_busy_store_is_retried_and_one_that_stays_busy_is_a_clear_error(aws_env, monkeypatch, tmp_path):
    expected = aws_env.client().get_object(Bucket=BUCKET, Key="small/data.bin")["Body"].read()
    port = int(aws_env.endpoint.rsplit(":", 1)[1])
    with cutting_proxy(port, f"/{BUCKET}/small/data.bin", cuts=2, refuse_status=503) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        fetch(f"s3://{BUCKET}/small/data.bin", tmp_path / "data.bin", attempts=4)
    assert (tmp_path / "data.bin").read_bytes() == expected
    with cutting_proxy(port, f"/{BUCKET}/small/data.bin", cuts=100, refuse_status=503) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        with pytest.raises(
            DownloadError, match=r"kept answering 503( \(SlowDown\))? after its retries; nothing was kept"
        ):
            fetch(f"s3://{BUCKET}/small/data.bin", tmp_path / "again.bin", attempts=2)
    assert not (tmp_path / "again.bin").exists()


def test_a_table_read_in_place_gives_what_its_local_copy_gives(aws_env, sample, distributed_client):
    """Encoding check, record index and averages over byte ranges of the object (the blocks read by
    the Dask tasks themselves) equal those of the file on disk, and pandas'."""
    from snakedask.averages import compute_averages
    from snakedask.csv_records import record_offsets
    from snakedask.encoding import detect_encoding
    from snakedask.object_storage import locate, pin_version

    url = f"s3://{BUCKET}/sample/{sample['csv'].name}"
    located = locate(url, timeout=10, attempts=2)
    pin_version(url, located["etag"], located["size"])
    encoding = detect_encoding(url)
    assert encoding == detect_encoding(sample["csv"]) and encoding["encoding"] == "iso8859-1"
    records = record_offsets(url, "iso8859-1", step=4096)
    assert records == record_offsets(sample["csv"], "iso8859-1", step=4096) and len(records["starts"]) > 50
    means, counts = compute_averages(url, "iso8859-1", "year", blocksize="64KB", records=records, counts=True)
    frame = pd.read_csv(sample["csv"], encoding="latin-1")
    pd.testing.assert_frame_equal(means, frame.groupby("year").mean(numeric_only=True), check_names=False)
    assert counts["rows"].to_dict() == frame.groupby("year").size().to_dict()


def test_a_table_replaced_after_it_was_located_is_not_read(aws_env, tmp_path):
    from snakedask.object_storage import locate, open_binary, pin_version

    url = f"s3://{BUCKET}/small/replaced.csv"
    aws_env.client().put_object(Bucket=BUCKET, Key="small/replaced.csv", Body=b"year,v\n2001,1\n")
    located = locate(url, timeout=10, attempts=2)
    pin_version(url, located["etag"], located["size"])
    aws_env.client().put_object(Bucket=BUCKET, Key="small/replaced.csv", Body=b"year,v\n2001,2\n")
    changed = rf"{url} changed after it was located \(its ETag is no longer "
    with pytest.raises(DownloadError, match=changed), open_binary(url) as stream:
        stream.read()


def test_a_block_read_in_place_survives_a_cut_and_a_busy_store(aws_env, monkeypatch):
    from snakedask.object_storage import read_range

    key = "small/data.bin"
    expected = aws_env.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()[1000:31000]
    port = int(aws_env.endpoint.rsplit(":", 1)[1])
    for faults in ({"cuts": 1}, {"cuts": 2, "refuse_status": 503}):  # read again; retried by boto3
        with cutting_proxy(port, f"/{BUCKET}/{key}", **faults) as proxy:
            monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
            assert read_range(f"s3://{BUCKET}/{key}", 1000, 31000, attempts=4) == expected, faults
    with cutting_proxy(port, f"/{BUCKET}/{key}", cuts=100, refuse_status=503) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        with pytest.raises(DownloadError, match=rf"s3://{BUCKET}/{key}: the object store kept answering 503"):
            read_range(f"s3://{BUCKET}/{key}", 1000, 31000, attempts=2)

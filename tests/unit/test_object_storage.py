"""s3:// URLs: which name a bucket and an object (S3's naming rules), checked before any job."""

import pytest

from snakedask.errors import DownloadError
from snakedask.object_storage import gdal_environment, gdal_path, input_bytes, s3_location


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("s3://lesson-data/tables/soil moisture.csv", ("lesson-data", "tables/soil moisture.csv")),
        ("s3://a.b-c/x", ("a.b-c", "x")),
        ("s3://abc/%20raw?.csv", ("abc", "%20raw?.csv")),  # a key as written, as the AWS CLI takes it
    ],
)
def test_a_bucket_and_key(url, location):
    assert s3_location(url) == location


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("s3://", "no bucket"),
        ("s3:///key", "no bucket"),
        ("s3://ab/key", "not a valid bucket name"),  # under 3 characters
        ("s3://" + "a" * 64 + "/key", "not a valid bucket name"),
        ("s3://Lesson/key", "not a valid bucket name"),
        ("s3://lesson_data/key", "not a valid bucket name"),
        ("s3://-lesson/key", "not a valid bucket name"),
        ("s3://lesson..data/key", "not a valid bucket name"),
        ("s3://192.168.1.10/key", "not a valid bucket name"),
        ("s3://lesson-data", "names no object"),
        ("s3://lesson-data/", "names no object"),
        ("s3://lesson-data/tables/", "names no object"),
    ],
)
def test_what_cannot_be_an_object_is_refused_saying_why(url, problem):
    with pytest.raises(DownloadError, match=problem):
        s3_location(url)


def test_gdal_reads_in_place_by_byte_ranges():
    assert gdal_path("s3://lesson-data/scenes/red band.tif") == "/vsis3/lesson-data/scenes/red band.tif"
    assert gdal_path("https://example.org/a/b.tif?x=1") == "/vsicurl/https://example.org/a/b.tif?x=1"
    with pytest.raises(DownloadError, match="only s3:// and http"):
        gdal_path("/data/red.tif")


def test_gdal_uses_the_endpoint_boto3_uses_unless_set_already():
    assert gdal_environment({"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}) == {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "AWS_S3_ENDPOINT": "127.0.0.1:9000",
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }
    assert gdal_environment({"AWS_ENDPOINT_URL": "https://s3.example.org"})["AWS_HTTPS"] == "YES"
    given = {"AWS_ENDPOINT_URL_S3": "https://minio.example.org", "AWS_VIRTUAL_HOSTING": "TRUE"}
    assert "AWS_VIRTUAL_HOSTING" not in gdal_environment(given)  # the user's own setting stays
    assert gdal_environment({}) == {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}  # AWS itself


def test_a_job_input_read_in_place_counts_the_objects_size(tmp_path):
    located = tmp_path / "red.located.json"
    located.write_text('{"size": 123456789, "etag": "x"}')
    raster = tmp_path / "red.tif"
    raster.write_bytes(b"12345")
    assert input_bytes(located) == 123456789 and input_bytes(raster) == 5

"""s3:// URLs: which name a bucket and an object (S3's naming rules), checked before any job."""

import pytest

from snakedask.errors import DownloadError
from snakedask.object_storage import s3_location


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

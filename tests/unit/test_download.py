"""Downloads from a real HTTP server on 127.0.0.1: verified files or clear errors, never partial files."""

import hashlib
import json
import logging

import pytest

from snakedask.download import fetch, fetch_sidecars, source_problems
from snakedask.errors import DownloadError
from tests.services.http_server import FlakyServer, Route

DATA = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(DATA).hexdigest()
SHA256 = hashlib.sha256(DATA).hexdigest()
FAST = {"attempts": 3, "backoff": 0.05, "timeout": 5}


@pytest.fixture
def server():
    with FlakyServer() as server:
        yield server


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_plain_download_with_configured_checksum(server, tmp_path):
    server.routes["/a.csv"] = Route(DATA)
    record = fetch(server.url("/a.csv"), tmp_path / "a.csv", checksum=f"sha256:{SHA256.upper()}", **FAST)
    assert (tmp_path / "a.csv").read_bytes() == DATA
    assert record["verified_by"] == "sha256 from config (`checksum:`)" and record["sha256"] == SHA256
    assert record["size"] == len(DATA) and record["http"]["ETag"] == '"v1"' and record["attempts"] == 1
    json.dumps(record)


def test_dropped_connection_resumes_with_range(server, tmp_path, caplog):
    server.routes["/a.csv"] = Route(DATA, drop_first=1)
    with caplog.at_level(logging.INFO):
        record = fetch(
            server.url("/a.csv"),
            tmp_path / "a.csv",
            checksum=f"md5:{MD5}",
            log=logging.getLogger("t"),
            **FAST,
        )
    assert (tmp_path / "a.csv").read_bytes() == DATA
    assert server.routes["/a.csv"].seen == [None, f"bytes={len(DATA) // 2}-"]
    assert record["resumed"] and record["attempts"] == 2
    assert "attempt 1/3" in caplog.text and "retrying" in caplog.text


def test_dropped_connection_without_range_support_starts_over(server, tmp_path):
    server.routes["/a.csv"] = Route(DATA, drop_first=1, ranges=False)
    record = fetch(server.url("/a.csv"), tmp_path / "a.csv", **FAST)
    assert (tmp_path / "a.csv").read_bytes() == DATA
    assert not record["resumed"] and record["verified_by"] == "size against Content-Length"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_transient_status_then_success(server, tmp_path, status):
    server.routes["/a.csv"] = Route(DATA, fail_first=2, fail_status=status)
    record = fetch(server.url("/a.csv"), tmp_path / "a.csv", **FAST)
    assert (tmp_path / "a.csv").read_bytes() == DATA and record["attempts"] == 3


def test_gives_up_after_the_configured_attempts(server, tmp_path):
    server.routes["/a.csv"] = Route(DATA, fail_first=99)
    with pytest.raises(DownloadError, match=r"gave up after 3 attempts; last error: HTTP 500"):
        fetch(server.url("/a.csv"), tmp_path / "a.csv", **FAST)
    assert leftovers(tmp_path) == []


def test_not_found_fails_at_once(server, tmp_path):
    with pytest.raises(
        DownloadError, match=r"could not download http://127\.0\.0\.1:\d+/missing.csv: HTTP 404"
    ):
        fetch(server.url("/missing.csv"), tmp_path / "a.csv", **FAST)
    assert leftovers(tmp_path) == []


def test_wrong_bytes_against_configured_checksum(server, tmp_path):
    server.routes["/a.csv"] = Route(DATA[:-1] + b"X")
    with pytest.raises(DownloadError) as err:
        fetch(server.url("/a.csv"), tmp_path / "a.csv", checksum=f"md5:{MD5}", **FAST)
    message = str(err.value)
    assert f"md5 checksum mismatch: expected {MD5} (from config" in message
    assert f"got {hashlib.md5(DATA[:-1] + b'X').hexdigest()}" in message and "`checksum:`" in message
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("algo, name", [("MD5", "md5"), ("SHA-1", "sha1"), ("SHA-256", "sha256")])
def test_dataone_checksum_header_is_verified(server, tmp_path, algo, name):
    digest = hashlib.new(name, DATA).hexdigest().upper()
    server.routes["/object/good"] = Route(DATA, headers={"DataONE-Checksum": f"{algo},{digest}"})
    record = fetch(server.url("/object/good"), tmp_path / "good.tif", **FAST)
    assert record["checksum"] == {
        "algorithm": name,
        "value": digest.lower(),
        "source": "the server's DataONE-Checksum header",
    }
    server.routes["/object/bad"] = Route(DATA + b"!", headers={"DataONE-Checksum": f"{algo},{digest}"})
    with pytest.raises(
        DownloadError,
        match=rf"{name} checksum mismatch: expected {digest.lower()} \(from the server's DataONE-Checksum header\)",
    ):
        fetch(server.url("/object/bad"), tmp_path / "bad.tif", **FAST)
    assert leftovers(tmp_path) == ["good.tif"]


def test_redirect_is_followed_and_recorded(server, tmp_path):
    server.routes["/object/pid"] = Route(redirect="/files/real.csv")
    server.routes["/files/real.csv"] = Route(DATA)
    record = fetch(server.url("/object/pid"), tmp_path / "a.csv", **FAST)
    assert record["url"].endswith("/object/pid") and record["final_url"].endswith("/files/real.csv")


def test_body_always_cut_short_fails_cleanly(server, tmp_path):
    server.routes["/a.csv"] = Route(DATA, drop_first=99, ranges=False)
    with pytest.raises(
        DownloadError, match=r"gave up after 3 attempts; last error: connection lost after|body ended after"
    ):
        fetch(server.url("/a.csv"), tmp_path / "a.csv", **FAST)
    assert leftovers(tmp_path) == []


def test_local_paths_and_file_urls(tmp_path):
    source = tmp_path / "src" / "a b.csv"
    source.parent.mkdir()
    source.write_bytes(DATA)
    record = fetch("src/a b.csv", tmp_path / "out" / "1.csv", base=tmp_path, checksum=f"sha256:{SHA256}")
    assert (tmp_path / "out" / "1.csv").read_bytes() == DATA and record["checksum"]["algorithm"] == "sha256"
    fetch(source.as_uri(), tmp_path / "out" / "2.csv")
    assert (tmp_path / "out" / "2.csv").read_bytes() == DATA
    with pytest.raises(DownloadError, match=r"no such file .*nope.csv\. Fix the entry's `url:`"):
        fetch("nope.csv", tmp_path / "out" / "3.csv", base=tmp_path)
    with pytest.raises(DownloadError, match=r"scheme 'ftp' is not supported"):
        fetch("ftp://example.org/a.csv", tmp_path / "out" / "4.csv")
    assert leftovers(tmp_path / "out") == ["1.csv", "2.csv"]


@pytest.mark.parametrize("spec", ["sha256:abc", "crc32:00000000", "md5" + ":" + "g" * 32])
def test_malformed_checksums_are_refused(tmp_path, spec):
    (tmp_path / "a").write_bytes(b"x")
    with pytest.raises(DownloadError, match="is not <algorithm>:<hex>"):
        fetch(str(tmp_path / "a"), tmp_path / "b", checksum=spec)


NEW = bytes(reversed(DATA))  # the same size: only a checksum or the validator tells them apart


@pytest.mark.parametrize(
    "route",
    [
        Route(DATA, drop_first=1, changes_to=NEW, ignore_if_range=True),
        Route(DATA, drop_first=1, range_starts_at=0),
    ],
    ids=["file changed, If-Range ignored", "Content-Range disagrees with the request"],
)
def test_a_resumed_download_that_would_splice_starts_over(server, tmp_path, caplog, route):
    server.routes["/a.csv"] = route
    with caplog.at_level(logging.INFO):
        record = fetch(server.url("/a.csv"), tmp_path / "a.csv", log=logging.getLogger("t"), **FAST)
    whole = NEW if route.changes_to else DATA  # one version, whole, never half of each
    assert (tmp_path / "a.csv").read_bytes() == whole
    assert record["sha256"] == hashlib.sha256(whole).hexdigest()
    assert server.routes["/a.csv"].seen == [None, f"bytes={len(DATA) // 2}-", None]
    assert not record["resumed"] and record["attempts"] == 3
    assert "starting over from byte 0" in caplog.text
    # Verified by its size only: said in the provenance and, as a warning, in the log.
    assert record["verified_by"] == "size against Content-Length" and "size only" in record["warning"]
    assert any(r.levelname == "WARNING" and "checksum:" in r.getMessage() for r in caplog.records)


def test_without_a_validator_a_download_is_not_resumed(server, tmp_path):
    # Nothing identifies the version the first part came from: appending could splice two.
    server.routes["/a.csv"] = Route(DATA, drop_first=1, etag=False)
    fetch(server.url("/a.csv"), tmp_path / "a.csv", checksum=f"md5:{MD5}", **FAST)
    assert (tmp_path / "a.csv").read_bytes() == DATA
    assert server.routes["/a.csv"].seen == [None, None]


def test_gdal_sidecars_come_with_a_raster(server, tmp_path):
    # A .msk mask and .aux.xml metadata beside the source land beside the copy, as GDAL looks for them.
    server.routes["/b.tif"] = Route(b"tif")
    server.routes["/b.tif.msk"] = Route(b"mask")
    found = fetch_sidecars(server.url("/b.tif"), tmp_path / "band.tif", **FAST)
    assert list(found) == [".msk"] and (tmp_path / "band.tif.msk").read_bytes() == b"mask"
    assert leftovers(tmp_path) == ["band.tif.msk"]  # /b.tif.aux.xml answered 404: none
    source = tmp_path / "src"
    source.mkdir()
    (source / "c.tif.aux.xml").write_text("<PAMDataset/>")
    found = fetch_sidecars(str(source / "c.tif"), tmp_path / "band.tif", **FAST)
    assert list(found) == [".aux.xml"] and (tmp_path / "band.tif.aux.xml").read_text() == "<PAMDataset/>"
    assert leftovers(tmp_path) == ["band.tif.aux.xml", "src"]  # the stale .msk of the last source is gone


def test_a_sidecar_that_keeps_failing_fails_the_download(server, tmp_path):
    # Not knowing whether a mask exists is no reason to go on without it.
    server.routes["/b.tif.msk"] = Route(status=503)
    with pytest.raises(DownloadError, match=r"b.tif.msk: gave up after 3 attempts"):
        fetch_sidecars(server.url("/b.tif"), tmp_path / "band.tif", **FAST)


def test_missing_local_sources_are_config_errors(tmp_path):
    (tmp_path / "here.csv").write_text("a\n")
    config = {
        "tables": {
            "t": {"url": "here.csv"},
            "u": {"url": ["here.csv", "gone.csv"]},
            "w": {"url": "https://x.org/a"},
        },
        "scenes": {
            "s": {"red": {"url": "red.tif"}, "nir": {"url": (tmp_path / "here.csv").as_uri()}, "indices": []}
        },
    }
    problems = source_problems(config, base=tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith(f"  - tables.u.url: no such file {tmp_path / 'gone.csv'}")
    assert problems[1].startswith(f"  - scenes.s.red.url: no such file {tmp_path / 'red.tif'}")

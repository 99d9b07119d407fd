"""Inputs in S3-compatible object storage: ``s3://bucket/key`` fetched with boto3, verified.

Credentials, region and endpoint come from where every AWS tool looks for them,
never from the workflow's config: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
(/ ``AWS_SESSION_TOKEN``) or ``AWS_PROFILE`` and ``~/.aws/``; ``AWS_DEFAULT_REGION``;
``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) for a store other than AWS
(MinIO, Ceph, a university's). So no secret sits in a config file, and none
reaches a log, a provenance record or the report: errors name the URL and the
variable to set, never a value.

A download asks for the object's size and ETag first and then its bytes on
condition that the ETag is unchanged (``If-Match``). A transfer cut short
resumes from where it stopped (``Range``), still on that condition, so the
file is one version of the object or nothing. boto3 retries HTTP 429/5xx and
throttling itself (its ``standard`` retry mode, ``download.attempts`` tries).
Without a configured ``checksum:`` the size is checked and the ETag recorded:
an ETag is an MD5 of the bytes only for some uploads, so it proves nothing by itself.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

from snakedask.errors import DownloadError, NotFound

CHUNK = 1 << 16
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")


def is_s3(url: str) -> bool:
    return url.startswith("s3://")


def s3_location(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://bucket/key`` URL; a :class:`DownloadError` saying what is wrong.

    The key is taken as written (as the AWS CLI and s3fs do): no percent-decoding.
    """
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise DownloadError(f"url {url!r}: no bucket; write s3://BUCKET/KEY")
    if not BUCKET_NAME.fullmatch(bucket) or ".." in bucket or IP_ADDRESS.fullmatch(bucket):
        raise DownloadError(
            f"url {url!r}: {bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, dots "
            "and hyphens, starting and ending with a letter or digit)"
        )
    if not key or key.endswith("/"):
        raise DownloadError(f"url {url!r}: names no object (a key after the bucket, not a folder)")
    return bucket, key


def _client(timeout: float, attempts: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": max(1, attempts)},
    )
    return boto3.session.Session().client("s3", config=config)


def _client_problem(url: str, err: Any) -> DownloadError:
    """The error a user can act on, from an S3 error response (its code, never its request)."""
    code = err.response.get("Error", {}).get("Code", "")
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchKey", "NoSuchBucket", "404") or status == 404:
        return NotFound(f"{url}: no such object ({code or status}). Fix the entry's `url:`.")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return DownloadError(
            f"{url}: the object store refused the credentials ({code}). Set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) to an account that may read it."
        )
    if code in ("AccessDenied", "403") or status == 403:
        # S3 answers 403 for a missing key to whoever may not list the bucket, and a HEAD's
        # answer has no body to tell the two apart: the same as HTTP's 403 (a missing sidecar).
        return NotFound(
            f"{url}: refused (403): no such object, or the credentials may not read it. Check the `url:` "
            "and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)."
        )
    if (status is not None and status >= 500) or code in ("SlowDown", "ServiceUnavailable", "InternalError"):
        answer = f"{status} ({code})" if code and code != str(status) else str(status or code)
        return DownloadError(
            f"{url}: the object store kept answering {answer} after its retries; nothing was kept. "
            "Run again later, or raise `download.attempts`."
        )
    return DownloadError(f"{url}: the object store answered {code or status}")


def _head(url: str, timeout: float, attempts: int) -> tuple[Any, str, str, dict[str, Any]]:
    """``(client, bucket, key, head_object's answer)`` for ``url``; an error naming what to fix."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, key = s3_location(url)
    client = _client(timeout, attempts)
    try:
        return client, bucket, key, client.head_object(Bucket=bucket, Key=key)
    except NoCredentialsError:
        raise DownloadError(
            f"{url}: no credentials for the object store. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE) in the environment of `snakemake`; the config never holds them."
        ) from None
    except ClientError as err:
        raise _client_problem(url, err) from None
    except BotoCoreError as err:
        raise DownloadError(
            f"{url}: could not reach the object store at {client.meta.endpoint_url} ({type(err).__name__}). "
            "Check AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and the network."
        ) from None


def fetch_s3(url: str, tmp: Path, timeout: float, attempts: int, backoff: float, log=None) -> dict[str, Any]:
    """Download ``url`` into ``tmp``: one version of the object, whole. Returns what the download
    learnt: ``size``, ``attempts``, ``resumed``, ``object_url`` (at the endpoint) and ``headers`` (ETag, Content-Length,
    Last-Modified)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client, bucket, key, head = _head(url, timeout, attempts)
    endpoint = client.meta.endpoint_url
    size, etag = head["ContentLength"], head["ETag"]
    written, last_error = 0, ""
    with open(tmp, "wb") as out:
        for attempt in range(1, max(1, attempts) + 1):
            request = {"Bucket": bucket, "Key": key, "IfMatch": etag}
            if written:
                request["Range"] = f"bytes={written}-"
            try:
                for chunk in client.get_object(**request)["Body"].iter_chunks(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
            except ClientError as err:
                if _changed(err):
                    raise DownloadError(
                        f"{url}: the object changed while it was downloaded (its ETag is no longer {etag}); "
                        "nothing was kept. Run again."
                    ) from None
                raise _client_problem(url, err) from None
            except BotoCoreError as err:
                last_error = f"connection lost after {written} bytes: {type(err).__name__}"
            else:
                if written == size:
                    break
                last_error = f"body ended after {written} of {size} bytes"
            if attempt == attempts:
                raise DownloadError(
                    f"could not download {url}: gave up after {attempts} attempts; last error: {last_error}"
                )
            delay = min(backoff * 2 ** (attempt - 1), 60)
            if log:
                log.warning(
                    "attempt %d/%d for %s failed (%s); retrying in %.1f s",
                    attempt,
                    attempts,
                    url,
                    last_error,
                    delay,
                )
            time.sleep(delay)
            out.flush()
    if written != size:
        raise DownloadError(f"{url}: got {written} bytes of {size}; nothing was kept. Run again.")
    headers = {"ETag": etag, "Content-Length": str(size)}
    if head.get("LastModified") is not None:
        headers["Last-Modified"] = head["LastModified"].isoformat()
    return {
        "size": written,
        "attempts": attempt,
        "resumed": attempt > 1,
        "object_url": f"{endpoint}/{bucket}/{key}",
        "headers": headers,
    }


# --------------------------------------------------------------------------- read in place


def gdal_path(url: str) -> str:
    """Where GDAL reads ``url`` in place, by byte ranges: ``/vsis3/`` for ``s3://``, ``/vsicurl/`` for
    ``http(s)://``."""
    if is_s3(url):
        bucket, key = s3_location(url)
        return f"/vsis3/{bucket}/{key}"
    if url.startswith(("http://", "https://")):
        return f"/vsicurl/{url}"
    raise DownloadError(f"url {url!r}: only s3:// and http(s):// sources can be read in place")


def gdal_environment(environ: dict[str, str]) -> dict[str, str]:
    """The GDAL settings that make ``/vsis3/`` use the endpoint boto3 uses (``AWS_ENDPOINT_URL_S3``,
    else ``AWS_ENDPOINT_URL``), to add to the environment where unset. GDAL reads the credentials and
    region from the same variables boto3 does. No directory listing on open: a raster's sidecars
    (``.msk``, ``.aux.xml``) are asked for by name."""
    from urllib.parse import urlsplit

    settings = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        settings |= {
            "AWS_S3_ENDPOINT": parts.netloc,
            "AWS_HTTPS": "NO" if parts.scheme == "http" else "YES",
            "AWS_VIRTUAL_HOSTING": "FALSE",  # bucket in the path: what S3-compatible stores serve
        }
    return {name: value for name, value in settings.items() if name not in environ}


def locate(url: str, timeout: float, attempts: int) -> dict[str, Any]:
    """What a read in place relies on: the object exists, its size and version (ETag, Last-Modified)
    and GDAL's path to it. Nothing is downloaded."""
    import datetime as dt
    import platform
    from importlib.metadata import version

    if is_s3(url):
        head = _head(url, timeout, attempts)[3]
        size, etag, modified, tool = head["ContentLength"], head["ETag"], head.get("LastModified"), "boto3"
        modified = modified.isoformat() if modified is not None else None
    else:
        import requests

        try:
            response = requests.head(url, allow_redirects=True, timeout=timeout)
        except requests.RequestException as err:
            raise DownloadError(f"{url}: could not reach it ({type(err).__name__})") from None
        if response.status_code != 200:
            raise NotFound(f"{url}: HTTP {response.status_code} {response.reason}. Fix the entry's `url:`.")
        if response.headers.get("Accept-Ranges", "").lower() != "bytes":
            raise DownloadError(
                f"{url}: the server does not say it serves byte ranges (Accept-Ranges: bytes), which reading "
                "in place needs. Set the scene's `read_in_place: false` to download it instead."
            )
        size = int(response.headers.get("Content-Length", 0))
        etag, modified, tool = response.headers.get("ETag"), response.headers.get("Last-Modified"), "requests"
    return {
        "url": url,
        "read_in_place": gdal_path(url),
        "size": size,
        "etag": etag,
        "last_modified": modified,
        "verified_by": "nothing: read in place, where it is (its ETag and size recorded)",
        "located_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tools": {"python": platform.python_version(), tool: version(tool)},
    }


def input_bytes(path: str | Path) -> int:
    """The size of a job's input: a file's own, or for a raster read in place (``*.located.json``)
    the object's it records."""
    import json

    path = Path(path)
    if path.name.endswith(".located.json"):
        return int(json.loads(path.read_text())["size"])
    return path.stat().st_size


# --------------------------------------------------------------------------- tables read in place

# A table read in place is read through a buffer this large: a scan asks for few, large ranges.
READ_AHEAD = 8 << 20
_clients: dict[tuple[Any, ...], Any] = {}
# The version (ETag) and size this process reads of each object: set from the object's located
# record, so that the record index and the blocks come from the version that was located; else
# from the first look at it. Read once, never asked for again.
_versions: dict[str, tuple[str, int]] = {}


def pin_version(url: str, etag: str, size: int) -> None:
    """Read only version ``etag`` (``size`` bytes) of ``url`` in this process (reads ask ``If-Match``)."""
    _versions[url] = (etag, size)


def pinned_version(path: str | Path) -> str | None:
    pinned = _versions.get(str(path))
    return pinned[0] if pinned else None


def _version(url: str) -> tuple[str, int]:
    """``(ETag, size)`` this process reads of ``url``: the pinned one, else the object's now (then pinned)."""
    if url not in _versions:
        head = _head(url, 60, 5)[3]
        pin_version(url, head["ETag"], head["ContentLength"])
    return _versions[url]


def _changed(err: Any) -> bool:
    """Whether an S3 error says the object's ETag no longer matches the one asked for (``If-Match``)."""
    return err.response.get("Error", {}).get("Code") == "PreconditionFailed"


def _shared_client(timeout: float = 60, attempts: int = 5) -> Any:
    """One client per process and endpoint (boto3's clients are thread-safe; making one takes ~50 ms)."""
    import os

    key = (timeout, attempts, os.environ.get("AWS_ENDPOINT_URL_S3"), os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _clients:
        _clients[key] = _client(timeout, attempts)
    return _clients[key]


def read_range(url: str, start: int, end: int, etag: str | None = None, attempts: int = 5) -> bytes:
    """Bytes ``[start, end)`` of the object at ``url``, of version ``etag`` if given (else the pinned
    one, else any): a :class:`DownloadError` naming the URL when it changed, is missing or refused."""
    from botocore.exceptions import BotoCoreError, ClientError

    if end <= start:
        return b""
    bucket, key = s3_location(url)
    etag = etag or pinned_version(url)
    request = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end - 1}"}
    if etag:
        request["IfMatch"] = etag
    for attempt in range(1, attempts + 1):
        try:
            data = _shared_client(attempts=attempts).get_object(**request)["Body"].read()
        except ClientError as err:
            if _changed(err):
                raise DownloadError(
                    f"{url} changed after it was located (its ETag is no longer {etag}). Run again: the "
                    "table is then located, inspected and read anew."
                ) from None
            raise _client_problem(url, err) from None
        except BotoCoreError as err:  # the body cut short: boto3 retried the request, not the read
            if attempt == attempts:
                raise DownloadError(
                    f"{url}: bytes {start}-{end} could not be read ({type(err).__name__})"
                ) from None
            time.sleep(min(0.5 * 2 ** (attempt - 1), 10))
            continue
        if len(data) == end - start:
            return data
        if attempt == attempts:
            raise DownloadError(f"{url}: asked for bytes {start}-{end}, got {len(data)}")
    raise AssertionError("unreachable")


class ObjectReader(io.RawIOBase):
    """A seekable, read-only file over an S3 object, read by byte ranges (of its pinned version)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.size = _version(url)[1]  # and reads of that version only
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        end = min(self.position + len(buffer), self.size)
        data = read_range(self.url, self.position, end)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def open_binary(path: str | Path) -> io.BufferedIOBase:
    """``path`` opened for reading bytes: a local file, or an ``s3://`` object read in place."""
    if is_s3(str(path)):
        return io.BufferedReader(ObjectReader(str(path)), buffer_size=READ_AHEAD)
    return open(path, "rb")


def object_size(path: str | Path) -> int:
    """The size of a local file, or of the version of an ``s3://`` object this process reads."""
    if is_s3(str(path)):
        return _version(str(path))[1]
    return Path(path).stat().st_size


def located_source(path: str | Path) -> str:
    """What a rule reads for its input ``path``: the file itself, or for a ``*.located.json`` record
    (a table read in place) its object's URL, with the version located pinned for this process."""
    import json

    if not str(path).endswith(".located.json"):
        return str(path)
    record = json.loads(Path(path).read_text())
    pin_version(record["url"], record["etag"], int(record["size"]))
    return record["url"]

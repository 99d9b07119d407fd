"""Fetch a raw input into ``resources/``: complete and verified, or not at all.

Sources are local paths (relative to the checkout or absolute), ``file://``
URLs, ``http(s)://`` URLs and ``s3://bucket/key`` objects (:mod:`object_storage`). Bytes stream into a temporary file beside the
target, renamed only once the file is complete and verified:

* transient failures (connection reset or refused, timeouts, a body cut
  short, HTTP 429 and 5xx) are retried with exponential backoff; a retry asks
  for the rest with a ``Range`` request and appends when the server answers
  206, else starts over;
* integrity is checked against, in order of preference, the entry's
  ``checksum: "<algo>:<hex>"``, the server's ``DataONE-Checksum: <ALGO>,<hex>``
  header (Arctic Data Center / DataONE), or the ``Content-Length``;
* a provenance record (URL, final URL, size, checksums, validators, time,
  tool versions) is written beside the file as ``<name>.provenance.json``.

HTTP is done with ``requests``: pooch and Snakemake's HTTP storage plugin
verify a configured hash but neither resumes with ``Range`` nor reads the
checksum DataONE servers declare, which the lesson's data rely on.
"""

import datetime as dt
import hashlib
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from snakedask.errors import DownloadError, NotFound

CHUNK = 1 << 16  # small enough that a cut-off body keeps most of what arrived
ALGORITHMS = {"md5": "md5", "sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256"}
HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64}
TRANSIENT_STATUS = {429, 500, 502, 503, 504}
WEAK_VERIFICATION = (
    "verified by its size only: nothing proves these are the source's bytes. Set the entry's "
    "`checksum:` (e.g. sha256:...) to verify it."
)


class _Transient(Exception):
    """A failure worth another attempt."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Checksum:
    algorithm: str  # hashlib name: md5, sha1 or sha256
    value: str  # lower-case hex
    source: str  # where the expected value came from

    @classmethod
    def parse(cls, spec: str, source: str, separator: str = ":") -> "Checksum":
        """``"sha256:ab…"`` (config) or ``"SHA-256,AB…"`` (DataONE header, separator ",")."""
        algorithm, _, value = spec.strip().partition(separator)
        name = ALGORITHMS.get(algorithm.strip().lower())
        value = value.strip().lower()
        if name is None or len(value) != HEX_LENGTH[name] or any(c not in "0123456789abcdef" for c in value):
            raise DownloadError(
                f"checksum {spec!r} from {source} is not <algorithm>{separator}<hex> with algorithm "
                f"md5, sha1 or sha256 and a hex digest of the right length"
            )
        return cls(name, value, source)


@dataclass
class Fetched:
    """What was fetched, for the provenance record."""

    url: str
    final_url: str
    size: int
    verified_by: str
    checksum: Checksum | None = None
    sha256: str = ""
    attempts: int = 1
    resumed: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    warning: str | None = None
    tool: str = "requests"  # the package that fetched it (boto3 for s3://)

    def provenance(self) -> dict[str, Any]:
        # The version from the package's metadata: a local copy never imports requests (0.1 s).
        from importlib.metadata import version

        return {
            "url": self.url,
            "final_url": self.final_url,
            "size": self.size,
            "verified_by": self.verified_by,
            "warning": self.warning,
            "checksum": None
            if self.checksum is None
            else {
                "algorithm": self.checksum.algorithm,
                "value": self.checksum.value,
                "source": self.checksum.source,
            },
            "sha256": self.sha256,
            "attempts": self.attempts,
            "resumed": self.resumed,
            "http": self.headers,
            "retrieved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "tools": {"python": platform.python_version(), self.tool: version(self.tool)},
        }


def local_path(url: str, base: str | Path = ".") -> Path | None:
    """The file a path or ``file://`` URL names (relative paths from ``base``); None for http(s)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("http", "https", "s3"):
        return None
    if parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise DownloadError(
            f"url {url!r}: scheme {parts.scheme!r} is not supported; use a path, file://, http://, https:// or s3://"
        )
    path = Path(url)
    return path if path.is_absolute() else Path(base) / path


def source_problems(config: dict[str, Any], base: str | Path = ".") -> list[str]:
    """One config-error line per table or band whose `url:` is a local file that does not exist,
    or an ``s3://`` URL that names no valid bucket and object.

    Checked before any job: a download made earlier from another `url:` must
    never stand in for a file that is not there.
    """
    from snakedask.object_storage import is_s3, s3_location

    entries = [(f"tables.{name}", table) for name, table in config.get("tables", {}).items()]
    for name, scene in config.get("scenes", {}).items():
        entries += [
            (f"scenes.{name}.{band}", entry) for band, entry in scene.items() if isinstance(entry, dict)
        ]
    problems = []
    for key, entry in entries:
        urls = entry.get("url")
        for url in [urls] if isinstance(urls, str) else urls or []:
            if is_s3(url):
                try:
                    s3_location(url)
                except DownloadError as err:
                    problems.append(f"  - {key}.url: {err}. Fix the `url:`.")
                continue
            path = local_path(url, base)
            if path is not None and not path.is_file():
                problems.append(
                    f"  - {key}.url: no such file {path} (a relative path starts at {Path(base).absolute()}). "
                    "Fix the `url:`."
                )
    return problems


def file_digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


def _progress(log, written: int, total: int | None, started: float) -> None:
    if log is None:
        return
    rate = written / max(time.monotonic() - started, 1e-9) / 1e6
    share = f" of {total} ({100 * written / total:.0f} %)" if total else ""
    log.info("%d bytes%s, %.1f MB/s", written, share, rate)


def _validator(response) -> str | None:
    """The response's strong ETag, else its Last-Modified: what identifies this version of the file."""
    etag = response.headers.get("ETag", "")
    return etag if etag and not etag.startswith("W/") else response.headers.get("Last-Modified")


def _splice_problem(response, offset: int, validator: str | None) -> str | None:
    """Why a 206 answer cannot be appended to the ``offset`` bytes held, or None if it can."""
    content_range = response.headers.get("Content-Range", "")
    unit, _, spec = content_range.partition(" ")
    first = spec.partition("-")[0]
    if unit != "bytes" or not first.isdigit() or int(first) != offset:
        return f"the server answered bytes={offset}- with Content-Range {content_range!r}"
    if validator is None or _validator(response) != validator:
        return (
            f"the file changed on the server between attempts (validator {validator!r}, "
            f"now {_validator(response)!r})"
        )
    return None


def _get(url: str, tmp: Path, offset: int, state: dict[str, Any], timeout: float, log) -> tuple[Any, bool]:
    """One HTTP attempt, appending from ``offset`` if the server honours Range. Returns (response, resumed).

    ``state`` carries the first response's validator (ETag/Last-Modified) to later attempts.
    """
    import requests

    headers = {"User-Agent": "snakemake-dask-workflow (+requests)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if state.get("validator"):  # the rest of *this* version, or the whole new one
            headers["If-Range"] = state["validator"]
    try:
        response = requests.get(url, headers=headers, stream=True, timeout=(timeout, timeout))
    except requests.RequestException as err:
        raise _Transient(f"{type(err).__name__}: {err}") from None
    with response:
        if response.status_code in TRANSIENT_STATUS:
            retry_after = response.headers.get("Retry-After", "")
            raise _Transient(
                f"HTTP {response.status_code} {response.reason}",
                float(retry_after) if retry_after.isdigit() else None,
            )
        if response.status_code == 416 and offset:
            tmp.unlink(missing_ok=True)  # the part we hold does not fit: start over
            raise _Transient("server refused the Range request (HTTP 416)")
        if response.status_code in (403, 404, 410):  # object stores answer 403 for a missing key
            raise NotFound(f"could not download {url}: HTTP {response.status_code} {response.reason}")
        if response.status_code >= 400:
            raise DownloadError(f"could not download {url}: HTTP {response.status_code} {response.reason}")
        resumed = offset > 0 and response.status_code == 206
        if resumed and (problem := _splice_problem(response, offset, state.get("validator"))):
            # Appending would splice two versions (or the wrong bytes): throw the part away.
            tmp.unlink(missing_ok=True)
            state.clear()
            raise _Transient(f"{problem}; starting over from byte 0", retry_after=0)
        if not resumed:
            state["validator"] = _validator(response)
        if offset and not resumed and log:
            log.info("server ignored the Range request (HTTP %d): starting over", response.status_code)
        length = response.headers.get("Content-Length")
        expected = int(length) + (offset if resumed else 0) if length and length.isdigit() else None
        written = offset if resumed else 0
        started, reported = time.monotonic(), time.monotonic()
        try:
            with open(tmp, "ab" if resumed else "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    if time.monotonic() - reported > 5:
                        _progress(log, written, expected, started)
                        reported = time.monotonic()
        except requests.RequestException as err:
            raise _Transient(f"connection lost after {written} bytes: {type(err).__name__}") from None
        if expected is not None and written < expected:
            raise _Transient(f"body ended after {written} of {expected} bytes")
        _progress(log, written, expected, started)
        return response, resumed


def _fetch_http(url: str, tmp: Path, timeout: float, attempts: int, backoff: float, log) -> Fetched:
    offset, state, resumed_any = 0, {}, False
    last_error = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            response, resumed = _get(url, tmp, offset, state, timeout, log)
        except _Transient as err:
            last_error = str(err)
            if attempt == attempts:
                break
            delay = min(err.retry_after if err.retry_after is not None else backoff * 2 ** (attempt - 1), 60)
            if log:
                log.warning(
                    "attempt %d/%d for %s failed (%s); retrying in %.1f s", attempt, attempts, url, err, delay
                )
            time.sleep(delay)
            # Resume only what can be proven to be the same version: the first answer had a validator.
            offset = tmp.stat().st_size if tmp.exists() and state.get("validator") else 0
            continue
        resumed_any |= resumed
        headers = {
            k: response.headers[k]
            for k in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "DataONE-Checksum")
            if k in response.headers
        }
        return Fetched(
            url=url,
            final_url=response.url,
            size=tmp.stat().st_size,
            verified_by="",
            attempts=attempt,
            resumed=resumed_any,
            headers=headers,
        )
    raise DownloadError(
        f"could not download {url}: gave up after {attempts} attempts; last error: {last_error}"
    )


def _fetch_s3(url: str, tmp: Path, timeout: float, attempts: int, backoff: float, log) -> Fetched:
    from snakedask.object_storage import fetch_s3

    got = fetch_s3(url, tmp, timeout, attempts, backoff, log)
    return Fetched(
        url=url,
        final_url=got["object_url"],
        size=got["size"],
        verified_by="",
        attempts=got["attempts"],
        resumed=got["resumed"],
        headers=got["headers"],
        tool="boto3",
    )


def _verify(fetched: Fetched, tmp: Path, configured: Checksum | None, url: str, local: bool) -> None:
    """Check the file against the configured checksum, else the server's, else its length."""
    declared = fetched.headers.get("DataONE-Checksum")
    expected = configured or (
        Checksum.parse(declared, "the server's DataONE-Checksum header", ",") if declared else None
    )
    if expected is not None:
        actual = file_digest(tmp, expected.algorithm)
        if actual != expected.value:
            raise DownloadError(
                f"{url}: {expected.algorithm} checksum mismatch: expected {expected.value} (from {expected.source}), "
                f"got {actual} for {fetched.size} bytes. Nothing was kept; if the source changed on purpose, "
                "update the entry's `checksum:`."
            )
        fetched.checksum, fetched.verified_by = expected, f"{expected.algorithm} from {expected.source}"
    elif local:
        fetched.verified_by = "size against the local source file"
    elif fetched.tool == "boto3":
        fetched.verified_by = "size against the object's, its ETag recorded"
        fetched.warning = WEAK_VERIFICATION
    elif "Content-Length" in fetched.headers:
        fetched.verified_by = "size against Content-Length"  # short bodies are caught while streaming
        fetched.warning = WEAK_VERIFICATION
    else:
        fetched.verified_by = "nothing (no checksum configured or declared, no Content-Length)"
        fetched.warning = WEAK_VERIFICATION
    fetched.sha256 = (
        expected.value if expected and expected.algorithm == "sha256" else file_digest(tmp, "sha256")
    )


# Magic bytes of the compressed formats a table may come in (whatever its name says).
COMPRESSIONS = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}


def compression_of(path: Path) -> str | None:
    """``gzip``, ``bz2``, ``xz`` or ``zip`` by the file's first bytes; None for anything else."""
    with open(path, "rb") as stream:
        head = stream.read(8)
    return next((name for magic, name in COMPRESSIONS.items() if head.startswith(magic)), None)


def _copy_hashing(stream: Any, out: Any, digest: Any) -> bytes:
    """Copy ``stream`` to ``out`` in 1 MiB pieces, adding them to ``digest``; the last byte written."""
    last = b""
    while chunk := stream.read(1 << 20):
        out.write(chunk)
        digest.update(chunk)
        last = chunk[-1:]
    return last


def decompress(source: Path, dest: Path, kind: str, url: str) -> str:
    """Write the plain content of ``source`` (``kind`` from :func:`compression_of`) to ``dest``;
    return its sha256."""
    import bz2
    import gzip
    import lzma
    import zipfile

    digest = hashlib.sha256()
    try:
        if kind == "zip":
            with zipfile.ZipFile(source) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise DownloadError(
                        f"{url} is a zip archive of {len(members)} files ({', '.join(m.filename for m in members)}); "
                        "a table needs one. Point `url:` at the CSV itself (or unpack it and add a table per file)."
                    )
                with archive.open(members[0]) as stream, open(dest, "wb") as out:
                    _copy_hashing(stream, out, digest)
                return digest.hexdigest()
        opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
        with opener(source, "rb") as stream, open(dest, "wb") as out:
            _copy_hashing(stream, out, digest)
        return digest.hexdigest()
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as err:
        raise DownloadError(
            f"{url} starts like a {kind} file but does not decompress ({type(err).__name__}: {err}). "
            "A truncated or corrupt download? Nothing was kept; check the source."
        ) from None


def fetch(
    url: str,
    dest: str | Path,
    base: str | Path = ".",
    checksum: str | None = None,
    timeout: float = 60,
    attempts: int = 5,
    backoff: float = 1.0,
    log=None,
    plain: bool = False,
) -> dict[str, Any]:
    """Fetch ``url`` to ``dest`` atomically and verified; return the provenance record.

    ``plain``: a gzip, bz2, xz or single-file zip source (known by its magic
    bytes) is decompressed once it is verified; ``dest`` is the plain file,
    and the record describes both (``compressed``: the source's format, size
    and sha256; ``size``/``sha256``: the plain file's).
    """
    from snakedask.atomic_output import atomic_path

    dest = Path(dest)
    configured = Checksum.parse(checksum, "config (`checksum:`)") if checksum else None
    source = local_path(url, base)
    with atomic_path(dest) as tmp:
        if source is not None:
            if not source.is_file():
                raise DownloadError(f"url {url!r}: no such file {source}. Fix the entry's `url:`.")
            shutil.copyfile(source, tmp)
            fetched = Fetched(
                url=url, final_url=source.resolve().as_uri(), size=tmp.stat().st_size, verified_by=""
            )
            if fetched.size != source.stat().st_size:
                raise DownloadError(f"{source} changed while it was copied; run again")
        elif url.startswith("s3://"):
            fetched = _fetch_s3(url, tmp, timeout, max(1, attempts), backoff, log)
        else:
            fetched = _fetch_http(url, tmp, timeout, max(1, attempts), backoff, log)
        _verify(fetched, tmp, configured, url, local=source is not None)
        record = fetched.provenance()
        kind = compression_of(tmp) if plain else None
        if kind:
            # Beside the download, named like it (a killed run's leftovers are cleaned up alike).
            unpacked = tmp.with_name(tmp.name.replace(".partial", "-plain.partial"))
            try:
                plain_sha256 = decompress(tmp, unpacked, kind, url)
                os.replace(unpacked, tmp)  # the compressed bytes are not kept
            finally:
                unpacked.unlink(missing_ok=True)
            record["compressed"] = {"format": kind, "size": record["size"], "sha256": record["sha256"]}
            record["size"], record["sha256"] = tmp.stat().st_size, plain_sha256
            if log:
                log.info("decompressed %s (%s) to %d bytes", url, kind, record["size"])
    if fetched.warning and log:
        log.warning("%s: %s", url, fetched.warning)
    return record


# GDAL reads a raster's mask from <file>.msk and extra metadata (nodata, scale/offset) from
# <file>.aux.xml beside it: a copy of the raster alone would lose them.
SIDECARS = (".msk", ".aux.xml")


def fetch_sidecars(
    url: str, dest: str | Path, base: str | Path = ".", log=None, **options: Any
) -> dict[str, Any]:
    """Fetch the GDAL sidecar files that lie beside ``url`` to the same names beside ``dest``.

    Returns each fetched sidecar's provenance record by suffix. A sidecar the
    source lacks (no such file; HTTP 403/404/410) is removed from beside
    ``dest`` if an earlier download left one, so a stale mask never applies.
    ``options`` are :func:`fetch`'s (timeout, attempts, backoff).
    """
    found = {}
    source = local_path(url, base)
    for suffix in SIDECARS:
        target = Path(f"{dest}{suffix}")
        split = urlsplit(url)
        sidecar_url = (
            urlunsplit(split._replace(path=split.path + suffix)) if source is None else f"{url}{suffix}"
        )
        try:
            if source is not None and not Path(f"{source}{suffix}").is_file():
                raise NotFound(sidecar_url)
            found[suffix] = fetch(sidecar_url, target, base, log=log, **options)
        except NotFound:
            target.unlink(missing_ok=True)
            continue
        if log:
            log.info("fetched %s beside it (GDAL reads it with the raster)", sidecar_url)
    return found


def _header(path: Path) -> bytes:
    with open(path, "rb") as stream:
        line = stream.readline()
    return line.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")


def _columns(header: bytes, sep: str) -> list[str]:
    import csv

    return next(csv.reader([header.decode("latin-1")], delimiter=sep))


def fetch_table(
    urls: str | list[str],
    dest: str | Path,
    checksums: str | list[str | None] | None = None,
    sep: str = ",",
    log=None,
    **options: Any,
) -> dict[str, Any]:
    """Fetch a table that comes in one file or several with the same header; ``dest`` is one plain table.

    Each file is fetched, verified and decompressed as :func:`fetch` does
    (``checksums``: one per URL, or None). The files are joined in the order
    given, each one's header dropped after the first; files whose header
    differs are refused, naming both files and the columns that differ. The
    record lists every source's provenance (``sources``) and the joined file's
    size and sha256.
    """
    from snakedask.atomic_output import atomic_path

    if isinstance(urls, str):
        return fetch(urls, dest, checksum=checksums, log=log, plain=True, **options)
    checksums = list(checksums) if isinstance(checksums, list) else [checksums] * len(urls)
    if len(checksums) != len(urls):
        raise DownloadError(f"{len(urls)} urls but {len(checksums)} checksums: give one checksum per url")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    records = []
    # The parts wait in a hidden folder beside the table, removed whatever happens.
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.stem}-parts-") as folder:
        parts = [Path(folder) / f"part{number}{dest.suffix}" for number in range(1, len(urls) + 1)]
        for url, checksum, part in zip(urls, checksums, parts, strict=True):
            records.append(fetch(url, part, checksum=checksum, log=log, plain=True, **options))
            with open(part, "rb") as stream:
                if stream.read(4)[:2] in (b"\xff\xfe", b"\xfe\xff"):
                    raise DownloadError(
                        f"{url} is UTF-16 (or UTF-32): a table in several files must be in an encoding that "
                        "writes line breaks as single bytes (UTF-8, Latin-1, ...). Convert the files, or "
                        "give them as separate tables."
                    )
        first = _header(parts[0])
        for url, part in zip(urls[1:], parts[1:], strict=True):
            if (header := _header(part)) != first:
                ours, theirs = _columns(first, sep), _columns(header, sep)
                raise DownloadError(
                    f"{urls[0]} and {url} have different headers, so they are not one table: "
                    f"columns only in the first: {[c for c in ours if c not in theirs]}, only in the "
                    f"second: {[c for c in theirs if c not in ours]}"
                    + (" (the same columns in another order)" if sorted(ours) == sorted(theirs) else "")
                    + ". Make them match, or give them as separate tables."
                )
        with open(parts[0], "rb") as stream:
            ending = b"\r\n" if stream.readline().endswith(b"\r\n") else b"\n"
        digest = hashlib.sha256()
        with atomic_path(dest) as tmp, open(tmp, "wb") as out:
            for number, part in enumerate(parts):
                with open(part, "rb") as stream:
                    if number:
                        stream.readline()  # its header: the first file's is written
                    last = _copy_hashing(stream, out, digest)
                if last and last != b"\n":  # a file without a final line break: end its last record
                    out.write(ending)
                    digest.update(ending)
    return {
        "sources": records,
        "size": dest.stat().st_size,
        "sha256": digest.hexdigest(),
        "verified_by": "each source: " + "; ".join(r["verified_by"] for r in records),
        "warning": next((r["warning"] for r in records if r.get("warning")), None),
    }

"""Fetch a raw input (local path, ``file://`` or ``http(s)://`` URL) into ``resources/``.

The bytes stream into a temporary file beside the target, which is renamed
only once complete (and, for HTTP, only if the size matches the server's
``Content-Length``): an interrupted or failed fetch leaves nothing at the
output path.
"""

import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHUNK = 1 << 20
SCHEMES = ("", "file", "http", "https")


class DownloadError(RuntimeError):
    """The source could not be fetched completely."""


def local_path(url: str, base: str | Path = ".") -> Path | None:
    """The file a path or ``file://`` URL points at (relative paths from ``base``); None for http(s)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("http", "https"):
        return None
    if len(parts.scheme) == 1:  # a Windows drive letter, not a scheme
        return Path(url)
    if parts.scheme:
        raise DownloadError(f"url {url!r}: scheme {parts.scheme!r} is not supported; use a path, file://, http:// or https://")
    path = Path(url)
    return path if path.is_absolute() else Path(base) / path


def _copy_stream(source, target, total: int | None, log) -> int:
    written, started, last_report = 0, time.monotonic(), 0.0
    while chunk := source.read(CHUNK):
        target.write(chunk)
        written += len(chunk)
        now = time.monotonic()
        if log and now - last_report > 5:
            rate = written / max(now - started, 1e-9) / 1e6
            share = f" ({100 * written / total:.0f} %)" if total else ""
            log.info("%d bytes%s, %.1f MB/s", written, share, rate)
            last_report = now
    return written


def fetch(url: str, dest: str | Path, base: str | Path = ".", timeout: float = 60, log=None) -> Path:
    """Copy or download ``url`` to ``dest`` atomically; return ``dest``."""
    from atomic_output import atomic_path

    dest = Path(dest)
    source = local_path(url, base)
    with atomic_path(dest) as tmp:
        if source is not None:
            if not source.is_file():
                raise DownloadError(f"url {url!r}: no such file {source}")
            shutil.copyfile(source, tmp)
        else:
            request = urllib.request.Request(url, headers={"User-Agent": "snakemake-dask-workflow"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    written = _copy_stream(response, out, total, log)
            except OSError as err:  # URLError, HTTPError, timeouts, resets
                raise DownloadError(f"could not download {url}: {err}") from err
            if total is not None and written != total:
                raise DownloadError(f"{url}: got {written} bytes but the server announced {total}; nothing kept")
    return dest


def main(smk) -> None:
    from rule_log import log_to_file

    log = log_to_file(smk.log[0])
    log.info("fetching %s", smk.params.url)
    fetch(smk.params.url, smk.output[0], base=smk.params.base, timeout=smk.params.timeout, log=log)
    log.info("wrote %s (%d bytes)", smk.output[0], Path(smk.output[0]).stat().st_size)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive

"""Write products atomically: to a temporary name beside the target, then rename.

A failed or interrupted job therefore never leaves a truncated file at a final
path that Snakemake (or a person) could mistake for a finished product.
"""

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from snakedask.errors import DiskFullError

# Below this much free space a failed write is reported as a full disk.
LOW_SPACE = 1 << 20


def final_path(path: Path) -> Path:
    """The product a temporary file stands for (``.ndvi.<id>.partial.tif`` -> ``ndvi.tif``)."""
    name = path.name
    if name.startswith(".") and ".partial" in name:
        stem = name[1:].split(".")[0]
        return path.with_name(stem + name[name.index(".partial") + len(".partial") :])
    return path


def raise_if_disk_full(path: str | os.PathLike, err: BaseException) -> None:
    """Turn a failed write into a :class:`DiskFullError` when the disk is (nearly) full.

    Libraries report a full disk in many ways (ENOSPC, GDAL's "Write failed"):
    ask the filesystem. Call it before deleting what the failed write left.
    """
    if isinstance(err, DiskFullError):
        raise err
    path = Path(path)
    free = shutil.disk_usage(path.parent).free
    chain, cause = [], err
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if free < LOW_SPACE or any(getattr(e, "errno", None) == errno.ENOSPC for e in chain):
        raise DiskFullError(
            errno.ENOSPC,
            f"no space left while writing {final_path(path)} ({free} bytes free on its filesystem); "
            "nothing was kept. Free some space (or move results/ to a larger disk) and run again.",
        ) from err


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` on success.

    The temporary name keeps the suffix (``ndvi.tif`` -> ``.ndvi.<id>.partial.tif``)
    so that drivers choosing a format by extension still work. On any exception
    the temporary file is removed and the exception propagates (as
    :class:`DiskFullError` when the disk is full); temporary files that a killed
    earlier attempt left behind (stage folders included) are removed first.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.stem}.*.partial{final.suffix}"):
        if stale.is_dir():  # a stage folder of a killed job (see cog_writer)
            shutil.rmtree(stale, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            stale.unlink()
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.partial{final.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file {tmp} for {final}")
        os.replace(tmp, final)
    except Exception as err:
        try:
            raise_if_disk_full(tmp, err)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(final: str | os.PathLike, text: str) -> None:
    """Atomically write a small UTF-8 text file."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")

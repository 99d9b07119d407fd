"""Write products atomically: to a temporary name beside the target, then rename.

A failed or interrupted job therefore never leaves a truncated file at a final
path that Snakemake (or a person) could mistake for a finished product.
"""

import contextlib
import errno
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator


# Below this much free space a failed write is reported as a full disk.
LOW_SPACE = 1 << 20


class DiskFullError(OSError):
    """The filesystem ran out of space while a product was written."""


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` on success.

    The temporary name keeps the suffix (``ndvi.tif`` -> ``.ndvi.<id>.partial.tif``)
    so that drivers choosing a format by extension still work. On any exception
    the temporary file is removed and the exception propagates; temporary files
    that a killed earlier attempt left behind are removed first.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.stem}.*.partial{final.suffix}"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.partial{final.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file {tmp} for {final}")
        os.replace(tmp, final)
    except Exception as err:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        # Libraries report a full disk in many ways (ENOSPC, GDAL write errors): ask the filesystem.
        free = shutil.disk_usage(final.parent).free
        if free < LOW_SPACE or getattr(err, "errno", None) == errno.ENOSPC:
            raise DiskFullError(
                errno.ENOSPC, f"no space left while writing {final} ({free} bytes free on its filesystem); "
                "nothing was kept. Free some space (or move results/ to a larger disk) and run again.") from err
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(final: str | os.PathLike, text: str) -> None:
    """Atomically write a small UTF-8 text file."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")

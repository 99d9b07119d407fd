"""Write products atomically: to a temporary name beside the target, then rename.

A failed or interrupted job therefore never leaves a truncated file at a final
path that Snakemake (or a person) could mistake for a finished product.
"""

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` on success.

    The temporary name keeps the suffix (``ndvi.tif`` -> ``.ndvi.<id>.partial.tif``)
    so that drivers choosing a format by extension still work. On any exception
    the temporary file is removed and the exception propagates.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.partial{final.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file {tmp} for {final}")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(final: str | os.PathLike, text: str) -> None:
    """Atomically write a small UTF-8 text file."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")

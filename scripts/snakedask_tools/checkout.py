"""A runnable copy of this checkout, and the environment to run Snakemake in it.

Tests and the benchmark run the workflow in copies, never in the checkout
itself: products, logs and ``.snakemake`` stay out of the developer's tree.
"""

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"
# What a run needs: the workflow, its config and the library (rules' conda: directives name environment.yml).
COPIED = ("workflow", "config", "scripts", "environment.yml")


def copy_checkout(dest: Path, sample: bool = True) -> Path:
    """Copy what a run needs to ``dest`` (with the bundled sample data unless ``sample=False``)."""
    dest = Path(dest)
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, dest / name)
    if sample:
        shutil.copytree(SAMPLE, dest / "resources" / "sample")
    return dest


def snakemake_environment(
    checkout: Path | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment for a Snakemake run, minus ``DASK_SCHEDULER_ADDRESS``.

    Only what the caller sets may point the workflow at a scheduler. With
    ``checkout``, the copy's own library comes first on ``PYTHONPATH`` (the
    installed package points at this checkout), so a copy runs its own code.
    """
    environment = {key: value for key, value in os.environ.items() if key != "DASK_SCHEDULER_ADDRESS"}
    if checkout is not None:
        paths = [str(Path(checkout) / "scripts"), environment.get("PYTHONPATH", "")]
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    environment.update(extra or {})
    return environment

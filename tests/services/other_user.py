"""Dask workers that share no filesystem with the test: a `dask scheduler` and `dask worker` on
127.0.0.1 run as another Unix user, from a virtualenv of their own, in a home of their own.

The user and the virtualenv are made once per machine (root only: ``useradd``, then
``/usr/bin/python3 -m venv`` with the workers' packages of requirements.txt installed,
readable by all); the virtualenv is remade when those lines change. The processes get only the environment
given (``env -i``): nothing of the test's, so no ``PYTHONPATH`` into the checkout.
"""

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.services.dask_processes import dask_cluster_processes

USER = "snakedask-worker"
HOME = Path("/var/lib/snakedask-worker")
VENV = Path("/opt/snakedask-worker-venv")
SYSTEM_PYTHON = Path("/usr/bin/python3")  # the default python3 lives under /root, closed to other users


def missing() -> str | None:
    """Why workers cannot run as another user here (``None``: they can)."""
    if os.geteuid() != 0:
        return "workers as another Unix user need root (useradd, runuser)"
    for tool in ("useradd", "runuser"):
        if shutil.which(tool) is None:
            return f"workers as another Unix user need {tool}"
    if not SYSTEM_PYTHON.exists():
        return f"workers as another Unix user need {SYSTEM_PYTHON} (a Python other users can run)"
    return None


# What the workers import: the tasks' modules of the package (shipped to them as a zip) and what
# runs the scheduler and workers, a gateway's included. The rest of requirements.txt (Snakemake,
# the plots, the peers, the test tools) is the submitting side's: left out, the install takes half as long.
WORKER_PACKAGES = {
    "dask", "distributed", "dask-gateway", "bokeh", "rioxarray", "rasterio", "xarray", "pyproj",
    "numpy", "numba", "zstandard", "pandas", "pyarrow", "chardet", "boto3",
}  # fmt: skip


def worker_requirements(requirements: Path) -> list[str]:
    """The lines of ``requirements`` (with their version bounds) that name a worker package."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    return [line for line in lines if re.split(r"[\[<>=!~ ]", line)[0].lower() in WORKER_PACKAGES]


def ensure_user_and_venv(requirements: Path) -> None:
    """The user (no login shell, home mode 0700) and its virtualenv with the worker packages of
    ``requirements`` installed."""
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--home-dir",
                str(HOME),
                "--create-home",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ],
            check=True,
        )
    HOME.chmod(0o700)
    stamp = VENV / ".requirements-sha256"
    packages = worker_requirements(requirements)
    assert len(packages) == len(WORKER_PACKAGES), f"requirements.txt lacks some of {WORKER_PACKAGES}"
    wanted = hashlib.sha256("\n".join(packages).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *packages], check=True, capture_output=True)
    subprocess.run(["chmod", "-R", "a+rX", str(VENV)], check=True)
    stamp.write_text(wanted)


def can_read(path: Path) -> bool:
    """Whether the other user can read ``path``."""
    return subprocess.run(["runuser", "-u", USER, "--", "test", "-r", str(path)]).returncode == 0


@contextlib.contextmanager
def other_user_cluster(name: str, env: dict[str, str]):
    """A scheduler and one worker (two threads) as the other user, with only ``env`` (plus HOME, PATH)
    in their environment; yields the scheduler's address. Their folder is removed afterwards."""
    folder = HOME / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shutil.chown(folder, USER, USER)
    environment = {"HOME": str(HOME), "TMPDIR": str(folder), "PATH": f"{VENV / 'bin'}:/usr/bin:/bin", **env}
    prefix = ["runuser", "-u", USER, "--", "env", "-i", *(f"{k}={v}" for k, v in environment.items())]
    try:
        with dask_cluster_processes(folder, command_prefix=prefix, dask=VENV / "bin/dask", cwd=folder) as (
            address,
            _,
        ):
            yield address
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""Shared test fixtures: the sample data, workflow copies, real Dask and HTTP services."""

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
RULE_SCRIPTS = ROOT / "workflow" / "scripts"
SAMPLE = ROOT / "resources" / "sample"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

from snakedask.shared_cluster import stop_processes  # noqa: E402
from snakedask.tools.checkout import copy_checkout, snakemake_environment  # noqa: E402


@pytest.fixture(scope="session")
def sample():
    """Paths of the bundled sample files."""
    return {
        "csv": SAMPLE / "dg_soil_moisture.csv",
        "red": SAMPLE / "RU_ANS_TR2_FL005M_red.tif",
        "nir": SAMPLE / "RU_ANS_TR2_FL005M_nir.tif",
    }


def copy_workflow(dest: Path) -> Path:
    """A fresh copy of the checkout's workflow, config, library and sample data."""
    return copy_checkout(dest)


@pytest.fixture
def workdir(tmp_path):
    return copy_workflow(tmp_path / "checkout")


def run_snakemake(
    workdir: Path, *args: str, env: dict | None = None, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir``; on unexpected failure show its output."""
    full_env = snakemake_environment(extra=env)  # the installed library: its numba cache is warm
    result = subprocess.run(
        [str(SNAKEMAKE), "--cores", "2", *args],
        cwd=workdir,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def wait_until(condition, timeout: float, message: str, interval: float = 0.2) -> None:
    """Poll ``condition()`` until true; TimeoutError(message) after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(message)


def _wait_for_json(path: Path, timeout: float = 60) -> dict:
    import json

    def readable():
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    wait_until(readable, timeout, f"{path} was not written within {timeout} s")
    return readable()


@contextlib.contextmanager
def dask_cluster_processes(folder: Path, *tls_args: str, workers: int = 1):
    """A real `dask scheduler` and `dask worker` (``workers`` nanny-managed processes) on
    127.0.0.1, stopped afterwards.

    Yields ``(address, scheduler_file)``; ``tls_args`` (``--tls-ca-file`` etc.)
    make both use TLS.
    """
    scheduler_file = folder / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))
    logs = [open(folder / name, "w") for name in ("scheduler.log", "worker.log")]  # noqa: SIM115 - closed below
    protocol = ["--protocol", "tls"] if tls_args else []
    processes = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                *protocol,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
                *tls_args,
            ],
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        address = _wait_for_json(scheduler_file)["address"]
        processes.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--nthreads",
                    str(max(1, 2 // workers)),
                    "--nworkers",
                    str(workers),
                    "--host",
                    "127.0.0.1",
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--memory-limit",
                    "4GB",
                    *tls_args,
                ],
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        _wait_for_worker(folder / "worker.log", workers)
        yield address, scheduler_file
    finally:
        stop_processes(processes)
        for log in logs:
            log.close()


def _wait_for_worker(log: Path, workers: int = 1, timeout: float = 60) -> None:
    wait_until(
        lambda: log.read_text().count("Registered to:") >= workers,
        timeout,
        f"the Dask worker did not register within {timeout} s; see {log}",
    )


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """A plain tcp:// scheduler and worker: ``(address, scheduler_file)``."""
    with dask_cluster_processes(tmp_path_factory.mktemp("dask")) as cluster:
        yield cluster


def make_certificates(folder: Path) -> dict[str, str]:
    """A test CA and one certificate for 127.0.0.1 signed by it, made with openssl."""

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=workflow-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "node.key",
        "-out",
        "node.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return {
        "ca_file": str(folder / "ca.pem"),
        "cert": str(folder / "node.pem"),
        "key": str(folder / "node.key"),
    }


@pytest.fixture(scope="module")
def tls_scheduler(tmp_path_factory):
    """A TLS-only scheduler and worker: ``(address, security config)``."""
    folder = tmp_path_factory.mktemp("dask-tls")
    certs = make_certificates(folder)
    tls = ["--tls-ca-file", certs["ca_file"], "--tls-cert", certs["cert"], "--tls-key", certs["key"]]
    with dask_cluster_processes(folder, *tls) as (address, _):
        yield address, certs

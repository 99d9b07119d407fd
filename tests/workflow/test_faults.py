"""Faults injected for real: killed workers, interrupted Snakemake, a vanishing scheduler, a full disk.

Each run either completes with products equal to an undisturbed run's, or stops
with a clear message; never a truncated product at a final path.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from snakedask_tools.make_sample_data import RASTER_HEIGHT, RASTER_WIDTH, write_band, write_soil_moisture_csv
from tests.helpers import SNAKEMAKE, copy_workflow, require_service, run_snakemake, wait_until
from tests.services.dask_processes import dask_cluster_processes

pytestmark = pytest.mark.workflow

TABLE, SCENE = "mid", "mid"
AVERAGES = f"results/tables/{TABLE}/averages.csv"
NDVI = f"results/scenes/{SCENE}/ndvi.tif"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Inputs big enough that a fault lands mid-computation (~25 MB CSV, 1750 x 3722 px)."""
    folder = tmp_path_factory.mktemp("mid-inputs")
    csv = write_soil_moisture_csv(folder / "soil.csv", scale=0.2)
    height, width = RASTER_HEIGHT // 2, RASTER_WIDTH // 2
    red = write_band(folder / "red.tif", "red", height, width)
    nir = write_band(folder / "nir.tif", "nir", height, width)
    return {"csv": csv, "red": red, "nir": nir}


@pytest.fixture(scope="module")
def expected(inputs):
    """The products computed independently with pandas and numpy."""
    averages = pd.read_csv(inputs["csv"], encoding="latin-1").groupby("year").mean(numeric_only=True)
    with rasterio.open(inputs["red"]) as red, rasterio.open(inputs["nir"]) as nir:
        r, n = red.read(1).astype(np.float64), nir.read(1).astype(np.float64)
        valid = (r != red.nodata) & (n != nir.nodata) & (r + n != 0)
        ndvi = np.where(valid, (n - r) / np.where(valid, n + r, 1), np.nan).astype(np.float32)
    return averages, ndvi


def configure(workdir: Path, inputs: dict, **dask) -> list[str]:
    config = {
        "tables": {TABLE: {"url": str(inputs["csv"]), "blocksize": "1MB"}},
        "scenes": {
            SCENE: {
                "red": {"url": str(inputs["red"])},
                "nir": {"url": str(inputs["nir"])},
                "chunks": {"x": 256, "y": 256},
            }
        },
    }
    if dask:
        config["dask"] = dask
    (workdir / "mid.yaml").write_text(yaml.safe_dump(config))
    return [AVERAGES, NDVI, "--configfile", "config/config.yaml", "mid.yaml"]


def start_snakemake(workdir: Path, args: list[str], env: dict | None = None) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"} | (env or {})
    return subprocess.Popen(
        [str(SNAKEMAKE), "--cores", "2", *args],
        cwd=workdir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def computing(workdir: Path, rule_log: str) -> bool:
    log = workdir / "logs" / rule_log
    return log.exists() and "Dask scheduler:" in log.read_text()


def check_products(workdir: Path, expected) -> None:
    averages, ndvi = expected
    pd.testing.assert_frame_equal(
        pd.read_csv(workdir / AVERAGES, index_col="year"), averages, check_dtype=False, rtol=1e-12
    )
    with rasterio.open(workdir / NDVI) as out:
        np.testing.assert_allclose(out.read(1), ndvi, rtol=2e-7, equal_nan=True)
    assert list((workdir / "results").rglob("*.partial*")) == []


def final_products_are_complete_or_absent(workdir: Path, expected) -> None:
    """After an interruption: whatever sits at a final path must be whole."""
    averages, ndvi = expected
    if (workdir / AVERAGES).exists():
        pd.testing.assert_frame_equal(
            pd.read_csv(workdir / AVERAGES, index_col="year"), averages, check_dtype=False, rtol=1e-12
        )
    if (workdir / NDVI).exists():
        with rasterio.open(workdir / NDVI) as out:
            np.testing.assert_allclose(out.read(1), ndvi, rtol=2e-7, equal_nan=True)


def test_killed_worker_mid_computation(tmp_path, inputs, expected):
    from distributed import Client

    folder = tmp_path / "cluster"
    folder.mkdir()
    with dask_cluster_processes(folder, workers=2) as (address, _):
        workdir = copy_workflow(tmp_path / "checkout", performance_report=False)
        process = start_snakemake(workdir, configure(workdir, inputs, address=address))
        killed, dead = [], set()

        def busy_workers():
            # A killed worker stays listed, with its tasks, until the scheduler notices it died.
            return [w for w, tasks in client.processing().items() if tasks and w not in dead]

        with Client(address, timeout=30) as client:
            for rule_log in (f"tables/{TABLE}/averages.log", f"scenes/{SCENE}/ndvi.log"):
                wait_until(
                    lambda log=rule_log: computing(workdir, log),
                    120,
                    f"{rule_log} to start computing",
                    interval=0.05,
                )
                wait_until(busy_workers, 60, "tasks in flight", interval=0.05)
                busy = busy_workers()
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)  # the nanny starts a fresh worker
                killed.append(pid)
                dead.add(busy[0])
        output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    assert len(killed) == 2
    check_products(workdir, expected)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_snakemake_then_rerun(tmp_path, inputs, expected, sig):
    workdir = copy_workflow(tmp_path / "checkout")
    args = configure(workdir, inputs)
    process = start_snakemake(workdir, args)
    wait_until(
        lambda: (
            computing(workdir, f"scenes/{SCENE}/ndvi.log")
            or computing(workdir, f"tables/{TABLE}/averages.log")
        ),
        120,
        "a Dask rule to start computing",
        interval=0.05,
    )
    time.sleep(0.3)
    # The whole process group, as a terminal's Ctrl-C or a killed batch job would.
    os.killpg(process.pid, sig)
    process.communicate(timeout=120)
    final_products_are_complete_or_absent(workdir, expected)
    if sig == signal.SIGKILL:
        # Snakemake had no chance to release its lock: what it tells the user to do.
        run_snakemake(workdir, "--unlock", *args)
    run_snakemake(workdir, *args)
    check_products(workdir, expected)


def test_scheduler_disappears_mid_run(tmp_path, inputs, expected):
    folder = tmp_path / "cluster"
    folder.mkdir()
    workdir = copy_workflow(tmp_path / "checkout")
    with dask_cluster_processes(folder) as (address, _):
        args = configure(workdir, inputs, address=address, connect_timeout=5)
        process = start_snakemake(workdir, [NDVI, *args[2:]])
        wait_until(
            lambda: computing(workdir, f"scenes/{SCENE}/ndvi.log"),
            120,
            "ndvi to start computing",
            interval=0.05,
        )
        scheduler = next(p for p in _children_of(os.getpid()) if "scheduler" in p.cmdline())
        started = time.monotonic()
        scheduler.kill()
        _output, _ = process.communicate(timeout=300)
        elapsed = time.monotonic() - started
    assert process.returncode != 0
    assert elapsed < 90, f"the rule took {elapsed:.0f} s to give up"
    log = (workdir / f"logs/scenes/{SCENE}/ndvi.log").read_text()
    assert re.search(rf"lost the Dask scheduler at {re.escape(address)}", log), log
    assert not (workdir / NDVI).exists() and list((workdir / "results").rglob("*.partial*")) == []

    # A new scheduler: the rerun succeeds.
    folder2 = tmp_path / "cluster2"
    folder2.mkdir()
    with dask_cluster_processes(folder2) as (address2, _):
        run_snakemake(workdir, *configure(workdir, inputs, address=address2))
    check_products(workdir, expected)


def _children_of(pid: int):
    import psutil

    return psutil.Process(pid).children(recursive=True)


def test_disk_full_while_writing(tmp_path, inputs):
    if os.geteuid() != 0:
        require_service("mounting a small tmpfs needs root")
    workdir = copy_workflow(tmp_path / "checkout")
    results = workdir / "results"
    results.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(results)], capture_output=True
    )
    if mounted.returncode != 0:
        require_service(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        result = run_snakemake(workdir, NDVI, *configure(workdir, inputs)[2:], check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert re.search(
            r"no space left while writing \S*results/scenes/mid/ndvi.tif \(\d+ bytes free", output
        ), output
        assert not (workdir / NDVI).exists()
        assert list(results.rglob("*.partial*")) == []
    finally:
        subprocess.run(["umount", str(results)], check=False)

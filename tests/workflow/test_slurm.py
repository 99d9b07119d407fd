"""The workflow submitted through the SLURM profile, and Dask started as a SLURM job.

Runs against a real single-node SLURM on localhost (tests/services/local_slurm.py);
skipped, with the reason, where SLURM is not installed or the user is not root (in CI: failed).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from tests.helpers import ROOT, SNAKEMAKE, check_products, copy_workflow, require_service, run_snakemake
from tests.services.local_slurm import local_slurm, missing_reason

pytestmark = pytest.mark.workflow

COMPUTE_LOGS = [
    "tables/dg_soil_moisture/inspect_table.log",
    "tables/dg_soil_moisture/averages.log",
    "tables/dg_soil_moisture/plot_averages.log",
    "scenes/RU_ANS_TR2_FL005M/ndvi.log",
    "scenes/RU_ANS_TR2_FL005M/plot_ndvi.log",
]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    require_service(missing_reason())
    with local_slurm(tmp_path_factory.mktemp("slurm")) as env:
        yield env


def fitted_profile(workdir: Path) -> Path:
    """The shipped profile, fitted to a 2-core test node without accounting."""
    profile = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())
    profile["set-threads"] = dict.fromkeys(profile["set-threads"], 2)
    profile["slurm-status-command"] = "squeue"  # no accounting daemon here
    profile["slurm-init-seconds-before-status-checks"] = 1
    profile["latency-wait"] = 5
    folder = workdir / "test-profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def run_bounded(args, cwd, env, timeout):
    """Run snakemake; on timeout stop it with SIGINT (it ignores SIGTERM while jobs run)."""
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        pytest.fail(f"snakemake did not finish within {timeout} s:\n{output}")
    return process.returncode, output


def test_workflow_through_the_slurm_profile_matches_a_local_run(tmp_path, slurm):
    local = copy_workflow(tmp_path / "local")
    run_snakemake(local)

    workdir = copy_workflow(tmp_path / "slurm")
    profile = fitted_profile(workdir)
    code, output = run_bounded([str(SNAKEMAKE), "--profile", str(profile)], workdir, slurm, timeout=600)
    assert code == 0, output
    job_ids = set()
    for rule_log in COMPUTE_LOGS:
        found = re.search(r"running in SLURM job (\d+)", (workdir / "logs" / rule_log).read_text())
        assert found, f"{rule_log} did not run under SLURM"
        job_ids.add(found.group(1))
    assert len(job_ids) == len(COMPUTE_LOGS)  # one SLURM job per rule
    averages = "results/tables/dg_soil_moisture/averages.csv"
    assert (workdir / averages).read_bytes() == (local / averages).read_bytes()
    for product in ("results/scenes/RU_ANS_TR2_FL005M/ndvi.tif",):
        with rasterio.open(workdir / product) as a, rasterio.open(local / product) as b:
            assert {**a.profile, "nodata": None} == {**b.profile, "nodata": None}
            assert np.isnan(a.nodata) and np.isnan(b.nodata)
            np.testing.assert_array_equal(a.read(), b.read())
    # The Dask cluster inside each job sized itself from the job's 2 threads.
    assert "'threads_per_worker': 2" in (workdir / "logs" / COMPUTE_LOGS[1]).read_text()


def test_dask_cluster_as_a_slurm_job_through_a_scheduler_file(tmp_path, slurm, sample):
    scheduler_file = tmp_path / "scheduler.json"
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--cpus-per-task=2",
            "--mem=4000",
            f"--output={tmp_path / 'dask-%j.log'}",
            str(ROOT / "scripts/snakedask/tools/slurm_dask_cluster.sbatch"),
            str(scheduler_file),
        ],
        env={**slurm, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=True,
    )
    job_id = submitted.stdout.strip().split(";")[0]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            worker_env = client.run(lambda: os.environ.get("SLURM_JOB_ID"))
        assert set(worker_env.values()) == {job_id}  # the workers run inside the SLURM job

        workdir = copy_workflow(tmp_path / "checkout")
        (workdir / "hpc.yaml").write_text(yaml.safe_dump({"dask": {"scheduler_file": str(scheduler_file)}}))
        run_snakemake(workdir, "--configfile", "config/config.yaml", "hpc.yaml")
        for rule_log in ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log"):
            assert f"Dask scheduler: {address}" in (workdir / "logs" / rule_log).read_text()
        check_products(workdir, sample)
    finally:
        subprocess.run(["scancel", job_id], env=slurm, check=False)
        # Let SLURM end the job's steps before the daemons are stopped.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            queued = subprocess.run(["squeue", "-h", "-j", job_id], env=slurm, capture_output=True, text=True)
            if not queued.stdout.strip():
                break
            time.sleep(0.5)

"""The workflow submitted through the SLURM profile, Dask started as a SLURM job, and Dask
workers as SLURM jobs (dask.jobqueue) while Snakemake runs locally.

Runs against a real single-node SLURM on localhost (tests/services/local_slurm.py);
skipped, with the reason, where SLURM is not installed or the user is not root (in CI: failed).
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from snakedask_tools.checkout import snakemake_environment
from tests.helpers import (
    DASK_PRODUCTS,
    ROOT,
    SNAKEMAKE,
    check_products,
    copy_workflow,
    require_service,
    run_snakemake,
    wait_until,
)
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
def local_products(tmp_path_factory):
    """The Dask rules' products of a plain local run: the reference the SLURM runs must equal."""
    local = copy_workflow(tmp_path_factory.mktemp("local") / "checkout")
    run_snakemake(local, *DASK_PRODUCTS)
    return local


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
    profile["slurm-init-seconds-before-status-checks"] = 5  # a check finding no job done waits 10 s more
    profile["latency-wait"] = 5
    folder = workdir / "test-profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def assert_same_products(workdir: Path, local: Path) -> None:
    averages = "results/tables/dg_soil_moisture/averages.csv"
    assert (workdir / averages).read_bytes() == (local / averages).read_bytes()
    for product in ("results/scenes/RU_ANS_TR2_FL005M/ndvi.tif",):
        with rasterio.open(workdir / product) as a, rasterio.open(local / product) as b:
            assert {**a.profile, "nodata": None} == {**b.profile, "nodata": None}
            assert np.isnan(a.nodata) and np.isnan(b.nodata)
            np.testing.assert_array_equal(a.read(), b.read())


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


def test_workflow_through_the_slurm_profile_matches_a_local_run(tmp_path, slurm, local_products):
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
    assert_same_products(workdir, local_products)
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
            str(ROOT / "scripts/snakedask_tools/slurm_dask_cluster.sbatch"),
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
        assert address.startswith("tls://127.0.0.1:")  # TLS on one node too: other jobs share its loopback
        from distributed import Client
        from distributed.security import Security

        credentials = Path(f"{scheduler_file}.tls")
        security = {"ca_file": "ca.pem", "cert": "cert.pem", "key": "key.pem"}
        security = {key: str(credentials / name) for key, name in security.items()}
        with pytest.raises(OSError):  # no certificate, no connection
            Client(address.replace("tls://", "tcp://"), timeout=3)
        client_security = Security(
            tls_ca_file=security["ca_file"], tls_client_cert=security["cert"], tls_client_key=security["key"],
            require_encryption=True,
        )  # fmt: skip
        with Client(scheduler_file=str(scheduler_file), security=client_security, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            worker_env = client.run(lambda: os.environ.get("SLURM_JOB_ID"))
        assert set(worker_env.values()) == {job_id}  # the workers run inside the SLURM job

        workdir = copy_workflow(tmp_path / "checkout")
        hpc = {"dask": {"scheduler_file": str(scheduler_file), "security": security}}
        (workdir / "hpc.yaml").write_text(yaml.safe_dump(hpc))
        run_snakemake(workdir, *DASK_PRODUCTS, "--configfile", "config/config.yaml", "hpc.yaml")
        for rule_log in ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log"):
            assert f"Dask scheduler: {address}" in (workdir / "logs" / rule_log).read_text()
        check_products(workdir, sample, figures=False)
    finally:
        subprocess.run(["scancel", job_id], env=slurm, check=False)
        # Let SLURM end the job's steps before the daemons are stopped.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            queued = subprocess.run(["squeue", "-h", "-j", job_id], env=slurm, capture_output=True, text=True)
            if not queued.stdout.strip():
                break
            time.sleep(0.5)


# --- dask.jobqueue: Dask workers as SLURM jobs, Snakemake itself local ---------------------------------

# Sized for the 2-core test node: two Dask rules at once each get one 1-core worker job.
JOBQUEUE = {
    "kind": "slurm",
    "cores": 1,
    "memory": "1GB",
    "walltime": "00:10:00",
    "max_jobs": 1,
    "interface": "lo",
}
DASK_LOGS = ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log")


def worker_jobs(env) -> set[tuple[str, str, str]]:
    """(job ID, name, state) of the workflow's Dask worker jobs in the queue now."""
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i %j %T"], env=env, capture_output=True, text=True, check=True
    )
    return {
        tuple(line.split()) for line in out.stdout.splitlines() if line.split()[1].startswith("snakedask-")
    }


class QueueWatch:
    """Every worker job seen in ``squeue`` while the block runs (polled twice a second)."""

    def __init__(self, env):
        self.env, self.seen, self._stop = env, set(), threading.Event()

    def _poll(self):
        while not self._stop.is_set():
            self.seen |= worker_jobs(self.env)
            self._stop.wait(0.5)

    def __enter__(self):
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def with_config(workdir: Path, dask: dict) -> list[str]:
    (workdir / "jobqueue.yaml").write_text(yaml.safe_dump({"dask": dask}))
    return ["--configfile", "config/config.yaml", "jobqueue.yaml"]


def test_jobqueue_workers_are_slurm_jobs_that_come_and_go(tmp_path, slurm, sample, local_products):
    workdir = copy_workflow(tmp_path / "jobqueue")
    with QueueWatch(slurm) as queue:
        run_snakemake(workdir, *DASK_PRODUCTS, *with_config(workdir, {"jobqueue": JOBQUEUE}), env=slurm)
    names = {name for _, name, _ in queue.seen}
    assert len(names) == 2, queue.seen  # a cluster of worker jobs per Dask rule
    assert {state for *_, state in queue.seen} >= {"RUNNING"}
    job_ids = {job for job, *_ in queue.seen}
    for rule_log in DASK_LOGS:
        text = (workdir / "logs" / rule_log).read_text()
        assert re.search(r"Dask scheduler: tls://127\.0\.0\.1:\d+", text)  # interface lo, TLS by default
        ran = re.search(
            r"Dask workers ran in SLURM jobs \['(\d+)'\], importing snakedask from (\S+) \(this job's own files: nothing uploaded\)",
            text,
        )
        assert ran and ran.group(1) in job_ids, text
    assert worker_jobs(slurm) == set()  # cancelled when the rules ended
    assert_same_products(workdir, local_products)
    check_products(workdir, sample, figures=False)
    assert list((workdir / "logs/dask-jobqueue").glob("snakedask-*.err"))


def test_jobqueue_one_cluster_for_the_run(tmp_path, slurm, sample):
    workdir = copy_workflow(tmp_path / "shared")
    with QueueWatch(slurm) as queue:
        result = run_snakemake(
            workdir, *with_config(workdir, {"local": {"shared": True}, "jobqueue": JOBQUEUE}), env=slurm
        )
    assert len({name for _, name, _ in queue.seen}) == 1, queue.seen
    addresses = {
        re.search(r"Dask scheduler: (\S+)", (workdir / "logs" / rule_log).read_text()).group(1)
        for rule_log in DASK_LOGS
    }
    # TLS for the whole run: the rules' jobs hold the run's credentials (tls.FOLDER_VARIABLE).
    assert len(addresses) == 1 and next(iter(addresses)).startswith("tls://127.0.0.1:")
    assert f"shared Dask cluster for this run: {next(iter(addresses))}" in result.stderr
    wait_until(lambda: worker_jobs(slurm) == set(), 30, "worker jobs left after the run")
    check_products(workdir, sample)
    assert list((workdir / ".snakemake/dask-jobqueue-tls").iterdir()) == []  # its credentials are gone


def test_killed_run_leaves_no_worker_job(tmp_path, slurm):
    workdir = copy_workflow(tmp_path / "killed")
    args = with_config(workdir, {"jobqueue": {**JOBQUEUE, "min_jobs": 1}})
    process = subprocess.Popen(
        [str(SNAKEMAKE), "--cores", "2", *args],
        cwd=workdir,
        env=snakemake_environment(extra=slurm),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: any(state == "RUNNING" for *_, state in worker_jobs(slurm)), 120, "no worker job started"
        )
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # Snakemake and its jobs: no cleanup code runs
        process.wait()
    products = [
        workdir / "results/tables/dg_soil_moisture/averages.csv",
        workdir / "results/scenes/RU_ANS_TR2_FL005M/ndvi.tif",
    ]
    assert not all(p.exists() for p in products)  # killed while a Dask rule was still at work
    wait_until(
        lambda: worker_jobs(slurm) == set(), 30, "worker jobs left in the queue after the run was killed"
    )


def test_worker_job_no_node_can_run_is_refused_before_queueing(tmp_path, slurm):
    workdir = copy_workflow(tmp_path / "too-big")
    args = with_config(workdir, {"jobqueue": {**JOBQUEUE, "cores": 64}})
    # Targets first: --configfile takes every argument after it.
    result = run_snakemake(
        workdir, "results/tables/dg_soil_moisture/averages.csv", *args, env=slurm, check=False
    )
    assert result.returncode != 0
    text = (workdir / "logs/tables/dg_soil_moisture/averages.log").read_text()
    assert "SLURM would never run a Dask worker job as configured (dask.jobqueue: cores = 64" in text, text
    assert "Requested node configuration is not available" in text
    assert worker_jobs(slurm) == set()


def test_jobqueue_plain_tcp_only_when_asked_and_with_a_warning(tmp_path, slurm, sample):
    workdir = copy_workflow(tmp_path / "tcp")
    args = with_config(workdir, {"jobqueue": {**JOBQUEUE, "tls": False}})
    run_snakemake(workdir, "results/tables/dg_soil_moisture/averages.csv", *args, env=slurm)
    text = (workdir / "logs/tables/dg_soil_moisture/averages.log").read_text()
    assert re.search(r"Dask scheduler: tcp://127\.0\.0\.1:\d+", text), text
    assert re.search(
        r"WARNING .*dask.jobqueue.tls is false: the scheduler at tcp://127\.0\.0\.1:\d+", text
    ), text
    assert "Dask workers ran in SLURM jobs ['" in text
    expected = pd.read_csv(sample["csv"], encoding="latin-1").groupby("year").mean(numeric_only=True)
    got = pd.read_csv(workdir / "results/tables/dg_soil_moisture/averages.csv", index_col="year")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)
    wait_until(lambda: worker_jobs(slurm) == set(), 30, "worker jobs left after the run")

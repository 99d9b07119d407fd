"""dask.jobqueue settings: what SLURMCluster is asked for, and the config errors that come before any job.

The workers as real SLURM jobs are tested in tests/workflow/test_slurm.py.
"""

import shutil

import pytest
import yaml

from snakedask.errors import ClusterConfigError
from snakedask.jobqueue import (
    JobqueueCluster,
    cluster_kwargs,
    new_job_name,
)
from tests.helpers import ROOT


def defaults() -> dict:
    """dask.jobqueue as the schema fills it in."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    keys = schema["properties"]["dask"]["properties"]["jobqueue"]["properties"]
    return {name: key["default"] for name, key in keys.items()}


def test_config_becomes_slurm_cluster_arguments(tmp_path):
    jobqueue = {
        **defaults(),
        "kind": "slurm",
        "queue": "short",
        "account": "geo",
        "job_extra": ["--qos=low"],
        "interface": "lo",
    }
    kwargs = cluster_kwargs(jobqueue, "snakedask-1-abc", tmp_path)
    assert kwargs["cores"] == 4 and kwargs["memory"] == "16GB" and kwargs["processes"] == 1
    assert (kwargs["queue"], kwargs["account"], kwargs["walltime"]) == ("short", "geo", "01:00:00")
    assert kwargs["job_extra_directives"] == ["--qos=low"]
    assert kwargs["interface"] == "lo" and kwargs["job_name"] == "snakedask-1-abc"
    assert kwargs["log_directory"] == str(tmp_path)
    # The dashboard stays on this machine; TLS with the credentials' files, given them.
    assert kwargs["scheduler_options"] == {"dashboard_address": "127.0.0.1:0"}
    assert "security" not in kwargs
    secure = cluster_kwargs(jobqueue, "n", tmp_path, credentials=tmp_path / "tls")
    assert secure["security"].tls_ca_file == str(tmp_path / "tls" / "ca.pem")
    assert secure["security"].require_encryption
    assert defaults()["tls"] is True  # TLS unless config says `tls: false`


def test_job_script_has_the_settings(tmp_path):
    from dask_jobqueue import SLURMCluster

    jobqueue = {
        **defaults(),
        "kind": "slurm",
        "cores": 2,
        "memory": "3GB",
        "queue": "short",
        "interface": "lo",
    }
    cluster = SLURMCluster(**cluster_kwargs(jobqueue, "snakedask-7-abc", tmp_path))
    try:
        script = cluster.job_script()
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")  # interface lo: loopback only
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
    finally:
        cluster.close()
    for line in (
        "#SBATCH -J snakedask-7-abc",
        "#SBATCH -p short",
        "#SBATCH --cpus-per-task=2",
        "--interface lo",
    ):
        assert line in script
    assert "--nthreads 2" in script


def test_job_names_are_unique():
    assert len({new_job_name() for _ in range(100)}) == 100


def test_min_jobs_above_max_jobs_is_a_config_error():
    with pytest.raises(ClusterConfigError, match=r"min_jobs = 3 is more than dask.jobqueue.max_jobs = 2"):
        JobqueueCluster({**defaults(), "kind": "slurm", "min_jobs": 3, "max_jobs": 2}).start()


def test_no_sbatch_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without sbatch
    assert shutil.which("sbatch") is None
    with pytest.raises(ClusterConfigError, match=r"`sbatch` is not on PATH.*dask.jobqueue.kind: null"):
        JobqueueCluster({**defaults(), "kind": "slurm"}, log_directory=tmp_path).start()


def test_unknown_interface_is_a_config_error(tmp_path):
    with pytest.raises(
        ClusterConfigError, match=r"interface = 'nosuch0'.*not a valid network interface.*'lo'"
    ):
        JobqueueCluster(
            {**defaults(), "kind": "slurm", "interface": "nosuch0"}, log_directory=tmp_path
        ).start()


def test_tls_scheduler_refuses_plain_tcp_and_strangers(tmp_path):
    from distributed import Client

    from snakedask import tls

    jobqueue = {**defaults(), "kind": "slurm", "cores": 1, "memory": "1GB", "interface": "lo"}
    cluster = JobqueueCluster(jobqueue, log_directory=tmp_path, credentials=tmp_path / "tls")
    # The SLURMCluster alone (no jobs, no sbatch needed): JobqueueCluster.start adds the checks and the watchdog.
    from dask_jobqueue import SLURMCluster

    tls.make_credentials(cluster.credentials)
    slurm = SLURMCluster(**cluster_kwargs(jobqueue, cluster.job_name, tmp_path, cluster.credentials))
    try:
        address = slurm.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        assert (tmp_path / "tls").stat().st_mode & 0o777 == 0o700
        with pytest.raises(OSError):  # CommClosedError: the TLS listener drops a plain TCP hello
            Client(address.replace("tls://", "tcp://"), timeout=5)
        stranger = tls.security(tls.make_credentials(tmp_path / "stranger"))
        with pytest.raises(OSError):
            Client(address, security=stranger, timeout=5)
        with Client(address, security=tls.security(cluster.credentials), timeout=10) as client:
            assert client.scheduler.address == address
        assert "--tls-key" in slurm.job_script() and str(tmp_path / "tls" / "key.pem") in slurm.job_script()
    finally:
        slurm.close()
        cluster.cluster = slurm
        cluster.close()  # as after a run: the credentials go
    assert not (tmp_path / "tls").exists()

"""Dask workers as SLURM jobs (``dask.jobqueue``), with dask-jobqueue's ``SLURMCluster``.

The scheduler runs where the cluster is made (the rule's process, or with
``dask.local.shared`` one process for the whole run, :class:`SharedJobqueueCluster`);
the workers are batch jobs that scale adaptively between ``min_jobs`` and
``max_jobs``. Worker jobs run this job's Python (``sys.executable``), so on a
shared filesystem they import this package from the same files: nothing is
uploaded.

No worker job outlives its owner:

* a normal end closes the cluster, which ``scancel``\\ s its jobs;
* a watchdog process (its own session, so a signal to the job's process
  group does not reach it) waits for the owner's PID to go and then cancels
  every job with the cluster's unique job name (``scancel --name``), so a
  killed or interrupted rule leaves nothing queued or running either.

Before any job is queued, ``sbatch --test-only`` checks the request: a worker
that no node or partition can run is a config error naming the keys, not a
run that waits forever. Commands are argument lists: no config string
reaches a shell.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snakedask import tls, watchdog
from snakedask.errors import ClusterConfigError
from snakedask.shared_cluster import stop_processes

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster

log = logging.getLogger("workflow.dask")

KINDS = ("slurm",)
# Worker jobs' own logs (stdout/stderr of each batch job), relative to the working directory.
LOG_FOLDER = Path("logs/dask-jobqueue")
# With dask.jobqueue.tls: each cluster's credentials, on the filesystem the worker jobs share (mode 0700).
TLS_FOLDER = Path(".snakemake/dask-jobqueue-tls")


def new_job_name() -> str:
    """A job name no one else uses: the watchdog cancels by name."""
    return f"snakedask-{os.getpid()}-{secrets.token_hex(3)}"


def cluster_kwargs(
    jobqueue: dict[str, Any], job_name: str, log_directory: Path, credentials: Path | None = None
) -> dict[str, Any]:
    """``SLURMCluster`` arguments from the config's ``dask.jobqueue`` (schema defaults filled in);
    ``credentials``: the folder of the cluster's TLS files (:mod:`tls`), None for plain TCP."""
    kwargs: dict[str, Any] = {
        "cores": int(jobqueue["cores"]),
        "memory": str(jobqueue["memory"]),
        # One worker process per job with `cores` threads: the kernels here release the GIL.
        "processes": int(jobqueue.get("processes") or 1),
        "walltime": jobqueue.get("walltime"),
        "queue": jobqueue.get("queue"),
        "account": jobqueue.get("account"),
        "job_extra_directives": [str(d) for d in jobqueue.get("job_extra") or []],
        "interface": jobqueue.get("interface"),
        "job_name": job_name,
        "log_directory": str(log_directory),
        "python": sys.executable,
        # The dashboard stays on this machine unless config says otherwise; the scheduler
        # itself must listen where the worker jobs can reach it (`interface`).
        "scheduler_options": {"dashboard_address": jobqueue.get("dashboard_address") or "127.0.0.1:0"},
    }
    if credentials is not None:
        # Files on the filesystem the jobs share, readable by this user only: dask-jobqueue passes
        # their paths to the workers as they are.
        kwargs["security"] = tls.security(credentials)
    return kwargs


def _sbatch() -> str:
    found = shutil.which("sbatch")
    if found is None:
        raise ClusterConfigError(
            "dask.jobqueue.kind = 'slurm' but SLURM's `sbatch` is not on PATH here. Run where SLURM "
            "is installed (a login node), or set dask.jobqueue.kind: null."
        )
    return found


def check_request(job_script: str, jobqueue: dict[str, Any]) -> None:
    """Ask SLURM (``sbatch --test-only``) whether a worker job could ever run; ClusterConfigError if not."""
    result = subprocess.run(
        [_sbatch(), "--test-only"], input=job_script, capture_output=True, text=True, timeout=60
    )
    if result.returncode == 0:
        return
    said = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
    keys = ", ".join(
        f"{key} = {jobqueue.get(key)!r}"
        for key in ("cores", "memory", "walltime", "queue", "account", "job_extra")
    )
    raise ClusterConfigError(
        f"SLURM would never run a Dask worker job as configured (dask.jobqueue: {keys}). sbatch --test-only "
        f"said: {said}. Ask for what a node of the partition has (`sinfo -o '%P %c %m %l'`) or fix the "
        "partition/account names."
    )


def start_watchdog(job_name: str, owner: int | None = None) -> subprocess.Popen:
    """A process that cancels the jobs named ``job_name`` once ``owner`` (default: this process) has exited."""
    return watchdog.start("snakedask.jobqueue", "--job-name", job_name, owner=owner)


def cancel_jobs(job_name: str) -> None:
    """``scancel`` this user's jobs named ``job_name`` (running or still queued)."""
    scancel = shutil.which("scancel")
    if scancel:
        subprocess.run(
            [scancel, "--name", job_name, "--user", getpass.getuser()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )


def watch(owner: int, job_name: str, interval: float = 1.0) -> None:
    """Wait for ``owner`` to exit, then cancel its jobs; again a little later, for a submission in flight."""
    watchdog.wait_for_exit(owner, interval)
    for delay in (0, 2, 5):
        time.sleep(delay)
        cancel_jobs(job_name)


class JobqueueCluster:
    """A ``SLURMCluster`` scaling adaptively, checked before use, with a watchdog on its jobs."""

    def __init__(
        self,
        jobqueue: dict[str, Any],
        owner: int | None = None,
        log_directory: Path = LOG_FOLDER,
        credentials: Path | None = None,
    ):
        self.jobqueue = jobqueue
        self.owner = owner
        self.job_name = new_job_name()
        self.log_directory = Path(log_directory).absolute()
        self.cluster: SLURMCluster | None = None
        self.watchdog: subprocess.Popen | None = None
        # TLS unless `tls: false`; the folder is made in start() and deleted in close().
        if credentials is None and jobqueue.get("tls", True) is not False:
            credentials = TLS_FOLDER / self.job_name
        self.credentials = Path(credentials).absolute() if credentials is not None else None

    def start(self) -> SLURMCluster:
        kind = self.jobqueue.get("kind")
        if kind not in KINDS:
            raise ClusterConfigError(
                f"dask.jobqueue.kind = {kind!r}: supported kinds are {list(KINDS)} (or null)."
            )
        if int(self.jobqueue["min_jobs"]) > int(self.jobqueue["max_jobs"]):
            raise ClusterConfigError(
                f"dask.jobqueue.min_jobs = {self.jobqueue['min_jobs']} is more than dask.jobqueue.max_jobs = "
                f"{self.jobqueue['max_jobs']}: make min_jobs at most max_jobs."
            )
        from dask_jobqueue import SLURMCluster

        self.log_directory.mkdir(parents=True, exist_ok=True)
        if self.credentials is not None:
            tls.make_credentials(self.credentials)
        kwargs = cluster_kwargs(self.jobqueue, self.job_name, self.log_directory, self.credentials)
        try:
            self.cluster = SLURMCluster(**kwargs)
        except (ValueError, RuntimeError) as err:  # e.g. an interface this host does not have
            tls.remove(self.credentials)
            raise ClusterConfigError(
                f"dask.jobqueue: the scheduler did not start with interface = {kwargs['interface']!r}, "
                f"dashboard_address = {kwargs['scheduler_options']['dashboard_address']!r}: {err}"
            ) from None
        if self.credentials is None:
            log.warning(
                "dask.jobqueue.tls is false: the scheduler at %s and its workers talk plain TCP, and anyone "
                "who can reach that port can run code as you",
                self.cluster.scheduler_address,
            )
        try:
            check_request(self.cluster.job_script(), self.jobqueue)
            self.watchdog = start_watchdog(self.job_name, self.owner)
            self.cluster.adapt(
                minimum_jobs=int(self.jobqueue["min_jobs"]), maximum_jobs=int(self.jobqueue["max_jobs"])
            )
        except BaseException:
            self.close()
            raise
        log.info(
            "Dask workers as SLURM jobs named %s (%s cores, %s each, %d-%d jobs, adaptive); their logs: %s",
            self.job_name,
            kwargs["cores"],
            kwargs["memory"],
            self.jobqueue["min_jobs"],
            self.jobqueue["max_jobs"],
            self.log_directory,
        )
        return self.cluster

    def close(self) -> None:
        """Close the cluster (cancels its jobs) and make sure of it; then the watchdog is not needed."""
        if self.cluster is not None:
            try:
                self.cluster.close()
            finally:
                self.cluster = None
                cancel_jobs(self.job_name)
                tls.remove(self.credentials)
        if self.watchdog is not None and self.owner is None:
            self.watchdog.terminate()
            self.watchdog.wait()
            self.watchdog = None


def _job_and_package() -> tuple[str | None, str | None]:
    """On a worker: its SLURM job and where it imports this package from."""
    try:
        import snakedask
    except ImportError:
        return os.environ.get("SLURM_JOB_ID"), None
    return os.environ.get("SLURM_JOB_ID"), snakedask.__file__


def worker_jobs(client) -> dict[str, tuple[str | None, str | None]]:
    """Per worker: its SLURM job ID and the ``snakedask`` it imports (what the rule log records)."""
    return client.run(_job_and_package, on_error="ignore")  # a worker gone since: not an error


# --- one cluster for the whole run (dask.local.shared with dask.jobqueue) -----------------------------


class SharedJobqueueCluster:
    """A process that holds one ``SLURMCluster`` for a Snakemake run; jobs reach it by address.

    Same interface as :class:`shared_cluster.SharedCluster`: ``start()`` returns the
    scheduler's address, ``stop()`` closes it. The process and its watchdog end
    with the Snakemake process that started them.
    """

    def __init__(self, folder: Path, jobqueue: dict[str, Any], timeout: float = 120):
        self.folder = Path(folder)
        self.jobqueue = jobqueue
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.address: str | None = None
        # The run's credentials, made by the serving process; the jobs find them through tls.FOLDER_VARIABLE.
        tls_on = jobqueue.get("tls", True) is not False
        self.credentials = (TLS_FOLDER / f"run-{os.getpid()}").absolute() if tls_on else None

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / f"jobqueue-{os.getpid()}.json"
        config.write_text(json.dumps(self.jobqueue))
        address_file = self.folder / f"jobqueue-address-{os.getpid()}.json"
        address_file.unlink(missing_ok=True)
        with open(self.folder / "jobqueue.log", "w") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "snakedask.jobqueue",
                    "serve",
                    "--owner",
                    str(os.getpid()),
                    "--config",
                    str(config),
                    "--address-file",
                    str(address_file),
                    "--log-directory",
                    str(LOG_FOLDER.absolute()),
                    *(["--credentials", str(self.credentials)] if self.credentials is not None else []),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if address_file.exists():
                self.address = json.loads(address_file.read_text())["address"]
                return self.address
            if self.process.poll() is not None:
                said = (self.folder / "jobqueue.log").read_text().strip().splitlines()
                raise ClusterConfigError(
                    f"the run's Dask cluster of SLURM worker jobs did not start: {said[-1] if said else '?'} "
                    f"(see {self.folder / 'jobqueue.log'})"
                )
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(
            f"the run's Dask cluster of SLURM worker jobs did not start within {self.timeout:g} s"
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process], timeout=60)  # SIGTERM: it closes the cluster, cancelling its jobs
        self.process = None
        tls.remove(self.credentials)  # already gone unless the process was killed


def serve(
    owner: int, config: Path, address_file: Path, log_directory: Path, credentials: Path | None = None
) -> None:
    """Hold a :class:`JobqueueCluster` until ``owner`` exits or SIGTERM comes; write its address first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    cluster = JobqueueCluster(
        json.loads(config.read_text()), owner=owner, log_directory=log_directory, credentials=credentials
    )
    try:
        cluster.start()
    except ClusterConfigError as err:
        print(err, flush=True)
        raise SystemExit(1) from None
    try:
        partial = address_file.with_name(f".{address_file.name}.partial")
        partial.write_text(json.dumps({"address": cluster.cluster.scheduler_address}))
        partial.replace(address_file)
        while not stopping and watchdog.alive(owner):
            time.sleep(0.5)
    finally:
        cluster.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m snakedask.jobqueue", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    watching = commands.add_parser("watch", help="cancel a cluster's worker jobs once its owner exits")
    watching.add_argument("--owner", type=int, required=True)
    watching.add_argument("--job-name", required=True)
    serving = commands.add_parser("serve", help="hold one cluster of SLURM worker jobs for a Snakemake run")
    serving.add_argument("--owner", type=int, required=True)
    serving.add_argument("--config", type=Path, required=True)
    serving.add_argument("--address-file", type=Path, required=True)
    serving.add_argument("--log-directory", type=Path, required=True)
    serving.add_argument("--credentials", type=Path, help="the folder to make the cluster's TLS files in")
    args = parser.parse_args(argv)
    if args.command == "watch":
        watch(args.owner, args.job_name)
    else:
        serve(args.owner, args.config, args.address_file, args.log_directory, args.credentials)


if __name__ == "__main__":
    main()

"""One Dask scheduler and worker for a whole Snakemake run (``dask.local.shared: true``).

Started from the Snakefile's ``onstart`` handler, stopped by ``onsuccess`` /
``onerror``; every rule script finds it through ``DASK_SCHEDULER_ADDRESS``
(which jobs inherit). It saves each Dask rule the cost of starting its own
LocalCluster. Both processes listen on ``host`` (127.0.0.1 by default), so it
serves jobs on this machine only: with a cluster executor (SLURM) use
``dask.scheduler_file`` instead. They talk TLS with credentials made for the
run (:mod:`tls`), which jobs find through ``tls.FOLDER_VARIABLE``: other users
of the machine cannot use the port.

Commands are argument lists: no config string ever reaches a shell.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from snakedask import tls
from snakedask.cluster import read_scheduler_file

# The PID of the Snakemake process that owns the cluster; the scheduler exits
# when that process is gone (killed runs leave nothing running).
OWNER_VARIABLE = "WORKFLOW_SHARED_CLUSTER_OWNER"


def dask_setup(scheduler) -> None:
    """Preload hook (``dask scheduler --preload snakedask.shared_cluster``): a watchdog on the owner."""
    import asyncio

    from tornado.ioloop import PeriodicCallback

    owner = int(os.environ[OWNER_VARIABLE])

    def check_owner() -> None:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            watchdog.stop()
            asyncio.get_running_loop().create_task(scheduler.close())

    watchdog = PeriodicCallback(check_owner, 2000)
    watchdog.start()


class SharedCluster:
    def __init__(
        self,
        folder: Path,
        threads: int,
        memory_limit: str = "auto",
        host: str = "127.0.0.1",
        dashboard_address: str = "127.0.0.1:0",
        timeout: float = 60,
        use_tls: bool = True,
    ):
        self.folder = Path(folder)
        self.threads, self.memory_limit = threads, memory_limit
        self.host, self.dashboard_address, self.timeout = host, dashboard_address, timeout
        self.processes: list[subprocess.Popen] = []
        self.address: str | None = None
        # The run's credentials (tls.FOLDER_VARIABLE tells the jobs); None: plain TCP.
        self.credentials: Path | None = self.folder / f"tls-{os.getpid()}" if use_tls else None

    def _dask(self, *args: str, log: str) -> subprocess.Popen:
        dask = Path(sys.executable).with_name("dask")
        command = [str(dask)] if dask.exists() else [sys.executable, "-m", "dask"]
        # Workers import this package from the environment (make setup installs it): numba's
        # compiled code is then cached once for the whole run, and nothing is uploaded.
        env = {**os.environ, OWNER_VARIABLE: str(os.getpid())}
        with open(self.folder / log, "w") as out:
            process = subprocess.Popen([*command, *args], stdout=out, stderr=subprocess.STDOUT, env=env)
        self.processes.append(process)
        return process

    def start(self) -> str:
        """Start scheduler and worker; return the scheduler's address once a worker is registered."""
        self.folder.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.folder / f"scheduler-{os.getpid()}.json"
        scheduler_file.unlink(missing_ok=True)
        secure = []
        if self.credentials is not None:
            secure = tls.command_line(tls.make_credentials(self.credentials))
        self._dask(
            "scheduler",
            *(["--protocol", "tls"] if secure else []),
            *secure,
            "--host",
            self.host,
            "--port",
            "0",
            "--dashboard-address",
            self.dashboard_address,
            "--scheduler-file",
            str(scheduler_file),
            "--preload",
            __name__,
            log="scheduler.log",
        )
        # --death-timeout: the worker follows the scheduler out.
        self._dask(
            "worker",
            "--scheduler-file",
            str(scheduler_file),
            "--nworkers",
            "1",
            "--death-timeout",
            "10",
            "--nthreads",
            str(self.threads),
            "--memory-limit",
            str(self.memory_limit),
            "--host",
            self.host,
            "--dashboard-address",
            f"{self.host}:0",
            *secure,
            log="worker.log",
        )
        deadline = time.monotonic() + self.timeout
        while (info := read_scheduler_file(scheduler_file)) is None:
            self._check_running()
            if time.monotonic() > deadline:
                self._give_up()
            time.sleep(0.2)
        address = info["address"]
        from distributed import Client

        security = tls.security(self.credentials) if self.credentials is not None else None
        try:
            with Client(address, security=security, timeout=max(1.0, deadline - time.monotonic())) as client:
                client.wait_for_workers(1, timeout=max(1.0, deadline - time.monotonic()))
        except (OSError, TimeoutError):
            self._check_running()
            self._give_up()
        self.address = address
        return address

    def _check_running(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the shared Dask cluster exited early; see {self.folder}/*.log")

    def _give_up(self) -> None:
        self.stop()
        raise TimeoutError(
            f"the shared Dask cluster did not start within {self.timeout:g} s; see {self.folder}/*.log"
        )

    def stop(self) -> None:
        stop_processes(self.processes)
        self.processes.clear()
        tls.remove(self.credentials)


def stop_processes(processes: list[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM each process (last started first), then SIGKILL what is still running after ``timeout``."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""A real `dask scheduler` and `dask worker` on 127.0.0.1, as separate processes."""

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from snakedask.shared_cluster import stop_processes
from tests.helpers import wait_until


def _wait_for_json(path: Path, timeout: float = 60) -> dict:
    def readable():
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    wait_until(readable, timeout, f"{path} was not written within {timeout} s")
    return readable()


def _wait_for_worker(log: Path, workers: int = 1, timeout: float = 60) -> None:
    wait_until(
        lambda: log.read_text().count("Registered to:") >= workers,
        timeout,
        f"the Dask worker did not register within {timeout} s; see {log}",
    )


@contextlib.contextmanager
def dask_cluster_processes(
    folder: Path,
    *tls_args: str,
    workers: int = 1,
    command_prefix: list[str] | None = None,
    dask: Path | None = None,
    cwd: Path | None = None,
):
    """A real `dask scheduler` and `dask worker` (``workers`` nanny-managed processes) on
    127.0.0.1, stopped afterwards.

    Yields ``(address, scheduler_file)``; ``tls_args`` (``--tls-ca-file`` etc.)
    make both use TLS. ``command_prefix`` (e.g. ``runuser -u USER -- env -i ...``), ``dask`` (the
    `dask` command; default: this Python's) and ``cwd``: how and where both are started.
    """
    scheduler_file = folder / "scheduler.json"
    prefix = command_prefix or []
    dask = str(dask or Path(sys.executable).with_name("dask"))
    logs = [open(folder / name, "w") for name in ("scheduler.log", "worker.log")]  # noqa: SIM115 - closed below
    protocol = ["--protocol", "tls"] if tls_args else []
    processes = [
        subprocess.Popen(
            [
                *prefix,
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
            cwd=cwd,
        )
    ]
    try:
        address = _wait_for_json(scheduler_file)["address"]
        processes.append(
            subprocess.Popen(
                [
                    *prefix,
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
                cwd=cwd,
            )
        )
        _wait_for_worker(folder / "worker.log", workers)
        yield address, scheduler_file
    finally:
        # The workers first, then the scheduler: a worker whose scheduler closes while it
        # closes itself hangs until its nanny kills it (8 s).
        for process in reversed(processes):
            stop_processes([process])
        for log in logs:
            log.close()

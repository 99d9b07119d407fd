"""One Dask cluster for a whole Snakemake run (``dask.local.shared``), started and stopped by the Snakefile.

Local processes (:class:`shared_cluster.SharedCluster`) or, with
``dask.jobqueue.kind`` too, SLURM worker jobs
(:class:`jobqueue.SharedJobqueueCluster`). The jobs are the Snakemake
process's children: they find the cluster through the environment variables
:func:`start_run_cluster` returns.
"""

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from snakedask import tls
from snakedask.cluster import ADDRESS_VARIABLE, choose_cluster
from snakedask.errors import ClusterConfigError
from snakedask.jobqueue import SharedJobqueueCluster
from snakedask.shared_cluster import SharedCluster


class RunCluster(Protocol):
    credentials: Path | None
    address: str | None

    def start(self) -> str: ...

    def stop(self) -> None: ...


def start_run_cluster(
    dask_config: dict[str, Any], folder: Path, cores: Callable[[], int]
) -> tuple[RunCluster, dict[str, str]] | None:
    """Start the run's shared cluster if config asks for one: (cluster, variables the jobs need).

    ``cores()`` (the run's --cores) is asked only when a local worker needs it: Snakemake
    refuses the question when jobs go to a cluster executor.

    None when jobs use another kind of cluster. A jobqueue setting the batch
    system refuses raises :class:`errors.ClusterConfigError`.
    """
    choice = choose_cluster(dask_config)
    if choice.kind != "shared":
        return None
    cluster: RunCluster
    if choice.target:  # the workers are SLURM jobs
        cluster = SharedJobqueueCluster(folder, dask_config["jobqueue"])
    else:
        local = dask_config["local"]
        cluster = SharedCluster(
            folder,
            threads=local["threads_per_worker"] or cores(),
            memory_limit=local["memory_limit"] or "auto",
            host=local["host"],
            dashboard_address=local["dashboard_address"],
            use_tls=local["tls"],
        )
    environment = {ADDRESS_VARIABLE: cluster.start()}
    if cluster.credentials is not None:
        environment[tls.FOLDER_VARIABLE] = str(Path(cluster.credentials).absolute())
    return cluster, environment


def start_for_snakemake(
    dask_config: dict[str, Any], folder: Path, cores: Callable[[], int]
) -> RunCluster | None:
    """:func:`start_run_cluster` in the Snakemake process (onstart): its variables set in
    ``os.environ`` (the jobs are its children and inherit them), a config error shown alone
    (no traceback) with exit status 1."""
    try:
        started = start_run_cluster(dask_config, folder, cores)
    except ClusterConfigError as err:
        print(f"Config error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    if started is None:
        return None
    cluster, environment = started
    os.environ.update(environment)
    return cluster

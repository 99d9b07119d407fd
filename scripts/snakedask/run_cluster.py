"""One Dask cluster for a whole Snakemake run (``dask.local.shared``), started and stopped by the Snakefile.

Local processes (:class:`shared_cluster.SharedCluster`) or, with
``dask.jobqueue.kind`` too, SLURM worker jobs
(:class:`jobqueue.SharedJobqueueCluster`). The jobs are the Snakemake
process's children: they find the cluster through the environment variables
:func:`start_run_cluster` sets.
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
) -> RunCluster | None:
    """Start the run's shared cluster if config asks for one (the Snakefile's onstart); None otherwise.

    The variables the jobs need (its address, its TLS credentials) are set in
    ``os.environ``: the jobs are this process's children and inherit them.
    ``cores()`` (the run's --cores) is asked only when a local worker needs it:
    Snakemake refuses the question when jobs go to a cluster executor. A jobqueue
    setting the batch system refuses is shown alone (no traceback), exit status 1.
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
    try:
        os.environ[ADDRESS_VARIABLE] = cluster.start()
    except ClusterConfigError as err:
        print(f"Config error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    if cluster.credentials is not None:
        os.environ[tls.FOLDER_VARIABLE] = str(Path(cluster.credentials).absolute())
    return cluster

"""One Dask cluster for a whole Snakemake run (``dask.local.shared``), started and stopped by the Snakefile.

Local processes (:class:`shared_cluster.SharedCluster`), with
``dask.jobqueue.kind`` too SLURM worker jobs
(:class:`jobqueue.SharedJobqueueCluster`), or with ``dask.gateway.enabled`` a
cluster from a dask-gateway (:class:`gateway.SharedGatewayCluster`). The jobs are the Snakemake
process's children: they find the cluster through the environment variables
:func:`start_run_cluster` sets.
"""

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from snakedask import tls
from snakedask.cluster import ADDRESS_VARIABLE, GATEWAY, choose_cluster
from snakedask.errors import ClusterConfigError, SchedulerUnreachable
from snakedask.gateway import CLUSTER_VARIABLE, SharedGatewayCluster
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

    The variables the jobs need (its address, its TLS credentials; a gateway
    cluster's name) are set in ``os.environ``: the jobs are this process's children
    and inherit them. ``cores()`` (the run's --cores) is asked only when a local
    worker needs it: Snakemake refuses the question when jobs go to a cluster
    executor. A jobqueue setting the batch system refuses, or a gateway that
    refuses or does not answer, is shown alone (no traceback), exit status 1.
    """
    choice = choose_cluster(dask_config)
    if choice.kind != "shared":
        return None
    cluster: RunCluster
    variable = ADDRESS_VARIABLE
    if choice.target == GATEWAY:  # the jobs join it by name, through the gateway
        cluster = SharedGatewayCluster(dask_config["gateway"], float(dask_config.get("connect_timeout", 30)))
        variable = CLUSTER_VARIABLE
    elif choice.target:  # the workers are SLURM jobs
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
        os.environ[variable] = cluster.start()
    except (ClusterConfigError, SchedulerUnreachable) as err:
        print(f"{'Config error' if isinstance(err, ClusterConfigError) else 'Error'}: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    if cluster.credentials is not None:
        os.environ[tls.FOLDER_VARIABLE] = str(Path(cluster.credentials).absolute())
    return cluster

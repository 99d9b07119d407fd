"""Fixtures for every test: the sample data, a workflow copy, real Dask schedulers.

Helper functions are in tests/helpers.py and the services in tests/services/;
import them from there (``from tests.helpers import run_snakemake``).
"""

import pytest

from snakedask_tools.checkout import SAMPLE
from tests.helpers import copy_workflow, require_service
from tests.services import certificates
from tests.services.dask_processes import dask_cluster_processes


@pytest.fixture(scope="session")
def sample():
    """Paths of the bundled sample files."""
    return {
        "csv": SAMPLE / "dg_soil_moisture.csv",
        "red": SAMPLE / "RU_ANS_TR2_FL005M_red.tif",
        "nir": SAMPLE / "RU_ANS_TR2_FL005M_nir.tif",
    }


@pytest.fixture
def workdir(tmp_path):
    """A copy of the checkout for a test of what a run computes (no Dask performance reports)."""
    return copy_workflow(tmp_path / "checkout", performance_report=False)


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """A plain tcp:// scheduler and worker: ``(address, scheduler_file)``."""
    with dask_cluster_processes(tmp_path_factory.mktemp("dask")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def tls_scheduler(tmp_path_factory):
    """A TLS-only scheduler and worker: ``(address, security config)``."""
    require_service(certificates.missing_reason())
    folder = tmp_path_factory.mktemp("dask-tls")
    certs = certificates.make_certificates(folder)
    tls = ["--tls-ca-file", certs["ca_file"], "--tls-cert", certs["cert"], "--tls-key", certs["key"]]
    with dask_cluster_processes(folder, *tls) as (address, _):
        yield address, certs


@pytest.fixture
def distributed_client():
    """An in-process Dask cluster and its client, used by dask for the test (progress logs need one)."""
    import dask
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    with cluster, Client(cluster) as client, dask.config.set(scheduler="dask.distributed"):
        yield client


# The longest test files, started first by make test's parallel workers (each file runs whole in
# one worker): started last, one of them would run alone at the end.
SLOWEST_FILES = (
    "tests/workflow/test_slurm.py",
    "tests/workflow/test_real_files.py",
    "tests/workflow/test_faults.py",
    "tests/tools/test_benchmark_quick.py",
    "tests/workflow/test_workflow.py",
    "tests/workflow/test_bad_input.py",
    "tests/workflow/test_report.py",
    "tests/workflow/test_object_storage.py",
    "tests/workflow/test_gateway.py",
    "tests/workflow/test_no_shared_filesystem.py",
    "tests/unit/test_cluster.py",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        return next(
            (at for at, name in enumerate(SLOWEST_FILES) if item.nodeid.startswith(name)), len(SLOWEST_FILES)
        )

    items.sort(key=rank)  # stable: the order within a file and among the others is kept

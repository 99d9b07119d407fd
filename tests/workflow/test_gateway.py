"""The sample workflow's Dask rules on clusters from a dask-gateway (dask.gateway): a real
dask-gateway-server on 127.0.0.1 (tests/services/dask_gateway.py) makes one per rule, each shut
down when its rule ends (or, with dask.local.shared, one for the run, shut down after it); the
products equal pandas' and numpy's, and no file holds the password."""

import re

import pytest
import yaml

from tests.helpers import DASK_PRODUCTS, check_products, copy_workflow, require_service, run_snakemake
from tests.services import dask_gateway

pytestmark = pytest.mark.workflow

DASK_LOGS = ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log")


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory):
    require_service(dask_gateway.missing_reason())
    with dask_gateway.dask_gateway_server(tmp_path_factory.mktemp("gateway")) as server:
        yield server


def test_each_dask_rule_computes_on_a_gateway_cluster_of_its_own(tmp_path, gateway_server, sample):
    workdir = copy_workflow(tmp_path / "checkout", performance_report=False)
    (workdir / "gateway.yaml").write_text(yaml.safe_dump({"dask": gateway_server.config()}))
    # Targets first: --configfile takes every argument after it. The password only in the environment.
    run_snakemake(
        workdir, *DASK_PRODUCTS, "--configfile", "config/config.yaml", "gateway.yaml", env=gateway_server.env
    )
    check_products(workdir, sample, figures=False)

    names = set()
    for rule_log in DASK_LOGS:
        text = (workdir / "logs" / rule_log).read_text()
        made = re.search(
            rf"Dask cluster (\w+) from the dask-gateway at {re.escape(gateway_server.address)} "
            r"\(1-2 workers, adaptive",
            text,
        )
        assert made, text
        name = made.group(1)
        assert f"Dask scheduler: {gateway_server.proxy_address}/{name}" in text
        assert f"Dask cluster {name} stopped on the dask-gateway" in text
        names.add(name)
    assert len(names) == 2  # one cluster per rule
    assert [report.name for report in gateway_server.gateway().list_clusters()] == []

    password = gateway_server.password.encode()
    written = [path for path in workdir.rglob("*") if path.is_file() and not path.is_symlink()]
    assert [path for path in written if password in path.read_bytes()] == []


def test_one_gateway_cluster_for_the_run_with_local_shared(tmp_path, gateway_server, sample):
    workdir = copy_workflow(tmp_path / "checkout", performance_report=False)
    dask = {**gateway_server.config(), "local": {"shared": True}}
    (workdir / "gateway.yaml").write_text(yaml.safe_dump({"dask": dask}))
    # The whole run (its record too), not only the Dask products.
    result = run_snakemake(
        workdir, "--configfile", "config/config.yaml", "gateway.yaml", env=gateway_server.env
    )
    check_products(workdir, sample)
    address = re.search(r"shared Dask cluster for this run: (gateway://\S+)", result.stdout + result.stderr)
    assert address and address.group(1).startswith(f"{gateway_server.proxy_address}/")
    name = address.group(1).rsplit("/", 1)[1]
    for rule_log in DASK_LOGS:
        text = (workdir / "logs" / rule_log).read_text()
        assert f"Dask cluster {name} of this run, on the dask-gateway at {gateway_server.address}" in text
        assert f"Dask scheduler: {address.group(1)}" in text
    assert [report.name for report in gateway_server.gateway().list_clusters()] == []  # stopped by onsuccess
    record = yaml.safe_load((workdir / "results/run_info/run.yaml").read_text())["dask_cluster"]
    assert (record["kind"], record["target"]) == ("shared", "gateway")
    assert record["gateway"]["address"] == gateway_server.address and record["gateway"]["auth"] == "basic"

"""One Dask cluster for a whole run (dask.local.shared), and nothing left running after it.

That the cluster exits when its owner is killed is tests/unit/test_shared_cluster.py.
"""

import re
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.helpers import check_products, copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


def dask_processes(marker: str, workdir: Path) -> list[psutil.Process]:
    """Dask processes started in ``workdir`` (tests running beside this one have their own)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        in_workdir = process.info["cwd"] == str(workdir)
        if (
            in_workdir
            and "dask" in cmdline
            and marker in cmdline
            and ("scheduler" in cmdline or "worker" in cmdline)
        ):
            found.append(process)
    return found


def test_shared_cluster_serves_every_rule_and_stops(tmp_path, sample):
    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "shared.yaml").write_text(yaml.safe_dump({"dask": {"local": {"shared": True}}}))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "shared.yaml")
    address = re.search(
        r"shared Dask cluster for this run: (tls://127\.0\.0\.1:\d+)", result.stdout + result.stderr
    )
    assert address  # TLS: other users of the machine cannot use its port
    for rule_log in ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log"):
        assert f"Dask scheduler: {address.group(1)}" in (workdir / "logs" / rule_log).read_text()
    check_products(workdir, sample)
    time.sleep(1)
    assert dask_processes(".snakemake/dask/scheduler-", workdir) == []  # stopped by onsuccess
    assert list((workdir / ".snakemake/dask").glob("tls-*")) == []  # and its credentials deleted

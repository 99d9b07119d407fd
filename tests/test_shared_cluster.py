"""One Dask cluster for a whole run (dask.local.shared), and nothing left running after it."""

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml
from conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


def dask_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "dask" in cmdline and marker in cmdline and ("scheduler" in cmdline or "worker" in cmdline):
            found.append(process)
    return found


def test_shared_cluster_serves_every_rule_and_stops(tmp_path, sample):
    from test_workflow import check_products

    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "shared.yaml").write_text(yaml.safe_dump({"dask": {"local": {"shared": True}}}))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "shared.yaml")
    address = re.search(
        r"shared Dask cluster for this run: (tcp://127\.0\.0\.1:\d+)", result.stdout + result.stderr
    )
    assert address
    for rule_log in ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log"):
        assert f"Dask scheduler: {address.group(1)}" in (workdir / "logs" / rule_log).read_text()
    check_products(workdir, sample)
    time.sleep(1)
    assert dask_processes(".snakemake/dask/scheduler-") == []  # stopped by onsuccess


def test_shared_cluster_exits_when_its_owner_is_killed(tmp_path):
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from snakedask.shared_cluster import SharedCluster; "
            "print(SharedCluster(sys.argv[1], threads=1).start(), flush=True); time.sleep(600)",
            str(tmp_path / "cluster"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout.readline().startswith("tcp://127.0.0.1:")
        children = [p for p in psutil.Process(owner.pid).children() if "dask" in " ".join(p.cmdline())]
        assert len(children) == 2
        os.kill(owner.pid, signal.SIGKILL)  # as a killed Snakemake would be
        owner.wait(timeout=10)
        _gone, alive = psutil.wait_procs(children, timeout=60)
        assert alive == [], f"still running after their owner died: {alive}"
    finally:
        owner.kill()

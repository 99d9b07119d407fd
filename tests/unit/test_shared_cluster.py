"""The shared cluster (snakedask.shared_cluster) exits by itself when the process that started it dies."""

import os
import signal
import subprocess
import sys

import psutil
import pytest


@pytest.mark.slow  # separate dask scheduler and worker processes: out of `make test-fast`
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
        address = owner.stdout.readline().strip()
        assert address.startswith("tls://127.0.0.1:")  # other users of the machine cannot use it
        from distributed import Client

        with pytest.raises(OSError):
            Client(address.replace("tls://", "tcp://"), timeout=3)
        children = [p for p in psutil.Process(owner.pid).children() if "dask" in " ".join(p.cmdline())]
        assert len(children) == 2
        os.kill(owner.pid, signal.SIGKILL)  # as a killed Snakemake would be
        owner.wait(timeout=10)
        _gone, alive = psutil.wait_procs(children, timeout=60)
        assert alive == [], f"still running after their owner died: {alive}"
    finally:
        owner.kill()


def test_a_scheduler_file_being_written_is_waited_for_not_read(tmp_path):
    # dask scheduler writes its file in place: under load the run's start read it empty (JSONDecodeError).
    from snakedask.cluster import read_scheduler_file

    path = tmp_path / "scheduler.json"
    assert read_scheduler_file(path) is None
    path.write_text("")
    assert read_scheduler_file(path) is None
    path.write_text('{"type": "Scheduler", "addr')
    assert read_scheduler_file(path) is None
    path.write_text('{"type": "Scheduler", "id": "x"}')
    assert read_scheduler_file(path) is None
    path.write_text('{"type": "Scheduler", "address": "tls://127.0.0.1:40001"}')
    assert read_scheduler_file(path)["address"] == "tls://127.0.0.1:40001"

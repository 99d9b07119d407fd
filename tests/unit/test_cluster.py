"""The cluster module: sizing, address checks, bounded failures, loopback-only listening."""

import json
import re
import socket
import time
from pathlib import Path

import psutil
import pytest

from snakedask.cluster import (
    ClusterConfigError,
    SchedulerUnreachable,
    _close_quietly,
    check_address,
    choose_cluster,
    dask_client,
    local_cluster_kwargs,
    ship_package,
)
from tests.services.dask_processes import dask_cluster_processes


def test_one_function_decides_the_cluster_in_documented_precedence():
    full = {"address": "tcp://127.0.0.1:1", "scheduler_file": "s.json", "local": {"shared": True}}
    environ = {"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:2"}
    assert choose_cluster(full, environ) == ("address", "tcp://127.0.0.1:2", "DASK_SCHEDULER_ADDRESS")
    assert choose_cluster(full, {}) == ("address", "tcp://127.0.0.1:1", "dask.address")
    assert choose_cluster({**full, "address": None}, {}) == (
        "scheduler_file",
        "s.json",
        "dask.scheduler_file",
    )
    assert choose_cluster({"local": {"shared": True}}, {}) == ("shared", None, "dask.local.shared")
    assert choose_cluster({"local": {"shared": False}}, {}) == ("local", None, "dask.local")
    # dask.jobqueue comes after an address and a scheduler file, before a local cluster.
    slurm = {"kind": "slurm"}
    assert choose_cluster({**full, "jobqueue": slurm}, environ)[0] == "address"
    assert choose_cluster({**full, "address": None, "jobqueue": slurm}, {})[0] == "scheduler_file"
    assert choose_cluster({"jobqueue": slurm, "local": {"shared": False}}, {}) == (
        "jobqueue",
        "slurm",
        "dask.jobqueue.kind",
    )
    assert choose_cluster({"jobqueue": slurm, "local": {"shared": True}}, {}) == (
        "shared",
        "slurm",
        "dask.local.shared + dask.jobqueue.kind",
    )
    assert choose_cluster({"jobqueue": {"kind": None}}, {})[0] == "local"


def test_a_gateway_comes_after_an_address_and_a_scheduler_file_before_jobqueue_and_local():
    gateway = {"enabled": True, "address": "https://gateway.example.org"}
    full = {"address": "tcp://127.0.0.1:1", "scheduler_file": "s.json", "gateway": gateway}
    environ = {"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:2"}
    assert choose_cluster(full, environ)[0] == "address"
    assert choose_cluster(full, {})[0] == "address"
    assert choose_cluster({**full, "address": None}, {})[0] == "scheduler_file"
    alone = {"gateway": gateway, "jobqueue": {"kind": "slurm"}, "local": {"shared": False}}
    assert choose_cluster(alone, {}) == ("gateway", "https://gateway.example.org", "dask.gateway.enabled")
    # No address in the workflow's config: dask's own (gateway.address), as on a Pangeo hub.
    assert choose_cluster({"gateway": {"enabled": True}}, {}) == ("gateway", None, "dask.gateway.enabled")
    assert choose_cluster({**alone, "gateway": {**gateway, "enabled": False}}, {})[0] == "jobqueue"
    # One cluster for the run; its jobs join it by name.
    shared = {**alone, "local": {"shared": True}}
    assert choose_cluster(shared, {}) == ("shared", "gateway", "dask.local.shared + dask.gateway.enabled")
    assert choose_cluster(shared, {"WORKFLOW_DASK_GATEWAY_CLUSTER": "abc"}) == (
        "gateway",
        "https://gateway.example.org",
        "the run's cluster (WORKFLOW_DASK_GATEWAY_CLUSTER)",
    )
    assert choose_cluster(shared, {**environ, "WORKFLOW_DASK_GATEWAY_CLUSTER": "abc"})[0] == "address"


def test_local_cluster_is_sized_from_the_job():
    threads = local_cluster_kwargs({}, threads=4, mem_mb=8000)
    assert (threads["n_workers"], threads["threads_per_worker"], threads["processes"]) == (1, 4, False)
    assert threads["memory_limit"] == "8000MB"
    procs = local_cluster_kwargs({"processes": True}, threads=4, mem_mb=8000)
    assert (procs["n_workers"], procs["threads_per_worker"], procs["memory_limit"]) == (4, 1, "2000MB")
    assert procs["host"] == "127.0.0.1" and procs["dashboard_address"] == "127.0.0.1:0"
    explicit = local_cluster_kwargs({"n_workers": 2, "threads_per_worker": 3, "memory_limit": "1GB"}, 8, 1000)
    assert (explicit["n_workers"], explicit["threads_per_worker"], explicit["memory_limit"]) == (2, 3, "1GB")


@pytest.mark.parametrize(
    "address", ["localhost:8786", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://:8786"]
)
def test_bad_addresses_are_named(address):
    with pytest.raises(
        ClusterConfigError, match=r"dask.address = .* is not a scheduler address.*tcp://HOST:PORT"
    ):
        check_address(address)


def test_tls_without_certificates_is_refused_before_connecting():
    with (
        pytest.raises(ClusterConfigError, match=r"uses TLS but dask.security has no certificates"),
        dask_client({"address": "tls://127.0.0.1:8786"}),
    ):
        pass


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_fails_in_bounded_time():
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with (
        pytest.raises(
            SchedulerUnreachable,
            match=rf"no Dask scheduler answered at {address} \(from dask.address\) within 2 s",
        ),
        dask_client({"address": address, "connect_timeout": 2}),
    ):
        pass
    assert time.monotonic() - started < 10


def test_environment_variable_overrides_config(monkeypatch):
    address = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    with (
        pytest.raises(SchedulerUnreachable, match=rf"{address} \(from DASK_SCHEDULER_ADDRESS\)"),
        dask_client({"address": None, "connect_timeout": 1}),
    ):
        pass


def test_missing_scheduler_file_fails_in_bounded_time(tmp_path):
    started = time.monotonic()
    with (
        pytest.raises(
            ClusterConfigError,
            match=r"dask.scheduler_file = .*nope.json.*no readable scheduler file after 1 s",
        ),
        dask_client({"scheduler_file": str(tmp_path / "nope.json"), "connect_timeout": 1}),
    ):
        pass
    assert time.monotonic() - started < 5


def test_scheduler_file_with_a_dead_address(tmp_path):
    path = tmp_path / "scheduler.json"
    address = f"tcp://127.0.0.1:{free_port()}"
    path.write_text(json.dumps({"address": address}))
    with (
        pytest.raises(SchedulerUnreachable, match=rf"{address} \(from dask.scheduler_file"),
        dask_client({"scheduler_file": str(path), "connect_timeout": 1}),
    ):
        pass


def listening_addresses(pid):
    found = set()
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid == pid:
            found.add(conn.laddr.ip)
    return found


@pytest.mark.parametrize("processes", [False, True])
def test_local_cluster_listens_on_loopback_only(processes):
    with dask_client({"local": {"processes": processes}}, threads=2, mem_mb=2000) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        pids = {psutil.Process().pid}
        if processes:
            pids |= {child.pid for child in psutil.Process().children(recursive=True)}
        addresses = set().union(*(listening_addresses(pid) for pid in pids))
        assert addresses and addresses <= {"127.0.0.1"}, addresses


def test_a_process_cluster_refuses_whoever_lacks_its_credentials(tmp_path):
    # Another user of the machine reaches 127.0.0.1 too: plain TCP and TLS with other credentials fail.
    from distributed import Client

    from snakedask import tls

    with dask_client({"local": {"processes": True}}, threads=1, mem_mb=1000) as client:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:") and client.submit(sum, [1, 2]).result() == 3
        credentials = Path(client.security.tls_ca_file).parent
        assert credentials.stat().st_mode & 0o777 == 0o700
        assert (credentials / "key.pem").stat().st_mode & 0o777 == 0o600
        with pytest.raises(OSError):  # distributed's CommClosedError and TimeoutError are OSErrors
            Client(address.replace("tls://", "tcp://"), timeout=3)
        stranger = tls.security(tls.make_credentials(tmp_path / "stranger"))
        with pytest.raises(OSError):
            Client(address, security=stranger, timeout=3)
    assert not credentials.exists()  # deleted with the cluster


def test_a_failing_close_does_not_fail_the_job(caplog):
    class Broken:
        closed = False

        def close(self):
            raise RuntimeError("scheduler went away during shutdown")

    class Fine:
        closed = False

        def close(self):
            self.closed = True

    fine = Fine()
    _close_quietly(Broken(), None, fine)
    assert fine.closed and "scheduler went away during shutdown" in caplog.text


@pytest.mark.slow  # separate dask scheduler and worker processes: out of `make test-fast`
def test_tls_scheduler_accepts_certificates_and_refuses_plain_tcp(tls_scheduler):
    from distributed import Client

    address, certs = tls_scheduler
    assert address.startswith("tls://127.0.0.1:")
    with dask_client({"address": address, "security": certs, "connect_timeout": 10}) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        assert client.scheduler.address == address
    with pytest.raises((OSError, TimeoutError)):
        Client(address.replace("tls://", "tcp://"), timeout=3)


def _imported_from(module: str) -> str:
    import importlib

    return importlib.import_module(module).__file__


@pytest.fixture(autouse=True)
def _tasks_of_this_file_by_value():
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow  # separate dask scheduler and worker processes: out of `make test-fast`
def test_package_reaches_workers_that_import_another_copy(tmp_path, monkeypatch):
    # Workers elsewhere may have no copy, or an older one: they get this one, zipped.
    import shutil

    from distributed import Client

    import snakedask

    other = tmp_path / "other"
    shutil.copytree(
        Path(snakedask.__file__).parent, other / "snakedask", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setenv("PYTHONPATH", str(other))
    with dask_cluster_processes(tmp_path) as (address, _), Client(address, timeout=30) as client:
        assert all(path.startswith(str(other)) for path in client.run(_imported_from, "snakedask").values())
        ship_package(client)
        for module in ("snakedask", "snakedask.encoding", "snakedask.csv_blocks"):
            files = client.run(_imported_from, module)
            assert files and all(re.search(r"/snakedask-[0-9a-f]{16}\.zip/", p) for p in files.values()), (
                files
            )
            on_scheduler = client.run_on_scheduler(_imported_from, module)
            assert re.search(r"/snakedask-[0-9a-f]{16}\.zip/", on_scheduler), on_scheduler
        # The next job ships it again: the modules the tasks came from stay (pickle finds them by name).
        before = (
            client.run(_module_id, "snakedask.csv_blocks"),
            client.run_on_scheduler(_module_id, "snakedask"),
        )
        ship_package(client)
        assert (
            client.run(_module_id, "snakedask.csv_blocks"),
            client.run_on_scheduler(_module_id, "snakedask"),
        ) == before


def _module_id(name: str) -> int:
    import importlib

    return id(importlib.import_module(name))


@pytest.mark.slow  # separate dask scheduler and worker processes: out of `make test-fast`
def test_package_is_not_uploaded_to_workers_that_import_the_same_files(dask_scheduler):
    from distributed import Client

    import snakedask

    with Client(dask_scheduler[0], timeout=30) as client:
        ship_package(client)
        assert set(client.run(_imported_from, "snakedask").values()) == {snakedask.__file__}


def test_a_job_gets_a_core_per_mb_per_thread_of_input_within_one_and_the_setting():
    from snakedask.cluster import threads_for_input

    assert threads_for_input(0, threads=4, mb_per_thread=256) == 1
    assert threads_for_input(256_000_001, threads=4, mb_per_thread=256) == 2
    assert threads_for_input(10**12, threads=4, mb_per_thread=256) == 4
    assert threads_for_input(10, threads=3, mb_per_thread=0) == 3  # 0: always the setting


def test_the_run_record_says_which_cluster_and_what_chose_it():
    from snakedask.cluster import cluster_record

    local = {"address": None, "scheduler_file": None, "jobqueue": {"kind": None}, "local": {"shared": False}}
    assert cluster_record(local, environ={}) == {
        "kind": "local",
        "target": None,
        "chosen_by": cluster_record(local, environ={})["chosen_by"],
        "DASK_SCHEDULER_ADDRESS": None,
    }
    record = cluster_record(local, environ={"DASK_SCHEDULER_ADDRESS": "tls://127.0.0.1:8786"})
    assert record["kind"] == "address" and record["target"] == "tls://127.0.0.1:8786"
    assert record["chosen_by"] == "DASK_SCHEDULER_ADDRESS" == next(k for k in record if k.startswith("DASK"))

    gateway = {
        "enabled": True,
        "address": "https://gateway.example.org",
        "proxy_address": None,
        "public_address": None,
        "auth": "jupyterhub",
        "cluster_options": {"worker_cores": 2},
        "min_workers": 1,
        "max_workers": 8,
        "shutdown_on_close": True,
    }
    record = cluster_record({**local, "gateway": gateway}, environ={})
    assert (record["kind"], record["target"], record["chosen_by"]) == (
        "gateway",
        "https://gateway.example.org",
        "dask.gateway.enabled",
    )
    assert record["gateway"] == {
        "address": "https://gateway.example.org",
        "proxy_address": "dask's own config (gateway.proxy-address)",
        "auth": "jupyterhub",
        "cluster_options": {"worker_cores": 2},
        "workers": "1-8, adaptive",
        "shutdown_on_close": True,
    }
    shared = cluster_record({**local, "gateway": gateway, "local": {"shared": True}}, environ={})
    assert (shared["kind"], shared["target"]) == ("shared", "gateway") and "gateway" in shared
    assert "gateway" not in cluster_record(local, environ={})


DONE = [0]  # tasks finished, counted by the (in-process) worker: _received is pickled by reference


def _received(i: int, data: bytes) -> tuple[int, int]:
    time.sleep(0.02 * (i % 3))  # finish out of order
    DONE[0] += 1
    return i, len(data) + data[0]


def test_data_sent_to_the_workers_is_bounded_and_every_result_kept_in_order(distributed_client):
    # dask.shared_filesystem: false sends table blocks from this process: never more than
    # `in_flight` of them out at once, whatever the number of calls, and results in call order.
    from snakedask.cluster import map_sending_data

    loaded, most = [0], [0]

    def load(i: int) -> bytes:
        loaded[0] += 1
        most[0] = max(most[0], loaded[0] - DONE[0])
        return bytes([i]) * 1000

    DONE[0] = 0
    calls = [((i,), lambda i=i: load(i)) for i in range(20)]
    assert map_sending_data(_received, calls, "blocks", in_flight=3) == [(i, 1000 + i) for i in range(20)]
    assert DONE[0] == 20 and most[0] <= 3, most


@pytest.mark.slow  # worker processes: out of `make test-fast`
def test_a_worker_lost_while_the_package_is_sent_does_not_fail_the_job():
    """A worker killed while the plugin reaches the workers (CI saw it: a test kills busy workers)."""
    import os
    import signal
    import threading

    from distributed import Client, LocalCluster, WorkerPlugin

    from snakedask.cluster import register_despite_lost_workers

    class Marker(WorkerPlugin):  # a worker plugin that leaves a mark where tasks can see it
        name = "marker"

        def setup(self, worker):
            os.environ["SNAKEDASK_TEST_MARK"] = "1"

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    )
    with cluster, Client(cluster) as client:
        lost, kept = sorted(client.scheduler_info()["workers"])
        pid = client.run(os.getpid, workers=[lost])[lost]
        # Stopped, the worker takes the connection and never answers; killed a second later,
        # it breaks the broadcast the way a worker dying mid-send does.
        os.kill(pid, signal.SIGSTOP)
        killer = threading.Timer(1.0, os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            register_despite_lost_workers(client, Marker())
        finally:
            killer.join()
        marks = client.run(_environment_variable, "SNAKEDASK_TEST_MARK", workers=[kept])
        assert marks == {kept: "1"}


def _environment_variable(name: str) -> str | None:
    import os

    return os.environ.get(name)

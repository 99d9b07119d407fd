"""Clusters from a dask-gateway (dask.gateway): a real dask-gateway-server on 127.0.0.1 makes them
(tests/services/dask_gateway.py); each is shut down when its job ends, also when the job is killed."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from snakedask.cluster import dask_client
from snakedask.errors import ClusterConfigError, SchedulerUnreachable
from snakedask.gateway import CLUSTER_VARIABLE, SharedGatewayCluster, check_transport, gateway_problems
from tests.helpers import require_service, wait_until
from tests.services import dask_gateway
from tests.services.s3_server import free_port


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory):
    require_service(dask_gateway.missing_reason())
    with dask_gateway.dask_gateway_server(tmp_path_factory.mktemp("gateway")) as server:
        yield server


@pytest.fixture
def logged_in(gateway_server, monkeypatch):
    """The password where dask-gateway's client reads it: dask's config, from the environment (this
    process's, for the watchdogs it starts, and dask's config here, read when dask was imported)."""
    import dask
    import dask_gateway  # noqa: F401 - its defaults in dask's config first: set() restores what it found

    for name, value in gateway_server.env.items():
        monkeypatch.setenv(name, value)
    with dask.config.set({"gateway.auth.kwargs.password": gateway_server.password}):
        yield gateway_server


def active_clusters(server) -> list[str]:
    # Not closed by hand: dask-gateway's Gateway.__del__ would close it again, and raise (see gateway._CLOSED).
    return [report.name for report in server.gateway().list_clusters()]


def watchdogs() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "snakedask.gateway" in " ".join(child.cmdline())
    ]


@pytest.mark.slow  # a gateway server and its scheduler and worker processes: out of `make test-fast`
def test_a_job_computes_on_a_gateway_worker_and_the_cluster_is_shut_down(logged_in, caplog):
    caplog.set_level(logging.INFO, logger="workflow.dask")
    config = logged_in.config(min_workers=1, max_workers=2)
    with dask_client(config, threads=1) as client:
        assert client.scheduler.address.startswith(f"{logged_in.proxy_address}/")
        client.wait_for_workers(1, timeout=60)
        assert client.submit(sum, [1, 2, 3]).result() == 6
        worker_pid = client.submit(os.getpid, pure=False).result()
        assert worker_pid != os.getpid()
        # A process the gateway started, in the working folder it made for the cluster.
        assert psutil.Process(worker_pid).cwd().startswith(str(logged_in.folder / "clusters"))
        [name] = active_clusters(logged_in)
        assert len(watchdogs()) == 1  # it stops the cluster should this process be killed
    assert active_clusters(logged_in) == []
    assert watchdogs() == []
    assert f"Dask cluster {name} from the dask-gateway at {logged_in.address} (1-2 workers" in caplog.text
    assert f"Dask cluster {name} stopped on the dask-gateway" in caplog.text


@pytest.mark.slow
def test_cluster_options_reach_the_gateway(logged_in):
    config = logged_in.config(cluster_options={"worker_threads": 2})
    with dask_client(config) as client:
        client.wait_for_workers(1, timeout=60)
        assert set(client.nthreads().values()) == {2}
    assert active_clusters(logged_in) == []


@pytest.mark.slow
def test_an_option_the_gateway_does_not_offer_is_named(logged_in):
    config = logged_in.config(cluster_options={"worker_gpus": 1})
    with (
        pytest.raises(
            ClusterConfigError,
            match=r"dask.gateway.cluster_options.worker_gpus: the gateway at .* offers no such option; "
            r"it offers \['worker_threads'\]",
        ),
        dask_client(config),
    ):
        pass
    with (
        pytest.raises(ClusterConfigError, match=r"dask.gateway.cluster_options.worker_threads = 9: .*refuse"),
        dask_client(logged_in.config(cluster_options={"worker_threads": 9})),
    ):
        pass
    assert active_clusters(logged_in) == []


@pytest.mark.slow
def test_a_wrong_password_is_a_refused_login(gateway_server, monkeypatch):
    import dask
    import dask_gateway  # noqa: F401

    monkeypatch.setenv("DASK_GATEWAY__AUTH__KWARGS__PASSWORD", "pw-wrong")
    with (
        dask.config.set({"gateway.auth.kwargs.password": "pw-wrong"}),
        pytest.raises(ClusterConfigError, match=r"refused the login \(HTTP 401\) with auth = 'basic'"),
        dask_client(gateway_server.config()),
    ):
        pass


@pytest.mark.slow
def test_a_killed_job_leaves_no_cluster_behind(logged_in, tmp_path):
    # The job's process is killed outright (no exit handlers): its watchdog stops the cluster.
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from snakedask.cluster import dask_client
            with dask_client({logged_in.config()!r}) as client:
                print("running", flush=True)
                time.sleep(600)
            """
        )
    )
    job = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert job.stdout.readline().strip() == "running"
        assert len(active_clusters(logged_in)) == 1
    finally:
        os.kill(job.pid, signal.SIGKILL)
        job.wait()
        job.stdout.close()
    wait_until(lambda: active_clusters(logged_in) == [], 30, "the killed job's cluster is still running")


@pytest.mark.slow
def test_the_runs_cluster_is_joined_by_the_jobs_and_stopped_at_the_end(logged_in, monkeypatch):
    config = logged_in.config()
    shared = SharedGatewayCluster(config["gateway"])
    name = shared.start()
    try:
        monkeypatch.setenv(CLUSTER_VARIABLE, name)
        for _ in range(2):  # two jobs, one cluster
            with dask_client({**config, "local": {"shared": True}}) as client:
                assert client.scheduler.address == shared.address == f"{logged_in.proxy_address}/{name}"
                assert client.submit(sum, [1, 2]).result() == 3
            assert active_clusters(logged_in) == [name]  # a job leaves the run's cluster running
    finally:
        shared.stop()
    assert active_clusters(logged_in) == []


def test_an_unreachable_gateway_fails_in_bounded_time():
    address = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with (
        pytest.raises(SchedulerUnreachable, match=rf"no dask-gateway answered at {address} within 2 s"),
        dask_client({"connect_timeout": 2, "gateway": {"enabled": True, "address": address}}),
    ):
        pass
    assert time.monotonic() - started < 10


def test_a_gateway_without_an_address_is_a_config_error(monkeypatch):
    import dask
    import dask_gateway  # noqa: F401 - its defaults in dask's config first: set() restores what it found

    monkeypatch.delenv("DASK_GATEWAY__ADDRESS", raising=False)
    with (
        dask.config.set({"gateway.address": None}),
        pytest.raises(ClusterConfigError, match=r"no gateway address is known: set dask.gateway.address"),
        dask_client({"gateway": {"enabled": True}}),
    ):
        pass


def test_dask_config_gives_the_address_when_the_workflow_config_does_not(monkeypatch):
    # As on a Pangeo hub: DASK_GATEWAY__ADDRESS (here a port nobody listens on) and enabled: true.
    import dask
    import dask_gateway  # noqa: F401 - its defaults in dask's config first: set() restores what it found

    address = f"http://127.0.0.1:{free_port()}"
    with (
        dask.config.set({"gateway.address": address}),
        pytest.raises(SchedulerUnreachable, match=rf"no dask-gateway answered at {address}"),
        dask_client({"connect_timeout": 1, "gateway": {"enabled": True}}),
    ):
        pass


@pytest.mark.parametrize(
    ("address", "warned"),
    [
        ("http://gateway.example.org", True),
        ("http://10.0.0.5:8000", True),
        ("https://gateway.example.org", False),
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000/services/dask-gateway", False),
        ("http://[::1]:8000", False),
    ],
)
def test_plain_http_beyond_loopback_is_warned_about(caplog, address, warned):
    check_transport(address)
    assert ("speaks plain HTTP" in caplog.text) is warned


def test_through_an_http_proxy_the_gateway_is_not_probed_directly(monkeypatch):
    from snakedask.gateway import wait_for_server

    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SchedulerUnreachable):
        wait_for_server(address, 1)
    monkeypatch.setenv("http_proxy", "http://proxy.example.org:3128")  # dask-gateway's client would use it
    wait_for_server(address, 1)


def test_gateway_settings_a_schema_cannot_check():
    assert gateway_problems({"gateway": {"enabled": True, "min_workers": 0, "max_workers": 4}}) == []
    [unused] = gateway_problems({"gateway": {"enabled": False, "address": "https://g.example.org"}})
    assert "dask.gateway.enabled is false, so no gateway would be used" in unused
    [crossed] = gateway_problems({"gateway": {"enabled": True, "min_workers": 5, "max_workers": 2}})
    assert crossed.startswith("  - dask.gateway.min_workers: 5 is more than dask.gateway.max_workers = 2")


@pytest.mark.slow
def test_the_snakefile_starts_the_runs_cluster_and_names_it_to_the_jobs(
    logged_in, monkeypatch, tmp_path, capsys
):
    from snakedask.run_cluster import start_run_cluster

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setenv(CLUSTER_VARIABLE, "")  # start_run_cluster sets it in os.environ: restored afterwards
    config = {**logged_in.config(), "connect_timeout": 10, "local": {"shared": True}}
    cluster = start_run_cluster(config, tmp_path, cores=lambda: 1)
    try:
        assert active_clusters(logged_in) == [os.environ[CLUSTER_VARIABLE]]
        assert "DASK_SCHEDULER_ADDRESS" not in os.environ
    finally:
        cluster.stop()
    assert active_clusters(logged_in) == []

    monkeypatch.setenv(CLUSTER_VARIABLE, "")
    refused = {**config, "gateway": {**config["gateway"], "cluster_options": {"worker_gpus": 1}}}
    with pytest.raises(SystemExit) as stopped:
        start_run_cluster(refused, tmp_path, cores=lambda: 1)
    assert stopped.value.code == 1
    assert capsys.readouterr().err.startswith("Config error: dask.gateway.cluster_options.worker_gpus: ")
    assert active_clusters(logged_in) == []

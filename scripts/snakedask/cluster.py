"""Connect a rule script to the Dask cluster that ``config["dask"]`` names.

:func:`choose_cluster` is the one place that decides which cluster a job
uses (the Snakefile asks it too, before starting a run's shared cluster):

* ``DASK_SCHEDULER_ADDRESS`` (Dask's own variable) or ``dask.address``
  (``tcp://host:port`` or ``tls://host:port`` with ``dask.security``) connects
  to a running scheduler;
* ``dask.scheduler_file`` connects through the JSON file that
  ``dask scheduler --scheduler-file`` and HPC launchers write;
* ``dask.gateway.enabled`` asks a dask-gateway server (Pangeo's JupyterHubs
  have one) for a cluster, scaling between ``min_workers`` and ``max_workers``,
  shut down when the job ends (see :mod:`gateway`);
* ``dask.jobqueue.kind`` (``slurm``) starts a scheduler whose workers are
  SLURM jobs, scaling between ``min_jobs`` and ``max_jobs`` (see :mod:`jobqueue`);
* ``dask.local.shared`` starts one cluster for the whole run (see
  :mod:`shared_cluster`), of SLURM worker jobs if ``dask.jobqueue.kind`` is set,
  from the gateway if ``dask.gateway.enabled`` is;
* otherwise a ``LocalCluster`` is started for the job, sized from the rule's
  ``threads`` and ``resources.mem_mb`` and listening on 127.0.0.1 only.

:func:`dask_client` turns the choice into a ``distributed.Client``. A new
kind of cluster is one more branch in each. distributed is imported only
inside the functions that need it: rule scripts call
:func:`rule_log.log_to_file` first, because distributed binds its log
handlers to the ``sys.stderr`` it finds at import time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from snakedask import rule_log, tls
from snakedask.errors import ClusterConfigError, SchedulerUnreachable
from snakedask.gateway import CLUSTER_VARIABLE as GATEWAY_CLUSTER_VARIABLE

if TYPE_CHECKING:
    from distributed import Client, Security

log = logging.getLogger("workflow.dask")

SCHEMES = ("tcp", "tls")
ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"
GATEWAY = "gateway"


class ClusterChoice(NamedTuple):
    """Which cluster a job uses: ``kind``, its address or scheduler file, and the setting that chose it."""

    kind: str  # "address", "scheduler_file", "gateway", "jobqueue", "shared" or "local"
    # the address, the scheduler file, the gateway's address (None: dask's own config), or for
    # "jobqueue" and "shared" what makes the cluster ("slurm", "gateway"; None: local processes)
    target: str | None
    source: str


def choose_cluster(dask_config: dict[str, Any], environ: dict[str, str] | None = None) -> ClusterChoice:
    """The cluster config names. Precedence: ``DASK_SCHEDULER_ADDRESS`` > ``dask.address``
    > ``dask.scheduler_file`` > ``dask.gateway`` > ``dask.jobqueue`` > local (``dask.local.shared``:
    one per run, else one per job).

    ``dask.local.shared`` with ``dask.jobqueue.kind`` gives one cluster of SLURM worker
    jobs per run (kind "shared", target "slurm"), with ``dask.gateway.enabled`` one
    cluster from the gateway (target "gateway"). Inside a run with a shared cluster,
    jobs see its address in ``DASK_SCHEDULER_ADDRESS`` (the gateway's: its name in
    ``gateway.CLUSTER_VARIABLE``).
    """
    environ = os.environ if environ is None else environ
    if environ.get(ADDRESS_VARIABLE):
        return ClusterChoice("address", environ[ADDRESS_VARIABLE], ADDRESS_VARIABLE)
    if dask_config.get("address"):
        return ClusterChoice("address", dask_config["address"], "dask.address")
    if dask_config.get("scheduler_file"):
        return ClusterChoice("scheduler_file", str(dask_config["scheduler_file"]), "dask.scheduler_file")
    gateway = dask_config.get("gateway") or {}
    shared = (dask_config.get("local") or {}).get("shared")
    if gateway.get("enabled"):
        if environ.get(GATEWAY_CLUSTER_VARIABLE):
            return ClusterChoice(
                GATEWAY, gateway.get("address"), f"the run's cluster ({GATEWAY_CLUSTER_VARIABLE})"
            )
        if shared:
            return ClusterChoice("shared", GATEWAY, "dask.local.shared + dask.gateway.enabled")
        return ClusterChoice(GATEWAY, gateway.get("address"), "dask.gateway.enabled")
    jobqueue = (dask_config.get("jobqueue") or {}).get("kind")
    if shared:
        if jobqueue:
            return ClusterChoice("shared", jobqueue, "dask.local.shared + dask.jobqueue.kind")
        return ClusterChoice("shared", None, "dask.local.shared")
    if jobqueue:
        return ClusterChoice("jobqueue", jobqueue, "dask.jobqueue.kind")
    return ClusterChoice("local", None, "dask.local")


def cluster_record(dask_config: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Which cluster the jobs use and the setting (or environment variable) that chose it: for the run record."""
    environ = os.environ if environ is None else environ
    choice = choose_cluster(dask_config, environ)
    record = {
        "kind": choice.kind,
        "target": choice.target,
        "chosen_by": choice.source,
        ADDRESS_VARIABLE: environ.get(ADDRESS_VARIABLE),
    }
    if GATEWAY in (choice.kind, choice.target):
        gateway = dask_config.get("gateway") or {}
        from_dask = "dask's own config (gateway.{})"
        record[GATEWAY] = {
            "address": gateway.get("address") or from_dask.format("address"),
            "proxy_address": gateway.get("proxy_address") or from_dask.format("proxy-address"),
            "auth": gateway.get("auth") or from_dask.format("auth.type"),
            "cluster_options": dict(gateway.get("cluster_options") or {}),
            "workers": f"{gateway.get('min_workers', 1)}-{gateway.get('max_workers', 4)}, adaptive",
            "shutdown_on_close": gateway.get("shutdown_on_close", True),
        }
    return record


def threads_for_input(size_bytes: int, threads: int, mb_per_thread: float | None) -> int:
    """Cores for a Dask job: one per ``mb_per_thread`` MB of input, from 1 to ``threads``.

    A small job takes one core, so two of them (an averages and an ndvi) run
    side by side and overlap their start-up (interpreter, imports, cluster),
    which dominates at that size. ``mb_per_thread`` 0 or None: always ``threads``.
    """
    if not mb_per_thread:
        return threads
    return max(1, min(threads, math.ceil(size_bytes / 1e6 / mb_per_thread)))


def check_address(address: str, key: str = "dask.address") -> str:
    """Return ``address`` if it is ``tcp://host:port`` or ``tls://host:port``."""
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in SCHEMES or not parts.hostname or port is None:
        raise ClusterConfigError(
            f"{key} = {address!r} is not a scheduler address: write it as "
            f"tcp://HOST:PORT (or tls://HOST:PORT with dask.security), "
            f"as `dask scheduler` prints it."
        )
    return address


def security_from_config(dask_config: dict[str, Any], address: str | None) -> Security | None:
    """Build TLS settings from ``dask.security`` (or, for the run's shared cluster, the credentials its
    jobs find through ``tls.FOLDER_VARIABLE``); required for ``tls://`` addresses."""
    from distributed import Security

    given = dask_config.get("security") or {}
    wanted = {"ca_file": given.get("ca_file"), "cert": given.get("cert"), "key": given.get("key")}
    if not any(wanted.values()):
        if address and address.startswith("tls://") and os.environ.get(tls.FOLDER_VARIABLE):
            return tls.security(os.environ[tls.FOLDER_VARIABLE])  # the run's shared cluster's credentials
        if address and address.startswith("tls://"):
            raise ClusterConfigError(
                f"dask address {address} uses TLS but dask.security has no certificates: "
                "set dask.security.ca_file, dask.security.cert and dask.security.key."
            )
        return None
    for name, value in wanted.items():
        if not value:
            raise ClusterConfigError(f"dask.security.{name} is missing: TLS needs ca_file, cert and key.")
        if not Path(value).is_file():
            raise ClusterConfigError(f"dask.security.{name} = {value!r}: no such file.")
    return Security(
        tls_ca_file=wanted["ca_file"],
        tls_client_cert=wanted["cert"],
        tls_client_key=wanted["key"],
        require_encryption=True,
    )


def local_cluster_kwargs(local: dict[str, Any], threads: int, mem_mb: int | None) -> dict[str, Any]:
    """LocalCluster arguments: config values where given, else sized from the job.

    A job never asks for more than the cores and memory it reserved from
    Snakemake (or SLURM): ``threads`` cores in all, ``mem_mb`` split over workers.
    """
    threads = max(1, int(threads))
    processes = bool(local.get("processes", False))
    n_workers = local.get("n_workers") or (threads if processes else 1)
    threads_per_worker = local.get("threads_per_worker") or max(1, threads // n_workers)
    memory_limit = local.get("memory_limit")
    if memory_limit is None:
        memory_limit = f"{int(mem_mb) // n_workers}MB" if mem_mb else "auto"
    host = local.get("host", "127.0.0.1")
    kwargs = {
        "n_workers": n_workers,
        "threads_per_worker": threads_per_worker,
        "processes": processes,
        "memory_limit": memory_limit,
        "dashboard_address": local.get("dashboard_address", f"{host}:0"),
        # Worker dashboards bind to every interface unless told otherwise.
        "worker_dashboard_address": f"{host}:0",
    }
    if processes:
        # Process workers need TCP, bound to `host`; thread workers talk over
        # inproc:// and the scheduler then listens on no port at all.
        kwargs["host"] = host
    return kwargs


def uses_tls(local: dict[str, Any]) -> bool:
    """Whether a local cluster of these settings listens on a TCP port with TLS (:mod:`tls`): process
    workers do, unless ``dask.local.tls: false``; thread workers listen on no port."""
    return bool(local.get("processes", False)) and local.get("tls", True) is not False


def read_scheduler_file(path: Path) -> dict[str, Any] | None:
    """A scheduler file's contents; None while it is missing or not yet whole JSON with an address
    (``dask scheduler`` writes it in place, so it can exist and still be empty or half written)."""
    try:
        info = json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) and "address" in info else None


def _wait_for_file(path: Path, timeout: float) -> dict[str, Any]:
    """Wait up to ``timeout`` s for a readable scheduler file (launchers write it late)."""
    deadline = time.monotonic() + timeout
    while (info := read_scheduler_file(path)) is None:
        if time.monotonic() >= deadline:
            state = "not whole JSON with an address" if path.exists() else "missing"
            raise ClusterConfigError(
                f"dask.scheduler_file = {str(path)!r}: no readable scheduler file after "
                f"{timeout:g} s ({state}). Start the scheduler with "
                f"`dask scheduler --scheduler-file {path}` first, or fix the path."
            )
        time.sleep(0.2)
    return info


def _connect(address: str, timeout: float, security: Security | None, source: str) -> Client:
    from distributed import Client

    try:
        return Client(address, timeout=timeout, security=security)
    except (OSError, TimeoutError) as err:
        raise SchedulerUnreachable(
            f"no Dask scheduler answered at {address} (from {source}) within {timeout:g} s: {err}. "
            "Start the scheduler, fix the address, or remove it to use a local cluster."
        ) from err


def _lost_connection(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) is a connection to the scheduler that closed."""
    from distributed.comm.core import CommClosedError

    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, CommClosedError):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _close_quietly(*closables: Any) -> None:
    """Close client/cluster; failures here come after the outputs and must not fail the job."""
    for thing in closables:
        if thing is None:
            continue
        try:
            thing.close()
        except Exception as err:
            log.warning("ignored while closing %s: %r", type(thing).__name__, err)


def dashboard_link(client: Client, listen_host: str | None = None) -> str:
    """The dashboard URL, on the host it listens on when that is known and specific."""
    port = client.scheduler_info().get("services", {}).get("dashboard")
    if listen_host and listen_host not in ("0.0.0.0", "::") and port:
        return f"http://{listen_host}:{port}/status"
    return client.dashboard_link


def _log_worker_jobs(client: Client) -> None:
    """Record which SLURM jobs ran the workers; the outputs are written, so a failure here is only a warning."""
    try:
        import snakedask
        from snakedask.jobqueue import worker_jobs

        found = worker_jobs(client).values()
        packages = {package for _, package in found}
        log.info(
            "Dask workers ran in SLURM jobs %s, importing snakedask from %s%s",
            sorted({str(job) for job, _ in found}),
            ", ".join(sorted(map(str, packages))) or "-",
            " (this job's own files: nothing uploaded)" if packages == {snakedask.__file__} else "",
        )
    except Exception as err:
        log.warning("could not ask the workers for their SLURM jobs: %r", err)


@contextlib.contextmanager
def dask_client(dask_config: dict[str, Any], threads: int = 1, mem_mb: int | None = None) -> Iterator[Client]:
    """Yield a ``Client`` on the cluster that config (or ``DASK_SCHEDULER_ADDRESS``) names."""
    from distributed import Client, LocalCluster

    timeout = float(dask_config.get("connect_timeout", 30))
    choice = choose_cluster(dask_config)
    address = choice.target if choice.kind == "address" else None
    cluster = client = listen_host = jobs = credentials = gateway = None
    try:
        if choice.kind == "address":
            check_address(address, choice.source)
            client = _connect(address, timeout, security_from_config(dask_config, address), choice.source)
        elif choice.kind == "scheduler_file":
            path = Path(choice.target)
            info = _wait_for_file(path, timeout)
            address = check_address(str(info.get("address", "")), f"address in {path}")
            client = _connect(
                address, timeout, security_from_config(dask_config, address), f"dask.scheduler_file {path}"
            )
        elif GATEWAY in (choice.kind, choice.target):  # "shared" without the run's cluster: one of its own
            from snakedask.gateway import GatewayJobCluster

            joined = os.environ.get(GATEWAY_CLUSTER_VARIABLE) if choice.kind == GATEWAY else None
            gateway = GatewayJobCluster(dask_config["gateway"], timeout, join=joined)
            client = gateway.start().get_client()
        elif choice.target:  # "jobqueue", or "shared" of jobqueue kind without a run's cluster (see below)
            from snakedask.jobqueue import JobqueueCluster

            jobs = JobqueueCluster(dask_config["jobqueue"])
            client = Client(jobs.start())
            listen_host = (dask_config["jobqueue"].get("dashboard_address") or "127.0.0.1:0").rpartition(":")[
                0
            ]
        else:
            # "shared" here means the run started no shared cluster (e.g. a job on a batch
            # system): the job gets a cluster of its own, as with "local".
            local = dask_config.get("local") or {}
            kwargs = local_cluster_kwargs(local, threads, mem_mb)
            log.info("starting a local Dask cluster: %s", kwargs)
            if uses_tls(local):
                credentials = tls.make_credentials(tempfile.mkdtemp(prefix="snakedask-tls-"))
                kwargs.update(security=tls.security(credentials), protocol="tls://")
            elif local.get("processes"):
                log.warning(
                    "dask.local.tls is false: the scheduler and workers talk plain TCP on %s, which any "
                    "other user of this machine can reach (and run code as you)",
                    kwargs["host"],
                )
            cluster = LocalCluster(**kwargs)
            listen_host = kwargs["dashboard_address"].rpartition(":")[0]
            client = Client(cluster, security=kwargs.get("security"))
        log.info("Dask scheduler: %s", client.scheduler.address)
        log.info("Dask dashboard: %s", dashboard_link(client, listen_host))
        rule_log.job_started()  # imports done, cluster up
        try:
            yield client
            if jobs is not None:
                _log_worker_jobs(client)
        except Exception as err:
            made = cluster is not None or jobs is not None or gateway is not None
            if not made and (client.status != "running" or _lost_connection(err)):
                raise SchedulerUnreachable(
                    f"lost the Dask scheduler at {address} during the computation ({type(err).__name__}: {err}); "
                    "nothing was kept. Restart the scheduler (or point the config at another) and run again."
                ) from err
            raise
    finally:
        _close_quietly(client, cluster, jobs, gateway)
        tls.remove(credentials)


def _distributed_client() -> Any:
    """The distributed client dask computes on, or None (a local scheduler set, or no client)."""
    import dask

    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):  # no distributed client: dask's default scheduler
        return None


def _log_done(futures: list[Any], what: str, every: float) -> None:
    """Log how many of ``futures`` are done, at most every ``every`` seconds and once all are."""
    from distributed import as_completed

    started = reported = time.monotonic()
    for done, _ in enumerate(as_completed(futures), start=1):
        now = time.monotonic()
        if now - reported >= every or done == len(futures):
            log.info("%d of %d %s done (%.0f s)", done, len(futures), what, now - started)
            reported = now


def compute_logged(tasks: list[Any], what: str, every: float = 10.0) -> list[Any]:
    """``dask.compute(*tasks)``, and on a distributed client the log says how many of the ``what``
    ("blocks") are done, at most every ``every`` seconds and once all are: a long job shows progress.

    Where dask's ``scheduler`` setting names a local one (threads, sync), that computes as usual.
    """
    import dask

    client = _distributed_client()
    if client is None:
        return list(dask.compute(*tasks))
    futures = client.compute(list(tasks))
    _log_done(futures, what, every)
    return client.gather(futures)


def map_sending_data(
    function: Callable[..., Any],
    calls: list[tuple[tuple[Any, ...], Callable[[], bytes]]],
    what: str,
    in_flight: int | None = None,
    every: float = 10.0,
) -> list[Any]:
    """``[function(*args, data=load()) for args, load in calls]`` on the cluster, each ``data`` read
    here and sent to a worker: for workers that cannot read this machine's files.

    At most ``in_flight`` calls' data are out at once (default: twice the
    cluster's threads), so memory stays bounded whatever the number of calls;
    progress is logged as by :func:`compute_logged`. Without a distributed
    client the calls run here.
    """
    client = _distributed_client()
    if client is None:
        return [function(*args, data=load()) for args, load in calls]
    from distributed import as_completed

    if in_flight is None:
        in_flight = 2 * max(1, sum(client.nthreads().values()))
    results: list[Any] = [None] * len(calls)
    position: dict[str, int] = {}
    pending = as_completed()

    def send(i: int) -> None:
        args, load = calls[i]
        data = client.scatter(load(), hash=False)  # straight to a worker, not into the graph
        future = client.submit(function, *args, data=data, pure=False)
        position[future.key] = i
        pending.add(future)

    sent = min(in_flight, len(calls))
    for i in range(sent):
        send(i)
    started = reported = time.monotonic()
    for done, future in enumerate(pending, start=1):
        results[position.pop(future.key)] = future.result()
        if sent < len(calls):
            send(sent)
            sent += 1
        now = time.monotonic()
        if now - reported >= every or done == len(calls):
            log.info("%d of %d %s done (%.0f s)", done, len(calls), what, now - started)
            reported = now
    return results


def log_progress(collections: list[Any], what: str, every: float = 10.0) -> None:
    """Wait for persisted Dask ``collections``, logging how many of their ``what`` are done (on a
    distributed client; elsewhere ``persist`` has computed them already)."""
    if _distributed_client() is None:
        return
    from distributed import futures_of

    _log_done(futures_of(collections), what, every)


def _package_file() -> str | None:
    """On a worker: where ``snakedask`` is imported from (None: not importable there)."""
    try:
        import snakedask
    except ImportError:
        return None
    return snakedask.__file__


def _install_package(archive: bytes, origin: str, folder: Callable[[], str]) -> str:
    """In a worker or scheduler process: make ``snakedask`` importable from ``archive`` (a zip of it, put
    in ``folder()``), unless this process imports the very files at ``origin`` or this zip already.
    Returns where it imports it from."""
    import hashlib
    import importlib

    current = _package_file() or ""
    name = f"snakedask-{hashlib.sha256(archive).hexdigest()[:16]}.zip"
    if current == origin or f"/{name}/" in current:
        # The same files (a zip would shadow them and numba's cache beside them), or this zip,
        # installed for an earlier job: modules already imported must stay the ones tasks came from.
        return current
    target = Path(folder()) / name
    if not target.exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        partial.write_bytes(archive)
        os.replace(partial, target)
    sys.path.insert(0, str(target))
    for module in [
        module for module in sys.modules if module == "snakedask" or module.startswith("snakedask.")
    ]:
        del sys.modules[module]  # another copy, imported before: the tasks must see this one
    importlib.invalidate_caches()
    return str(target)


def ship_package(client: Client) -> None:
    """Make this package importable by the tasks on every worker, and by the scheduler.

    Through a worker and a scheduler plugin (distributed's public plugin API), so
    that workers that join later (an adaptive gateway or jobqueue cluster) get it
    too. A process that imports the very same files (a local cluster, workers
    started from this environment, where ``make setup`` installed the package)
    is left alone: a zip would shadow its files and throw away numba's cached
    machine code, which lives beside them. Others put a zip of the package first
    on ``sys.path``.
    """
    import io

    import cloudpickle
    from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

    import snakedask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # runs where this may not import
    package = Path(snakedask.__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for path in sorted(package.rglob("*.py")):
            zipped.write(path, path.relative_to(package.parent))
    archive, origin = buffer.getvalue(), snakedask.__file__

    class PackageForWorkers(WorkerPlugin):
        name = "snakedask-package"

        def setup(self, worker: Any) -> None:
            _install_package(archive, origin, lambda: worker.local_directory)

    class PackageForScheduler(SchedulerPlugin):
        name = "snakedask-package"

        async def start(self, scheduler: Any) -> None:
            _install_package(archive, origin, lambda: tempfile.mkdtemp(prefix="snakedask-package-"))

    client.register_plugin(PackageForScheduler())
    register_despite_lost_workers(client, PackageForWorkers())


def register_despite_lost_workers(client: Client, plugin: Any, patience: float = 30.0) -> None:
    """Register a worker plugin; a worker lost on the way is not an error.

    The scheduler keeps the plugin for workers that join later, then sends it to
    the ones it lists, and the whole call fails if one of them has just died (a
    killed, restarted or preempted worker): the connection to it closes. So send
    again, to the workers still listed, for up to ``patience`` s while this client
    is still connected to the scheduler (a lost scheduler ends it at once).
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            client.register_plugin(plugin)
            return
        except OSError:  # distributed's CommClosedError is one
            if client.status != "running" or time.monotonic() >= deadline:
                raise
            time.sleep(0.25)


@contextlib.contextmanager
def performance_report_to(path: str | Path, enabled: bool = True) -> Iterator[None]:
    """Save the Dask performance report of the block to ``path`` (self-contained HTML).

    ``mode="inline"`` embeds Bokeh's JavaScript: the default loads it from a CDN
    and shows a blank page offline. Disabled (``dask.performance_report: false``,
    a fixed cost per rule saved), the page only says so.
    """
    if enabled:
        from distributed import performance_report

        # Bokeh's document validation (a check on the figures distributed builds, ~0.2 s) only ever warns.
        os.environ.setdefault("BOKEH_VALIDATE_DOC", "false")
        with performance_report(filename=str(path), mode="inline"):
            yield
    else:
        yield
        Path(path).write_text(
            "<!DOCTYPE html><html><head><title>Dask Performance Report</title></head><body>"
            "<p>No Dask performance report: <code>dask.performance_report</code> is false in the config.</p>"
            "</body></html>\n"
        )

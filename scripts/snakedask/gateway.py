"""Dask clusters made by a dask-gateway server (``dask.gateway``), as Pangeo's JupyterHubs offer.

The gateway starts the scheduler and the workers wherever it runs them
(processes, Kubernetes pods, batch jobs); this side only asks, through
dask-gateway's public client API: ``Gateway.cluster_options()`` (the options
the server offers, with dask's own ``gateway.cluster.options`` defaults),
``Gateway.new_cluster(options)``, ``GatewayCluster.adapt(minimum, maximum)``,
``get_client()`` and ``shutdown()``.

* Per job: the rule's process makes a cluster and shuts it down at its end.
* Per run (``dask.local.shared``): the Snakemake process makes one and shuts it
  down after the last job (:class:`SharedGatewayCluster`); the jobs join it by
  name (``Gateway.connect``), found in :data:`CLUSTER_VARIABLE`, and leave it
  running.

No cluster outlives its owner: a watchdog process (its own session, so a
signal to the owner's process group does not reach it) waits for the owner's
PID to go and then asks the gateway to stop the cluster, so a killed or
interrupted rule or run leaves nothing running on the gateway either
(``shutdown_on_close: false`` leaves the cluster on purpose, and starts no watchdog).

Credentials never come from the workflow's config: ``auth`` names the method
(``basic``, ``kerberos``, ``jupyterhub``), and dask-gateway reads the secret
from the environment as it always does (``JUPYTERHUB_API_TOKEN``,
``DASK_GATEWAY__AUTH__KWARGS__PASSWORD``, a Kerberos ticket). Traffic to the
schedulers goes through the gateway's proxy (``gateway://``) with TLS and
credentials the gateway makes for each cluster; the HTTP API is TLS only if
the address is ``https://`` (the server's TLS is configured on the server):
plain ``http://`` beyond this machine's loopback is warned about.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from snakedask import watchdog
from snakedask.errors import ClusterConfigError, SchedulerUnreachable

if TYPE_CHECKING:
    from dask_gateway import Gateway, GatewayCluster

log = logging.getLogger("workflow.dask")

# The run's gateway cluster (dask.local.shared), by name, for the jobs: the Snakemake process sets it.
CLUSTER_VARIABLE = "WORKFLOW_DASK_GATEWAY_CLUSTER"
# Closed Gateway and GatewayCluster objects, kept until the interpreter exits: dask-gateway's
# Gateway.__del__ closes a closed Gateway again, which with today's distributed raises RuntimeError
# ("Exception ignored in: <function Gateway.__del__>", a traceback in the rule's log). While the
# interpreter finalizes, __del__ does nothing.
_CLOSED: list[Any] = []


def gateway_problems(dask_config: dict[str, Any]) -> list[str]:
    """What a schema cannot say about ``dask.gateway`` (defaults filled in), one line each."""
    gateway = dask_config.get("gateway") or {}
    problems = []
    if gateway.get("address") and not gateway.get("enabled"):
        problems.append(
            f"  - dask.gateway.address: {gateway['address']!r} is set but dask.gateway.enabled is false, so no "
            "gateway would be used. Set dask.gateway.enabled: true (or remove the address)."
        )
    low, high = gateway.get("min_workers", 1), gateway.get("max_workers", 4)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(
            f"  - dask.gateway.min_workers: {low} is more than dask.gateway.max_workers = {high}; "
            "make min_workers at most max_workers."
        )
    return problems


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine's loopback (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_kwargs(gateway: dict[str, Any]) -> dict[str, Any]:
    """``dask_gateway.Gateway`` arguments from ``dask.gateway``; a null key leaves dask's own config
    (``gateway.address``, ``gateway.proxy-address``, ``gateway.auth.type``, …) in charge."""
    return {
        key: gateway[key]
        for key in ("address", "proxy_address", "public_address", "auth")
        if gateway.get(key)
    }


def open_gateway(gateway: dict[str, Any]) -> Gateway:
    """A ``Gateway`` client for ``dask.gateway``; ClusterConfigError if it has no address or auth."""
    import dask
    from dask_gateway import Gateway

    kwargs = client_kwargs(gateway)
    if "address" not in kwargs and dask.config.get("gateway.address", None) is None:
        raise ClusterConfigError(
            "dask.gateway.enabled is true but no gateway address is known: set dask.gateway.address "
            "(https://HOST:PORT), or dask's own gateway.address (DASK_GATEWAY__ADDRESS in the environment, "
            "as Pangeo's JupyterHubs set it)."
        )
    try:
        return Gateway(**kwargs)
    except (ValueError, TypeError, ImportError) as err:  # e.g. jupyterhub auth without a token
        raise ClusterConfigError(
            f"dask.gateway: dask-gateway's client refused the settings (auth = {gateway.get('auth')!r}; "
            f"secrets come from the environment, e.g. JUPYTERHUB_API_TOKEN): {err}"
        ) from None


def check_transport(address: str) -> None:
    """Warn when the gateway's API is plain HTTP beyond loopback: the login travels in clear."""
    parts = urlsplit(address)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        log.warning(
            "the dask-gateway at %s speaks plain HTTP: its login (password, token) and the cluster's TLS "
            "credentials cross the network unencrypted. Use its https:// address (TLS is set up on the "
            "gateway server: c.Proxy.tls_cert / tls_key, or a TLS-terminating proxy in front).",
            address,
        )


def _through_http_proxy(address: str) -> bool:
    """Whether dask-gateway's client reaches ``address`` through an HTTP proxy (its ``gateway.http-client.proxy``
    setting: a proxy's address, or true for the environment's ``HTTP(S)_PROXY``)."""
    import urllib.request

    import dask

    proxy = dask.config.get("gateway.http-client.proxy", True)
    if isinstance(proxy, str):
        return True
    parts = urlsplit(address)
    return (
        bool(proxy)
        and parts.scheme in urllib.request.getproxies()
        and not urllib.request.proxy_bypass(parts.hostname or "")
    )


def wait_for_server(address: str, timeout: float) -> None:
    """SchedulerUnreachable unless the gateway's host accepts a connection within ``timeout`` s (dask-gateway's
    own client waits up to five minutes). Through an HTTP proxy the gateway cannot be reached directly: no check."""
    if _through_http_proxy(address):
        return
    parts = urlsplit(address)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 80)
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ClusterConfigError(f"dask.gateway.address = {address!r}: write it as http(s)://HOST[:PORT].")
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as err:
        raise SchedulerUnreachable(
            f"no dask-gateway answered at {address} within {timeout:g} s: {err}. Start the gateway, fix "
            "dask.gateway.address, or set dask.gateway.enabled: false."
        ) from err


def _refused(err: BaseException, gateway: dict[str, Any], address: str) -> Exception:
    """The workflow's error for what the gateway answered instead of a cluster."""
    import aiohttp
    from dask_gateway import GatewayClusterError, GatewayServerError

    if isinstance(err, aiohttp.ClientResponseError) and err.status in (401, 403):
        return ClusterConfigError(
            f"the dask-gateway at {address} refused the login (HTTP {err.status}) with auth = "
            f"{gateway.get('auth') or 'dask config gateway.auth.type'!r}: give the credentials in the "
            "environment (DASK_GATEWAY__AUTH__KWARGS__PASSWORD for basic, JUPYTERHUB_API_TOKEN for jupyterhub, "
            "a Kerberos ticket), never in the workflow's config."
        )
    if isinstance(err, ValueError):  # HTTP 404 or 422: e.g. an option the server does not take
        return ClusterConfigError(f"the dask-gateway at {address} refused the request: {err}")
    if isinstance(err, GatewayClusterError | GatewayServerError):
        return SchedulerUnreachable(f"the dask-gateway at {address} gave no cluster: {err}")
    if isinstance(err, aiohttp.ClientError | OSError | TimeoutError):
        return SchedulerUnreachable(f"the dask-gateway at {address} did not answer as expected: {err!r}")
    return err if isinstance(err, Exception) else RuntimeError(repr(err))


def cluster_options(client: Gateway, wanted: dict[str, Any]) -> Any:
    """The server's options (with dask config's defaults) updated with ``dask.gateway.cluster_options``;
    a name the server does not offer, or a value it would refuse, is a ClusterConfigError naming both."""
    options = client.cluster_options()
    for name, value in wanted.items():
        try:
            options[name] = value
        except KeyError:
            raise ClusterConfigError(
                f"dask.gateway.cluster_options.{name}: the gateway at {client.address} offers no such option; "
                f"it offers {sorted(options)}."
            ) from None
        except (TypeError, ValueError) as err:
            raise ClusterConfigError(
                f"dask.gateway.cluster_options.{name} = {value!r}: the gateway would refuse it: {err}"
            ) from None
    return options


def start_watchdog(gateway: dict[str, Any], name: str, owner: int | None = None) -> subprocess.Popen:
    """A process that stops the gateway cluster ``name`` once ``owner`` (default: this process) has exited."""
    settings = json.dumps(client_kwargs(gateway))  # names and addresses only: secrets stay in the environment
    return watchdog.start("snakedask.gateway", "--cluster", name, "--settings", settings, owner=owner)


def watch(owner: int, name: str, settings: dict[str, Any], interval: float = 1.0) -> None:
    """Wait for ``owner`` to exit, then ask the gateway to stop cluster ``name`` (again, should it fail)."""
    watchdog.wait_for_exit(owner, interval)
    from dask_gateway import Gateway

    for delay in (0, 2, 5, 15):
        time.sleep(delay)
        try:
            Gateway(**settings).stop_cluster(name)  # closed by its __del__ (see _CLOSED)
            return
        except ValueError:  # HTTP 404: no such cluster (stopped already)
            return
        except Exception as err:
            print(f"could not stop gateway cluster {name} yet: {err!r}", file=sys.stderr, flush=True)


class GatewayJobCluster:
    """A cluster from the gateway: made (or, with ``join``, the run's, by name), scaled, and closed.

    ``start()`` returns the ``GatewayCluster``; ``close()`` shuts down a cluster
    it made (unless ``shutdown_on_close: false``), leaves a joined one running,
    and ends the watchdog once the gateway has said the cluster is stopped.
    """

    def __init__(self, gateway: dict[str, Any], timeout: float = 30, join: str | None = None):
        self.gateway = gateway
        self.timeout = timeout
        self.join = join
        self.shutdown = join is None and gateway.get("shutdown_on_close", True) is not False
        self.client: Gateway | None = None
        self.cluster: GatewayCluster | None = None
        self.watchdog: subprocess.Popen | None = None
        self.address: str | None = None  # the gateway's (its HTTP API)

    def start(self) -> GatewayCluster:
        self.client = open_gateway(self.gateway)
        self.address = self.client.address
        try:
            check_transport(self.address)
            wait_for_server(self.address, self.timeout)
            try:
                if self.join:
                    self.cluster = self.client.connect(self.join, shutdown_on_close=False)
                else:
                    options = cluster_options(self.client, self.gateway.get("cluster_options") or {})
                    self.cluster = self.client.new_cluster(options, shutdown_on_close=self.shutdown)
                    if self.shutdown:
                        self.watchdog = start_watchdog(self.gateway, self.cluster.name)
                    low, high = (
                        int(self.gateway.get("min_workers", 1)),
                        int(self.gateway.get("max_workers", 4)),
                    )
                    self.cluster.adapt(minimum=low, maximum=high)
            except ClusterConfigError:
                raise
            except Exception as err:
                raise _refused(err, self.gateway, self.address) from err
        except BaseException:
            self.close()
            raise
        if self.join:
            log.info(
                "Dask cluster %s of this run, on the dask-gateway at %s", self.cluster.name, self.address
            )
        else:
            log.info(
                "Dask cluster %s from the dask-gateway at %s (%d-%d workers, adaptive; options %s)%s",
                self.cluster.name,
                self.address,
                low,
                high,
                # The workflow's own: the gateway's defaults may hold what the environment gave them.
                dict(self.gateway.get("cluster_options") or {}),
                "" if self.shutdown else "; left running at the end (dask.gateway.shutdown_on_close: false)",
            )
        return self.cluster

    def close(self) -> None:
        """Close the cluster object (and the clients it made); stop the cluster if it is ours. The
        watchdog ends once the gateway has said the cluster is stopped: should that fail, it tries
        again when this process has exited."""
        cluster, self.cluster = self.cluster, None
        _CLOSED.extend(thing for thing in (cluster, self.client) if thing is not None)
        try:
            if cluster is not None:
                cluster.close(shutdown=False)
                if self.shutdown:
                    # Asked here rather than by cluster.shutdown(), which only logs a failure.
                    self.client.stop_cluster(cluster.name)
                    log.info("Dask cluster %s stopped on the dask-gateway", cluster.name)
                if self.watchdog is not None:
                    self.watchdog.terminate()
                    self.watchdog.wait()
                    self.watchdog = None
        finally:
            if self.client is not None:
                self.client.close()
                self.client = None


class SharedGatewayCluster:
    """One gateway cluster for a Snakemake run (``dask.local.shared``), held by the Snakemake process.

    Same interface as :class:`shared_cluster.SharedCluster`: ``start()`` returns
    what the jobs need (here the cluster's name, for :data:`CLUSTER_VARIABLE`),
    ``stop()`` shuts it down. Its watchdog stops it should Snakemake be killed.
    """

    credentials = None  # the gateway makes the cluster's TLS credentials; the jobs get them from it

    def __init__(self, gateway: dict[str, Any], timeout: float = 30):
        self.held = GatewayJobCluster(gateway, timeout)
        self.address: str | None = None

    def start(self) -> str:
        cluster = self.held.start()
        self.address = cluster.scheduler_address
        return cluster.name

    def stop(self) -> None:
        self.held.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m snakedask.gateway", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    watching = commands.add_parser("watch", help="stop a gateway cluster once its owner exits")
    watching.add_argument("--owner", type=int, required=True)
    watching.add_argument("--cluster", required=True)
    watching.add_argument("--settings", required=True, help="the Gateway() arguments, as JSON")
    args = parser.parse_args(argv)
    watch(args.owner, args.cluster, json.loads(args.settings))


if __name__ == "__main__":
    main()

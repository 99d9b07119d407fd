"""A real dask-gateway server on 127.0.0.1 (``dask-gateway-server -f CONFIG``), as its own process.

Its clusters are local processes (``UnsafeLocalBackend``: no user separation, for tests only),
their scheduler and workers ``dask scheduler`` / ``dask worker`` of this environment; or, run
as root with ``as_user``, processes of that Unix user (``LocalBackend``), as a hub's would be.
Clients log in with HTTP basic auth and a random password, which they get through the
environment (``GatewayServer.env``: dask's ``DASK_GATEWAY__...`` variables), never a config
file. The HTTP API, the scheduler proxy (``gateway://``) and the private API listen on free
ports of 127.0.0.1.
"""

import contextlib
import importlib.util
import os
import secrets
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from snakedask.shared_cluster import stop_processes
from tests.helpers import wait_until
from tests.services.s3_server import free_port

SERVER = Path(sys.executable).with_name("dask-gateway-server")
DASK = Path(sys.executable).with_name("dask")


def missing_reason() -> str | None:
    """Why a dask-gateway server cannot be started here, or None if it can."""
    for module, package in (("dask_gateway", "dask-gateway"), ("dask_gateway_server", "dask-gateway-server")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install dask-gateway 'dask-gateway-server[local]')"
    if not SERVER.exists():
        return f"no {SERVER}"
    return None


@dataclass
class GatewayServer:
    address: str  # http://127.0.0.1:PORT, the API clients talk to
    proxy_address: str  # gateway://127.0.0.1:PORT, the schedulers' TLS proxy
    env: dict[str, str]  # what a client needs in its environment: the password among it
    folder: Path  # the config, the log and the clusters' working folders

    @property
    def password(self) -> str:
        return self.env["DASK_GATEWAY__AUTH__KWARGS__PASSWORD"]

    def config(self, **gateway: object) -> dict:
        """The workflow's ``dask`` config for this server (``gateway`` keys added or overridden)."""
        return {
            "gateway": {
                "enabled": True,
                "address": self.address,
                "proxy_address": self.proxy_address,
                "auth": "basic",
                "max_workers": 2,  # the server's limit (cluster_max_workers)
                **gateway,
            }
        }

    def gateway(self):
        """A ``dask_gateway.Gateway`` client, logged in (for the tests' own checks). Leave its closing to
        its ``__del__``: closed by hand, it is closed again there, which raises (see ``gateway._CLOSED``)."""
        from dask_gateway import Gateway
        from dask_gateway.auth import BasicAuth

        return Gateway(self.address, proxy_address=self.proxy_address, auth=BasicAuth(password=self.password))


CONFIG = """\
c.DaskGateway.address = "127.0.0.1:{api_port}"
c.Proxy.address = "127.0.0.1:{http_port}"
c.Proxy.tcp_address = "127.0.0.1:{tcp_port}"
{backend}
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = {password!r}
c.LocalBackend.clusters_directory = {clusters!r}
# Variables (names only) the clusters' processes take from the server's environment, beside the default ones.
c.LocalBackend.inherited_environment.extend({inherit!r})
# distributed 2026.8 has no `dask-scheduler` / `dask-worker` any more: the gateway's defaults.
c.ClusterConfig.scheduler_cmd = [{dask!r}, "scheduler"]
c.ClusterConfig.worker_cmd = [{dask!r}, "worker"]
c.ClusterConfig.worker_cores = 1
c.ClusterConfig.worker_memory = "1 G"
c.ClusterConfig.scheduler_memory = "1 G"
c.ClusterConfig.cluster_max_workers = 2
# A cluster left behind by a killed test stops by itself.
c.ClusterConfig.idle_timeout = 600
# What a client may choose (dask.gateway.cluster_options): threads per worker.
from dask_gateway_server.options import Integer, Options
c.Backend.cluster_options = Options(
    Integer("worker_threads", default=1, min=1, max=2, label="Threads per worker"),
    handler=lambda options: {{"worker_threads": options.worker_threads}},
)
"""


# The real LocalBackend (clusters as the user who logs in). dask-gateway-server 2026.3 hands
# set_file_permissions the characters of the cluster's key and certificate paths (`paths.extend(path)`
# in setup_working_directory): run as root it gives "/" to the user, then fails on "v". Here the
# cluster's folder alone is given to the user, whole.
USER_BACKEND = """\
import os, pwd
from dask_gateway_server.backends.local import LocalBackend

class UserFolderLocalBackend(LocalBackend):
    def set_file_permissions(self, paths, username):
        user = pwd.getpwnam(username)
        for folder, _, files in os.walk(paths[0]):
            for path in [folder, *(os.path.join(folder, name) for name in files)]:
                os.chown(path, user.pw_uid, user.pw_gid)

c.DaskGateway.backend_class = UserFolderLocalBackend"""


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"{address}/api/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def dask_gateway_server(
    folder: Path,
    as_user: str | None = None,
    dask: Path = DASK,
    clusters: Path | None = None,
    env: dict[str, str] | None = None,
):
    """``dask-gateway-server`` on free ports of 127.0.0.1, stopped afterwards (its clusters with it);
    yields a :class:`GatewayServer`.

    ``as_user``: the server runs (as root) the real ``LocalBackend``, which starts each cluster's
    scheduler and workers as the Unix user who logs in, and clients log in as ``as_user``; ``dask``
    is then a `dask` command that user can run, ``clusters`` a folder that user can reach, and
    ``env`` variables the clusters' processes get (their names are in the server's config, their
    values only in its environment).
    """
    folder.mkdir(parents=True, exist_ok=True)
    env = env or {}
    api_port, http_port, tcp_port = free_port(), free_port(), free_port()
    password = f"pw-{secrets.token_hex(16)}"  # never all digits: dask reads variables as literals
    config = folder / "dask_gateway_config.py"
    config.write_text(
        CONFIG.format(
            api_port=api_port,
            http_port=http_port,
            tcp_port=tcp_port,
            password=password,
            clusters=str(clusters or folder / "clusters"),
            dask=str(dask),
            backend=USER_BACKEND
            if as_user
            else 'c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"',
            inherit=sorted(env),
        )
    )
    address = f"http://127.0.0.1:{http_port}"
    log = folder / "dask-gateway-server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(SERVER), "-f", str(config)],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"dask-gateway-server exited ({process.returncode}); see {log}")
            return _answers(address)

        wait_until(up, 60, f"dask-gateway-server did not answer on {address} within 60 s; see {log}")
        yield GatewayServer(
            address=address,
            proxy_address=f"gateway://127.0.0.1:{tcp_port}",
            env={
                "DASK_GATEWAY__AUTH__KWARGS__PASSWORD": password,
                **({"DASK_GATEWAY__AUTH__KWARGS__USERNAME": as_user} if as_user else {}),
            },
            folder=folder,
        )
    finally:
        # SIGTERM: the server stops its clusters' schedulers and workers before it exits.
        stop_processes([process], timeout=60)

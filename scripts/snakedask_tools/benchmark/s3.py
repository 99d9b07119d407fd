"""``--s3``: NDVI with the scene read in place from a local S3 server (moto's, on 127.0.0.1).

The benchmark starts ``moto_server`` on a free port of 127.0.0.1 for the run and stops it at the
end. Each measured scene's two band files are uploaded once (untimed) as
``s3://snakedask-bench/<scene>/<band>.tif`` and deleted once the scene is measured. A second scene
entry, ``<scene>_s3`` with ``read_in_place: true`` (in its own config file, ``bench-s3.yaml``, given
only to the commands that read in place), makes the ``ndvi`` rule read every block through GDAL's
``/vsis3/`` from that server: its ``locate_band`` jobs run beforehand and are not timed, then
``snakemake <its ndvi.tif> --forcerun ndvi`` runs in the same rounds as the local-file workflow and
the eager baseline (workflow, workflow in place, eager, ...).

The commands that read in place get the store's endpoint and a random key pair only through the
standard AWS variables (every ``AWS_*`` variable of the benchmark's own environment is dropped
first); credentials files and the EC2 metadata service are switched off and ``NO_PROXY`` covers
127.0.0.1, so nothing looks beyond loopback. No command line or report holds the secret.

The server is the store: its memory is not part of the workflow's peak (the benchmark samples it
on its own), and moto answers every ranged GET by reading the whole object (moto 5's
``_handle_range_header`` slices the object's full value), so each of GDAL's range requests costs
the server a copy of the whole band file: the time measured here includes that, and a real object
store's would not.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from snakedask_tools.benchmark.measure import PYTHON, TreeSampler

HOST = "127.0.0.1"
BUCKET = "snakedask-bench"
MOTO_SERVER = PYTHON.with_name("moto_server")
S3_CONFIG = "bench-s3.yaml"
IN_PLACE_SUFFIX = "_s3"
ACCESS_KEY_ID = "snakedask-bench-key"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
STARTUP_SECONDS = 60
CHUNK = 1 << 24  # bytes per read when streaming an object to nowhere (warming the store)


def in_place_name(scene: str) -> str:
    """The config name of ``scene`` read in place, e.g. ``raster_4x_tiled-deflate_s3``."""
    return f"{scene}{IN_PLACE_SUFFIX}"


def object_key(scene: str, band: str) -> str:
    return f"{scene}/{band}.tif"


def object_url(scene: str, band: str) -> str:
    return f"s3://{BUCKET}/{object_key(scene, band)}"


def in_place_entry(scene: str, bands: list[str] | tuple[str, ...], chunks: Any) -> dict[str, Any]:
    """The config entry of ``scene`` read in place: each band's object, ``read_in_place: true`` and
    the local entry's chunks (a copy: a shared object would be written as a YAML anchor)."""
    entry: dict[str, Any] = {band: {"url": object_url(scene, band)} for band in bands}
    return {**entry, "read_in_place": True, "chunks": copy.copy(chunks)}


def write_s3_config(checkout: Path, scenes: list[str], bands: tuple[str, ...], chunks: Any) -> Path:
    """``bench-s3.yaml``: one in-place entry per scene, merged after the benchmark's config."""
    config = {"scenes": {in_place_name(scene): in_place_entry(scene, bands, chunks) for scene in scenes}}
    path = checkout / S3_CONFIG
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def aws_environment(endpoint: str, secret: str) -> dict[str, str]:
    """What a client of the local store needs, and nothing that would send it elsewhere."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }


def command_environment(base: dict[str, str], aws: dict[str, str]) -> dict[str, str]:
    """``base`` without any ``AWS_*`` variable (a profile, token, other endpoint or CA bundle of the
    benchmark's own environment), plus ``aws``; 127.0.0.1 bypasses any HTTP proxy."""
    environment = {name: value for name, value in base.items() if not name.upper().startswith("AWS_")}
    no_proxy = ",".join(filter(None, [HOST, "localhost", environment.get("NO_PROXY", "")]))
    return {**environment, **aws, "NO_PROXY": no_proxy, "no_proxy": no_proxy}


def range_requests(log_text: str, scene: str) -> int:
    """How many ranged GETs (answered 206) of ``scene``'s objects moto's request log holds."""
    prefix = re.escape(f"/{BUCKET}/{scene}/")
    pattern = re.compile(rf'"GET {prefix}\S+ HTTP/[\d.]+" 206 ')
    return len(pattern.findall(ANSI_ESCAPE.sub("", log_text)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint, timeout=2):
            return True
    except OSError:
        return False


@dataclass
class MotoServer:
    """The running store: its endpoint, the environment its clients need, its log and process."""

    endpoint: str
    aws: dict[str, str]
    process: subprocess.Popen
    log: Path
    _client: Any = field(default=None, repr=False)

    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.session.Session(
                aws_access_key_id=self.aws["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=self.aws["AWS_SECRET_ACCESS_KEY"],
                region_name=self.aws["AWS_DEFAULT_REGION"],
            ).client("s3", endpoint_url=self.endpoint)
        return self._client

    def upload(self, scene: str, bands: dict[str, Path]) -> None:
        for band, path in bands.items():
            with open(path, "rb") as body:
                self.client().put_object(Bucket=BUCKET, Key=object_key(scene, band), Body=body)

    def delete(self, scene: str, bands: list[str]) -> None:
        for band in bands:
            self.client().delete_object(Bucket=BUCKET, Key=object_key(scene, band))

    def warm(self, scene: str, bands: list[str]) -> None:
        """Read each object once through the server (untimed): the store's files in the page cache,
        as every local input is before a run."""
        for band in bands:
            body = self.client().get_object(Bucket=BUCKET, Key=object_key(scene, band))["Body"]
            for _ in body.iter_chunks(CHUNK):
                pass

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def memory_sampler(self) -> TreeSampler:
        """Samples the server's own RSS (started by the caller): the store's, not the workflow's."""
        sampler = TreeSampler(self.process.pid)
        sampler.start()
        return sampler


@contextlib.contextmanager
def moto_server(logs: Path, spool: Path) -> Iterator[MotoServer]:
    """``moto_server`` on a free port of 127.0.0.1 with an empty bucket, stopped afterwards.

    ``spool``: where moto keeps the objects (its temporary files, ``TMPDIR``): the disk of ``--data``.
    """
    port = free_port()
    endpoint = f"http://{HOST}:{port}"
    log = logs / "moto.log"
    # The server needs no credentials of anyone's: nothing of the benchmark's AWS environment.
    environment = command_environment(dict(os.environ), {"TMPDIR": str(spool)})
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", HOST, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not answers(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not answer on {endpoint}; see {log}")
            time.sleep(0.2)
        server = MotoServer(endpoint, aws_environment(endpoint, secrets.token_hex(20)), process, log)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""Temporary TLS credentials for the Dask clusters the workflow starts.

A port on 127.0.0.1 is not private: on a shared server (a login node, the
lesson's classroom machine) every other user can connect to it, and a Dask
scheduler runs whatever code reaches it. So every cluster the workflow starts
that listens on a TCP port speaks TLS with credentials made for it: one
self-signed certificate, its key and itself as the CA, written to a folder only
this user can read (0700; the key 0600), used by the scheduler, the workers and
the clients alike (mutual TLS: a client without them is refused), and deleted
with the cluster. Workers started elsewhere (SLURM jobs, ``dask worker``
processes) read them from that folder, as the user who made them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Security

# Where a run's shared cluster leaves its credentials for the jobs (beside DASK_SCHEDULER_ADDRESS).
FOLDER_VARIABLE = "WORKFLOW_DASK_TLS_FOLDER"
FILES = ("ca.pem", "cert.pem", "key.pem")


def make_credentials(folder: str | Path, days: int = 7) -> Path:
    """Write a new self-signed certificate (``cert.pem``, also ``ca.pem``) and its key (``key.pem``)
    to ``folder``, created with mode 0700; return the folder."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = Path(folder).absolute()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # also when it existed
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "snakedask temporary cluster")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path = folder / "key.pem"
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    for name_ in ("cert.pem", "ca.pem"):
        (folder / name_).write_bytes(pem)
    return folder


def security(folder: str | Path) -> Security:
    """A ``distributed.Security`` for every role (scheduler, worker, client) from ``folder``'s files."""
    from distributed import Security

    folder = Path(folder).absolute()
    ca, cert, key = (str(folder / name) for name in FILES)
    return Security(
        tls_ca_file=ca,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        tls_client_cert=cert,
        tls_client_key=key,
        require_encryption=True,
    )


def command_line(folder: str | Path) -> list[str]:
    """``dask scheduler`` / ``dask worker`` options that use ``folder``'s credentials."""
    folder = Path(folder).absolute()
    return [
        "--tls-ca-file",
        str(folder / "ca.pem"),
        "--tls-cert",
        str(folder / "cert.pem"),
        "--tls-key",
        str(folder / "key.pem"),
    ]


def remove(folder: str | Path | None) -> None:
    """Delete the credentials (the cluster that used them is closed)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)

"""A test CA and one certificate for 127.0.0.1 signed by it, made with openssl (for TLS schedulers)."""

import shutil
import subprocess
from pathlib import Path


def missing_reason() -> str | None:
    """Why certificates cannot be made here, or None if they can."""
    if shutil.which("openssl") is None:
        return "openssl is not installed (apt-get install openssl)"
    return None


def make_certificates(folder: Path) -> dict[str, str]:
    """A test CA and one certificate for 127.0.0.1 signed by it, made with openssl."""

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=workflow-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "node.key",
        "-out",
        "node.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return {
        "ca_file": str(folder / "ca.pem"),
        "cert": str(folder / "node.pem"),
        "key": str(folder / "node.key"),
    }

"""A real S3 server on 127.0.0.1 (moto's, as its own process), and a proxy that cuts responses short.

Clients reach it through the standard AWS environment variables (``MotoServer.aws``): a
random secret key, so a test can look for it in every file a run wrote. Credentials files
and the EC2 metadata service are switched off, so boto3 never looks beyond loopback.
"""

import contextlib
import socket
import threading
from pathlib import Path

# The benchmark's store (snakedask_tools.benchmark.s3), shared: the server, the environment its
# clients need, a free port of 127.0.0.1.
from snakedask_tools.benchmark.s3 import aws_environment, free_port, moto_server

__all__ = ["aws_environment", "bucket_with_sample", "cutting_proxy", "free_port", "s3_server"]


@contextlib.contextmanager
def s3_server(folder: Path):
    """``moto_server`` on a free port of 127.0.0.1, stopped afterwards: a ``MotoServer``
    (``endpoint``, ``aws``: the environment a client needs, the random secret among it; ``client()``)."""
    with moto_server(folder, folder) as server:
        yield server


def bucket_with_sample(server, bucket: str, sample: dict[str, Path]) -> None:
    """Make ``bucket`` on ``server``, holding the bundled sample's files under ``sample/``."""
    client = server.client()
    client.create_bucket(Bucket=bucket)
    for path in sample.values():
        client.put_object(Bucket=bucket, Key=f"sample/{path.name}", Body=path.read_bytes())


@contextlib.contextmanager
def cutting_proxy(upstream_port: int, path: str, cuts: int, on_cut=None, refuse_status: int | None = None):
    """A TCP proxy on 127.0.0.1 that cuts the answer to the first ``cuts`` connections whose first
    request is ``GET <path>`` halfway through and closes them, calling ``on_cut()`` before the client
    can see the cut (its retry then meets what ``on_cut`` did, however slow it was). With
    ``refuse_status`` (e.g. 503) it instead answers the first ``cuts`` requests for ``path`` (any
    method) with that status and S3's ``SlowDown`` error, as a busy store does. Yields its endpoint."""
    listener = socket.create_server(("127.0.0.1", 0))
    state = {"cuts": cuts}

    def pipe(source, sink, limit=None, at_limit=None):
        sent = 0
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 14):
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: limit - sent])
                    if at_limit is not None:
                        at_limit()  # before the cut shows: the client's retry comes after it
                    break
                sink.sendall(data)
                sent += len(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def serve(client):
        first = client.recv(1 << 16)
        request_line = first.split(b"\r\n", 1)[0]
        if refuse_status is not None and f" {path} ".encode() in request_line and state["cuts"] > 0:
            state["cuts"] -= 1
            body = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
            head = f"HTTP/1.1 {refuse_status} Slow Down\r\nContent-Type: application/xml\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            with contextlib.suppress(OSError):
                client.sendall(head.encode() + body)
                client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        cut = refuse_status is None and first.startswith(f"GET {path}".encode()) and state["cuts"] > 0
        if cut:
            state["cuts"] -= 1
        upstream.sendall(first)
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        # Headers and about half of a small object's body: the object is ~40 kB in the tests.
        pipe(upstream, client, limit=20_000 if cut else None, at_limit=on_cut if cut else None)

    def accept():
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()

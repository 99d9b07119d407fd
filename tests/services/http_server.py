"""A real HTTP server on 127.0.0.1 whose routes misbehave on purpose, for download tests."""

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    data: bytes = b""
    ranges: bool = True  # honour Range requests with 206
    fail_first: int = 0  # answer this many requests with `fail_status` first
    fail_status: int = 500
    drop_first: int = 0  # cut this many bodies off halfway, then close the connection
    status: int | None = None  # always answer this status (e.g. 404)
    headers: dict = field(default_factory=dict)
    redirect: str | None = None  # 302 to this path
    seen: list = field(default_factory=list)  # (Range header or None) per request
    changes_to: bytes | None = None  # after the first request the file is these bytes (ETag "v2")
    ignore_if_range: bool = False  # answer 206 even when If-Range names an older version
    range_starts_at: int | None = None  # a Content-Range (and body) starting here, whatever was asked
    etag: bool = True  # send an ETag (no validator at all without it)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            return self._error(404)
        route.seen.append(self.headers.get("Range"))
        if route.redirect:
            self.send_response(302)
            self.send_header("Location", route.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.status:
            return self._error(route.status)
        if route.fail_first > 0:
            route.fail_first -= 1
            return self._error(route.fail_status)
        data, start, etag = route.data, 0, '"v1"'
        if route.changes_to is not None and len(route.seen) > 1:
            data, etag = route.changes_to, '"v2"'
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        current = if_range in (None, etag) or route.ignore_if_range
        if route.ranges and wanted and wanted.startswith("bytes=") and current:
            start = int(wanted[len("bytes=") :].split("-")[0])
            if start >= len(data):
                return self._error(416)
            if route.range_starts_at is not None:
                start = route.range_starts_at
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        if route.etag:
            self.send_header("ETag", etag)
        if route.ranges:
            self.send_header("Accept-Ranges", "bytes")
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if route.drop_first > 0:
            route.drop_first -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)

    def _error(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class FlakyServer:
    """``with FlakyServer() as server: server.routes["/x"] = Route(b"..."); server.url("/x")``."""

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.routes = self.httpd.routes
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

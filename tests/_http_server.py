"""A throwaway HTTP server on 127.0.0.1 for download tests (no network needed).

Usage::

    with serve({"/a.gz": Route(body)}) as server:
        fetch_file("a.gz", [server.url], sha256, tmp_path)
        assert server.requests == ["/a.gz"]
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


@dataclass
class Route:
    """What the server answers for one path.

    body: the bytes; Content-Length always announces ``len(body)``.
    send_bytes: send only this many bytes of the body, then close the connection (a transfer
        cut off half-way); None sends it all.
    status: the HTTP status code.
    """

    body: bytes = b""
    send_bytes: int | None = None
    status: int = 200


@dataclass
class Server:
    url: str  # base URL ending in "/"
    requests: list[str] = field(default_factory=list)  # paths requested, in order


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[Server]:
    """Serve ``routes`` (path -> Route) on 127.0.0.1 at a free port, in a background thread."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            requests.append(self.path)
            route = routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(route.status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            n = len(route.body) if route.send_bytes is None else route.send_bytes
            self.wfile.write(route.body[:n])
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, format: str, *args) -> None:  # keep test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    # A short poll interval makes shutdown() quick (the default 0.5 s adds up over many tests).
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield Server(url=f"http://127.0.0.1:{httpd.server_address[1]}/", requests=requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

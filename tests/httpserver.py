"""A real HTTP server on 127.0.0.1 with canned routes and the faults the web throws at us.

Tests exercise the product over real sockets instead of mocks; every fault route is
bounded in time and memory and stops promptly when the server stops.

Fault routes: ``/fault/slow``, ``/fault/reset``, ``/fault/500``, ``/fault/503``,
``/fault/429`` (Retry-After: 1), ``/fault/redirect-loop``, ``/fault/redirect-chain/N``,
``/fault/huge`` (``?declare=1`` also sends its Content-Length), ``/fault/gzip-bomb``,
``/fault/wrong-type``, ``/fault/truncated``. ``add_sequence`` serves a path's answers in
turn (e.g. 503, 503, then 200) for retry tests, and every request is recorded with its
arrival time (``requests``, ``arrivals``) so tests can check counts and spacing.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

SLOW_INTERVAL = 0.5
SLOW_MAX_SECONDS = 20.0
HUGE_BYTES = 50 * 1024 * 1024
BOMB_BYTES = 110 * 1024 * 1024
TRUNCATED_DECLARED = 1000
TRUNCATED_SENT = 100
MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
_BLOCK = bytes(64 * 1024)


@dataclass(frozen=True)
class Route:
    """A canned response; ``delay`` seconds pass before it is sent (for concurrency tests)."""

    body: bytes
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


def route(
    body: bytes | str = b"",
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str | None = "text/html; charset=utf-8",
    delay: float = 0.0,
) -> Route:
    """A ``Route`` from friendly arguments (str bodies are UTF-8), as ``LoopbackServer.add`` takes them."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    pairs = [("Content-Type", content_type)] if content_type is not None else []
    pairs += list((headers or {}).items())
    return Route(data, status, tuple(pairs), delay)


class LoopbackServer:
    """Threaded HTTP/1.1 server on 127.0.0.1, port 0; use as a context manager or start()/stop()."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._lock = threading.Lock()
        self._routes: dict[str, list[Route]] = {}
        self._served: dict[str, int] = {}
        self._log: list[str] = []
        self._arrivals: list[tuple[float, str]] = []
        self._headers: dict[str, dict[str, str]] = {}
        self._events: list[tuple[int, str]] = []
        self._connections: set[socket.socket] = set()
        self._bomb: bytes | None = None
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        """Bind and serve in a daemon thread; returns self for chaining."""
        handler = type("BoundHandler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer((self.host, 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, break open connections and join every handler thread."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()  # joins handler threads
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test API ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/", host: str | None = None) -> str:
        """Absolute URL of ``path``; ``host="localhost"`` gives the same server under another host name."""
        return f"http://{host or self.host}:{self.port}{path}"

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = "text/html; charset=utf-8",
        delay: float = 0.0,
    ) -> str:
        """Serve ``body`` at ``path`` (str bodies are UTF-8); returns the route's URL."""
        return self.add_sequence(path, [route(body, status, headers, content_type, delay)])

    def add_sequence(self, path: str, routes: list[Route]) -> str:
        """Answer the n-th request for ``path`` with ``routes[n]``, the last one ever after; returns the URL."""
        if not routes:
            raise ValueError("add_sequence needs at least one route")
        with self._lock:
            self._routes[path] = list(routes)
            self._served[path] = 0
        return self.url(path)

    @property
    def requests(self) -> list[str]:
        """Paths (with query) of every request received, in arrival order."""
        with self._lock:
            return list(self._log)

    def arrivals(self, path: str) -> list[float]:
        """``time.monotonic()`` at which each request for exactly ``path`` (with query) arrived."""
        with self._lock:
            return [when for when, seen in self._arrivals if seen == path]

    def headers_for(self, path: str) -> dict[str, str]:
        """Request headers (lower-case names) of the last request for ``path``."""
        with self._lock:
            return dict(self._headers.get(path, {}))

    def max_in_flight(self, prefix: str = "") -> int:
        """Most requests whose path starts with ``prefix`` that were being handled at once."""
        with self._lock:
            events = list(self._events)
        current = peak = 0
        for delta, path in events:
            if path.startswith(prefix):
                current += delta
                peak = max(peak, current)
        return peak

    # -- internals used by the handler -------------------------------------------------
    def _enter(self, path: str, headers: dict[str, str]) -> Route | None:
        with self._lock:
            self._log.append(path)
            self._arrivals.append((time.monotonic(), path))
            self._headers[path] = headers
            self._events.append((1, path))
            routes = self._routes.get(path)
            if not routes:
                return None
            served = self._served[path]
            self._served[path] = served + 1
            return routes[min(served, len(routes) - 1)]

    def _leave(self, path: str) -> None:
        with self._lock:
            self._events.append((-1, path))

    def _remember(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def gzip_bomb(self) -> bytes:
        """~110 MB of zeros as a ~110 KB gzip stream, built once per server."""
        with self._lock:
            if self._bomb is None:
                compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                megabyte = bytes(1024 * 1024)
                parts = [compressor.compress(megabyte) for _ in range(BOMB_BYTES // len(megabyte))]
                parts.append(compressor.flush())
                self._bomb = b"".join(parts)
            return self._bomb


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # last resort against a client that holds a connection open
    owner: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def setup(self) -> None:
        super().setup()
        self.owner._remember(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # the client reset a kept-alive connection: normal when it gives up early
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.owner._forget(self.connection)

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        route = self.owner._enter(self.path, headers)
        try:
            self._dispatch(urlsplit(self.path).path, route)
        except OSError:  # the client went away (reset, broken pipe, timeout): nothing to answer
            self.close_connection = True
        finally:
            self.owner._leave(self.path)

    # -- responses -----------------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", (("Location", location),))

    def _start_stream(self, content_type: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
        """Headers of a close-delimited body: no Content-Length, the end is the close."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()

    def _dispatch(self, path: str, route: Route | None) -> None:
        stopping = self.owner._stopping
        if route is not None:
            if route.delay and stopping.wait(route.delay):
                return
            self._send(route.status, route.body, route.headers)
        elif path in ("/fault/500", "/fault/503"):
            self._send(int(path[-3:]), b"<h1>server error</h1>", (("Content-Type", "text/html"),))
        elif path == "/fault/429":
            self._send(429, b"slow down", (("Content-Type", "text/plain"), ("Retry-After", "1")))
        elif path == "/fault/redirect-loop":
            self._redirect("/fault/redirect-loop/b")
        elif path == "/fault/redirect-loop/b":
            self._redirect("/fault/redirect-loop")
        elif path.startswith("/fault/redirect-chain/") and path.rsplit("/", 1)[1].isdigit():
            left = int(path.rsplit("/", 1)[1])
            if left > 0:
                self._redirect(f"/fault/redirect-chain/{left - 1}")
            else:
                self._send(200, b"<p>end of redirect chain</p>", (("Content-Type", "text/html"),))
        elif path == "/fault/wrong-type":
            self._send(200, MINIMAL_PDF, (("Content-Type", "application/pdf"),))
        elif path == "/fault/slow":
            self._start_stream("text/html")
            ends = time.monotonic() + SLOW_MAX_SECONDS
            while time.monotonic() < ends and not stopping.wait(SLOW_INTERVAL):
                self.wfile.write(b".")
                self.wfile.flush()
        elif path == "/fault/huge":
            declare = "declare=1" in urlsplit(self.path).query
            self._start_stream("text/html", (("Content-Length", str(HUGE_BYTES)),) if declare else ())
            sent = 0
            while sent < HUGE_BYTES and not stopping.is_set():
                self.wfile.write(_BLOCK)
                sent += len(_BLOCK)
        elif path == "/fault/gzip-bomb":
            bomb = self.owner.gzip_bomb()
            self._send(200, bomb, (("Content-Type", "text/html"), ("Content-Encoding", "gzip")))
        elif path == "/fault/truncated":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(TRUNCATED_DECLARED))
            self.end_headers()
            self.wfile.write(b"x" * TRUNCATED_SENT)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/fault/reset":
            # Linger 0 makes close() send a RST instead of a polite FIN.
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            self._send(404, f"no route for {path}".encode(), (("Content-Type", "text/plain"),))


def peak_bytes_during(action: Callable[[], None]) -> int:
    """Peak Python allocation (all threads) while ``action`` runs: proves a fault stays bounded in memory."""
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak

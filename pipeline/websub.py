"""The WebSub callback of ``newsbeam stream``: a small HTTP server in the driver process.

Hubs call it at ``<public url>/websub/<sid>`` (``sid``: the feed's id, see
``transforms.websub.subscription``). A verification GET is answered with its challenge only
when a worker recorded the intent to (un)subscribe that very topic; anything else is a 404, so
nobody can subscribe us to what we did not ask for. A push (POST) must carry an
``X-Hub-Signature`` HMAC of its raw body with the topic's secret, within the stream's body cap;
an accepted push writes a marker that makes the feed due at the next tick (about a second),
and polling fetches it with every guard of a normal poll. The body itself is never used.
Refused pushes are answered 403 (413/411 for size) and counted in the status line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.lake import storage
from newsbeam.transforms.stream.commit import mark
from newsbeam.transforms.websub.signature import check_signature
from newsbeam.transforms.websub.subscription import (
    CALLBACK_PREFIX,
    Verified,
    ensure_key,
    push_dir,
    read_intent,
    secret_for,
    write_verified,
)

logger = logging.getLogger("newsbeam")

REQUEST_TIMEOUT = 10.0
"""Seconds a hub's connection may stay silent before we drop it."""


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as the server's bind address."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class CallbackServer:
    """Serve the callback until ``stop()``; ``counts`` holds what it accepted and refused."""

    def __init__(self, listen: tuple[str, int], output: str, stream_id: str, max_bytes: int) -> None:
        self.output, self.stream_id, self.max_bytes = output, stream_id, max_bytes
        self.key = ensure_key(output, stream_id)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        try:
            self._server = ThreadingHTTPServer(listen, _handler(self))
        except OSError as error:
            raise ConfigError(
                f"the WebSub callback cannot listen on {listen[0]}:{listen[1]}: {error.strerror or error}; "
                "choose another --websub-callback address"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="websub-callback", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def verify(self, sid: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        """A hub's verification of intent (or its denial): ``(status, body)``."""
        mode, topic = _one(query, "hub.mode"), _one(query, "hub.topic")
        intent = read_intent(self.output, self.stream_id, sid)
        if intent is None or topic != intent.topic or mode not in ("subscribe", "unsubscribe", "denied"):
            self.count("websub_verifications_refused")
            return 404, b"no such subscription request"
        if mode == "denied":
            reason = _one(query, "hub.reason")
            write_verified(self.output, self.stream_id, sid, Verified(topic, mode, None, time.time(), reason))
            logger.warning("WebSub hub %s denied the subscription to %s: %s", intent.hub, topic, reason or "no reason")
            self.count("websub_denied")
            return 200, b""
        challenge = _one(query, "hub.challenge")
        if mode != intent.mode or not challenge:
            self.count("websub_verifications_refused")
            return 404, b"no such subscription request"
        lease = _one(query, "hub.lease_seconds")
        granted = float(lease) if lease and lease.isdigit() else None
        write_verified(self.output, self.stream_id, sid, Verified(topic, mode, granted, time.time()))
        self.count("websub_verified")
        return 200, challenge.encode("utf-8")

    def push(self, sid: str, body: bytes, signature: str | None) -> tuple[int, bytes]:
        """A content distribution request: mark the feed due, or refuse it: ``(status, body)``."""
        intent = read_intent(self.output, self.stream_id, sid)
        if intent is None or intent.mode != "subscribe":
            self.count("websub_pushes_refused")
            return 404, b"no such subscription"
        refused = check_signature(signature, body, secret_for(self.key, intent.topic))
        if refused is not None:
            self.count("websub_pushes_refused")
            logger.warning("WebSub push for %s refused: %s", intent.topic, refused)
            return 403, refused.encode()
        mark(storage.join(push_dir(self.output, self.stream_id), sid))
        self.count("websub_pushes")
        return 202, b""


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _sid(path: str) -> str | None:
    route = urlsplit(path).path
    if not route.startswith(CALLBACK_PREFIX):
        return None
    sid = route[len(CALLBACK_PREFIX) :].strip("/")
    return sid if len(sid) == 32 and sid.isalnum() else None


def _handler(server: CallbackServer) -> Any:
    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            sid = _sid(self.path)
            if sid is None:
                self._send(404, b"not a callback")
                return
            self._send(*server.verify(sid, parse_qs(urlsplit(self.path).query)))

        def do_POST(self) -> None:
            sid = _sid(self.path)
            if sid is None:
                self._send(404, b"not a callback")
                return
            declared = self.headers.get("Content-Length", "").strip()
            if not declared.isdigit():
                server.count("websub_pushes_refused")
                self._send(411, b"a push needs a Content-Length")
                return
            if int(declared) > server.max_bytes:
                server.count("websub_pushes_refused")
                self._send(413, f"push body over the {server.max_bytes:,}-byte cap".encode())
                return
            body = self.rfile.read(int(declared))
            self._send(*server.push(sid, body, self.headers.get("X-Hub-Signature")))

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    return Handler

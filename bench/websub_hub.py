"""A WebSub hub of our own, on loopback, written to the W3C Recommendation (sections 5-8).

For tests and the bench: ``with Hub() as hub:`` serves ``hub.url``. Subscribers POST
``hub.mode=subscribe|unsubscribe``, ``hub.topic``, ``hub.callback`` and optionally
``hub.lease_seconds`` and ``hub.secret``; the hub answers 202 and then verifies intent
asynchronously (GET on the callback with ``hub.challenge``, which must be echoed with a 2xx).
Publishers POST ``hub.mode=publish`` and ``hub.url=<topic>`` (the spec leaves publishing to the
hub; this is the common form): the hub fetches the topic and distributes it to each active
subscriber as a POST with the topic's ``Content-Type``, ``Link`` headers (``rel=hub`` and
``rel=self``) and, for a subscription made with a secret, ``X-Hub-Signature: sha256=<HMAC>``;
a callback answering 410 Gone ends its subscription. Failed deliveries are not retried (the spec
says hubs SHOULD; a test that wants a retry publishes again).

``max_lease`` caps the leases granted (so a test can watch a renewal); ``deliveries`` records
each distribution with the callback's answer.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from newsbeam.transforms.websub.signature import sign

DEFAULT_LEASE = 86400
TIMEOUT = 10.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxy from the environment: the hub talks to loopback only."""


@dataclass
class HubSubscription:
    topic: str
    callback: str
    secret: str | None
    expires: float


@dataclass
class HubLog:
    verifications: list[tuple[str, str, int, bool]] = field(default_factory=list)
    """``(mode, topic, callback's status, verified?)`` per verification of intent."""
    deliveries: list[tuple[str, str, int, float]] = field(default_factory=list)
    """``(topic, callback, callback's status, epoch seconds)`` per distributed notification."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    """``(mode, topic)`` of every accepted subscription request, renewals included."""


def _http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    """``(status, body, content type)``; status 0 when the server could not be reached."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            return int(response.status), response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(), ""
    except OSError:
        return 0, b"", ""


def post_status(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` as a hub or a forger would; the answer's status (0: unreachable)."""
    return _http("POST", url, body, headers)[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a callback server to take)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class Hub:
    """The hub on ``127.0.0.1``; ``url`` is its endpoint."""

    def __init__(self, max_lease: int = DEFAULT_LEASE) -> None:
        self.max_lease = max_lease
        self.log = HubLog()
        self._subscriptions: dict[tuple[str, str], HubSubscription] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="websub-hub", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> Hub:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None):
        self._server.shutdown()
        self._server.server_close()

    def subscribers(self, topic: str) -> list[HubSubscription]:
        now = time.time()
        with self._lock:
            return [s for s in self._subscriptions.values() if s.topic == topic and s.expires > now]

    def request(self, form: dict[str, str]) -> tuple[int, str]:
        """A subscription request (section 5.1): 202 and a verification in the background, or 400."""
        mode, topic, callback = form.get("hub.mode"), form.get("hub.topic"), form.get("hub.callback")
        if mode not in ("subscribe", "unsubscribe"):
            return 400, f"hub.mode must be subscribe, unsubscribe or publish, got {mode!r}"
        if not topic or not callback or urlsplit(callback).scheme not in ("http", "https"):
            return 400, "hub.topic and an absolute http(s) hub.callback are required"
        secret = form.get("hub.secret")
        if secret is not None and len(secret.encode()) >= 200:
            return 400, "hub.secret must be less than 200 bytes"
        asked = form.get("hub.lease_seconds", "")
        lease = min(int(asked) if asked.isdigit() and int(asked) > 0 else DEFAULT_LEASE, self.max_lease)
        with self._lock:
            self.log.requests.append((mode, topic))
        threading.Thread(target=self._verify, args=(mode, topic, callback, secret, lease), daemon=True).start()
        return 202, ""

    def _verify(self, mode: str, topic: str, callback: str, secret: str | None, lease: int) -> None:
        """Verification of intent (section 5.3): the callback must echo the challenge with a 2xx."""
        challenge = secrets.token_urlsafe(16)
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if mode == "subscribe":
            params["hub.lease_seconds"] = str(lease)
        status, body, _ = _http("GET", _with_query(callback, params))
        verified = 200 <= status < 300 and body.decode("utf-8", "replace") == challenge
        with self._lock:
            self.log.verifications.append((mode, topic, status, verified))
            if verified and mode == "subscribe":
                self._subscriptions[(topic, callback)] = HubSubscription(topic, callback, secret, time.time() + lease)
            elif verified:
                self._subscriptions.pop((topic, callback), None)

    def publish(self, topic: str) -> int:
        """Fetch ``topic`` and distribute it to its subscribers (section 7); the number reached."""
        status, body, content_type = _http("GET", topic)
        if not 200 <= status < 300:
            return 0
        reached = 0
        for sub in self.subscribers(topic):
            headers = {
                "Content-Type": content_type or "application/octet-stream",
                "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"',
            }
            if sub.secret:
                headers["X-Hub-Signature"] = sign(body, sub.secret, "sha256")
            answer, _, _ = _http("POST", sub.callback, body, headers)
            with self._lock:
                self.log.deliveries.append((topic, sub.callback, answer, time.time()))
                if answer == 410:  # section 7: the subscriber says Gone, the hub may end the subscription
                    self._subscriptions.pop((topic, sub.callback), None)
            reached += 200 <= answer < 300
        return reached


def _handler(hub: Hub) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            form = {key: values[0] for key, values in parse_qs(raw).items()}
            if form.get("hub.mode") == "publish":
                topic = form.get("hub.url") or form.get("hub.topic") or ""
                threading.Thread(target=hub.publish, args=(topic,), daemon=True).start()
                status, text = 202, ""
            else:
                status, text = hub.request(form)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler

"""Loopback HTTP server for the bundled sample news site.

The demo and the tests need real HTTP (status codes, Content-Type headers, charsets) so the fetch and
decode stages are exercised exactly as in production, but they must not touch the internet. Feeds
and pages are stored with a ``{{BASE}}`` placeholder because the port is only known once the socket
is bound; it is substituted at serve time.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import unquote, urlsplit

__all__ = (
    "BASE_PLACEHOLDER",
    "SITE_ROOT",
    "DemoSiteServer",
    "content_type_for",
    "materialise_feed_list",
    "serve_site",
)

SITE_ROOT = Path(__file__).resolve().parent / "site"
"""The bundled sample site, so the CLI and tests need not know the package layout."""

BASE_PLACEHOLDER = "{{BASE}}"

FEED_LIST_NAME = "feeds.opml"

# Files whose bytes may contain the placeholder. The substitution is done on bytes because the
# placeholder and any base URL are ASCII, which keeps legacy-charset pages byte-for-byte intact.
_TEMPLATED_SUFFIXES = frozenset({".xml", ".json", ".html", ".htm", ".opml"})

_STATIC_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".json": "application/feed+json",
        ".opml": "text/x-opml; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".txt": "text/plain; charset=utf-8",
        ".md": "text/markdown; charset=utf-8",
    }
)

# Enough of the document head to find a <meta charset> the way browsers do (HTML prescan: 1024 bytes);
# a little more slack for pages with long comments before <head>.
_PRESCAN_BYTES = 2048
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _html_content_type(body: bytes) -> str:
    """Label UTF-8 pages explicitly; leave others unlabelled so clients must read the meta tag.

    Real servers often omit the charset for old CMS pages, and sending ``charset=utf-8`` for a
    windows-1252 page would be a lie that hides the decoding path the demo is meant to exercise.
    """
    match = _META_CHARSET.search(body[:_PRESCAN_BYTES])
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    if declared not in {"utf-8", "utf8"}:
        return "text/html"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "text/html"
    return "text/html; charset=utf-8"


def _xml_content_type(body: bytes) -> str:
    """Tell RSS from Atom by the root element, since both live in ``.xml`` files."""
    head = body[:_PRESCAN_BYTES]
    if b"<rss" in head:
        return "application/rss+xml; charset=utf-8"
    if re.search(rb"<feed[\s>]", head):
        return "application/atom+xml; charset=utf-8"
    return "application/xml; charset=utf-8"


def content_type_for(path: Path, body: bytes) -> str:
    """Content-Type for a served file, chosen by extension and, where needed, by sniffing."""
    suffix = path.suffix.lower()
    if suffix in {".html", ".htm"}:
        return _html_content_type(body)
    if suffix == ".xml":
        return _xml_content_type(body)
    return _STATIC_TYPES.get(suffix, "application/octet-stream")


class DemoSiteServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its site root and public base URL."""

    daemon_threads = True
    # Tests start and stop many servers; do not make the next one wait for TIME_WAIT.
    allow_reuse_address = True

    def __init__(self, root: Path, host: str, port: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.root = root.resolve()
        super().__init__((host, port), _SiteHandler)
        bound_host, bound_port = cast(tuple[Any, ...], self.server_address)[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
        self.base_url = f"http://{shown}:{bound_port}"
        self._log_lock = threading.Lock()
        self._log: list[tuple[str, bool, int]] = []

    def record(self, path: str, conditional: bool, status: int) -> None:
        with self._log_lock:
            self._log.append((path, conditional, status))

    @property
    def requests(self) -> list[tuple[str, bool, int]]:
        """Every request served: (path, was it conditional, status), in arrival order."""
        with self._log_lock:
            return list(self._log)

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was requested)."""
        return int(cast(tuple[Any, ...], self.server_address)[1])

    def url(self, path: str) -> str:
        """Absolute URL of a site path, e.g. ``url("harbor-herald/rss.xml")``."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def resolve(self, request_target: str) -> Path | None:
        """Map a request target to a file under root, or None if it must be a 404.

        Query strings and fragments are ignored so that tracking-parameter links reach the same file.
        Any ``..`` segment is refused outright rather than normalised, and the resolved path must stay
        inside root (which also rules out symlinks pointing elsewhere).
        """
        raw_path = unquote(urlsplit(request_target).path)
        if "\x00" in raw_path or "\\" in raw_path:
            return None
        segments = raw_path.split("/")
        if ".." in segments:
            return None
        parts = [p for p in segments if p not in {"", "."}]
        candidate = self.root.joinpath(*parts)
        if candidate.is_dir():
            candidate = candidate / "index.html"
        try:
            resolved = candidate.resolve()
        except OSError:
            return None
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            return None
        return resolved


class _SiteHandler(BaseHTTPRequestHandler):
    """Serves files from the site root with the base URL substituted in text formats."""

    server_version = "newsbeam-demo/1"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        server = cast(DemoSiteServer, self.server)
        path = server.resolve(self.path)
        conditional = "If-None-Match" in self.headers
        if path is None:
            server.record(self.path, conditional, HTTPStatus.NOT_FOUND)
            self._send(HTTPStatus.NOT_FOUND, b"Not Found\n", "text/plain; charset=utf-8", send_body)
            return
        body = path.read_bytes()
        if path.suffix.lower() in _TEMPLATED_SUFFIXES:
            body = body.replace(BASE_PLACEHOLDER.encode("ascii"), server.base_url.encode("ascii"))
        # A real site's validator, so scheduled runs can be shown to make only conditional requests.
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        if etag in (self.headers.get("If-None-Match") or ""):
            server.record(self.path, conditional, HTTPStatus.NOT_MODIFIED)
            self._send(HTTPStatus.NOT_MODIFIED, b"", None, send_body=False, etag=etag)
            return
        server.record(self.path, conditional, HTTPStatus.OK)
        self._send(HTTPStatus.OK, body, content_type_for(path, body), send_body, etag=etag)

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str | None, send_body: bool, etag: str | None = None
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        if etag is not None:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: request logs would drown the demo's own output and pytest's."""


@contextlib.contextmanager
def serve_site(root: Path = SITE_ROOT, host: str = "127.0.0.1", port: int = 0) -> Iterator[DemoSiteServer]:
    """Serve ``root`` on loopback for the duration of the ``with`` block.

    Port 0 lets the OS pick a free port so parallel test runs do not collide; read ``.base_url``.
    """
    server = DemoSiteServer(root, host, port)
    thread = threading.Thread(target=server.serve_forever, name="newsbeam-demo-site", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def materialise_feed_list(root: Path, base_url: str, dest: Path) -> Path:
    """Write the site's OPML feed list with real URLs, for the CLI's ``--feeds`` option.

    ``dest`` may be a file path or an existing directory (then ``feeds.opml`` is created in it).
    """
    text = (root / FEED_LIST_NAME).read_text(encoding="utf-8")
    target = dest / FEED_LIST_NAME if dest.is_dir() else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace(BASE_PLACEHOLDER, base_url.rstrip("/")), encoding="utf-8")
    return target

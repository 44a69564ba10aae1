"""A news site on loopback that keeps publishing: feeds that grow, article pages, conditional GET.

``LiveSite(feeds=F, hosts=H)`` serves ``F`` RSS feeds spread over ``H`` host names (all on
127.0.0.1: ``h<N>.localhost`` style names are not needed, each host is its own port). Every
``publish(feed)`` adds an entry with a fresh article page, recording when it appeared, so a test
or the bench can check what reached the lake and how long it took. ``run_poisson(rate)`` publishes
on a Poisson schedule in a background thread. Feeds answer ``If-None-Match`` with 304.
Article texts are generated from a fixed vocabulary with a per-article seed: distinct articles
share no 5-word shingles, so no two are near-duplicates.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

KEEP = 30
"""Entries a feed lists (newest first), like a real feed's window."""
WORDS = (
    "harbor council budget minister talks river market school season vote plan bridge storm farm "
    "court teacher nurse rail port energy water league museum festival coast mayor union price "
    "factory village island border treaty summit drought flood harvest miners pilots doctors "
    "library clinic ferry tunnel airport stadium theatre garden forest valley mountain desert"
).split()


@dataclass
class Entry:
    feed: int
    number: int
    url: str
    title: str
    published: datetime
    appeared: float
    """Epoch seconds when the entry first appeared in its feed."""


def article_text(feed: int, number: int, words: int = 260) -> str:
    """Deterministic prose of ``words`` words in four paragraphs, distinct for every (feed, number)."""
    rng = random.Random(feed * 1_000_003 + number)
    chosen = [rng.choice(WORDS) + ("s" if rng.random() < 0.3 else "") for _ in range(words)]
    quarter = words // 4
    paragraphs = [" ".join(chosen[i : i + quarter]).capitalize() + "." for i in range(0, words, quarter)]
    return "\n".join(f"<p>{p} Reported by desk {feed} item {number}.</p>" for p in paragraphs)


@dataclass
class _Site:
    hosts: int
    feeds: int
    entries: dict[int, list[Entry]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    polls: int = 0
    not_modified: int = 0
    ports: list[int] = field(default_factory=list)
    hub: str | None = None
    """A WebSub hub the feeds advertise (``atom:link rel="hub"`` and ``rel="self"``)."""

    def host_of(self, feed: int) -> int:
        return feed % self.hosts

    def base(self, feed: int) -> str:
        return f"http://127.0.0.1:{self.ports[self.host_of(feed)]}"


class LiveSite:
    """Start with ``with LiveSite(...) as site:``; ``site.feed_urls()`` are the feeds to stream."""

    def __init__(self, feeds: int = 1, hosts: int = 1, initial: int = 0, hub: str | None = None) -> None:
        self.site = _Site(hosts=hosts, feeds=feeds, hub=hub)
        self.initial = initial
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def __enter__(self) -> LiveSite:
        site = self.site
        for host in range(site.hosts):
            server = self._server(host)
            server.daemon_threads = True
            self._servers.append(server)
            site.ports.append(server.server_address[1])
            thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"livesite-{host}")
            thread.start()
            self._threads.append(thread)
        for feed in range(site.feeds):
            site.entries[feed] = []
            for _ in range(self.initial):
                self.publish(feed)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None):
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def _server(self, host: int) -> ThreadingHTTPServer:
        """The HTTP server of ``host`` (every host on 127.0.0.1 here, each on its own port)."""
        return ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.site, host))

    def feed_urls(self) -> list[str]:
        return [f"{self.site.base(feed)}/feeds/{feed}.xml" for feed in range(self.site.feeds)]

    def publish(self, feed: int) -> Entry:
        """Add one entry to ``feed`` now; returns it (its URL and the time it appeared)."""
        site = self.site
        with site.lock:
            number = len(site.entries[feed]) + 1
            now = time.time()
            entry = Entry(
                feed,
                number,
                f"{site.base(feed)}/articles/{feed}/{number}.html",
                f"Desk {feed} report {number}",
                datetime.fromtimestamp(now, timezone.utc).replace(microsecond=0),
                now,
            )
            site.entries[feed].append(entry)
        return entry

    def published(self) -> list[Entry]:
        with self.site.lock:
            return [e for entries in self.site.entries.values() for e in entries]

    def run_poisson(self, rate: float, seed: int = 7) -> threading.Thread:
        """Publish ``rate`` entries per second on average, to random feeds, until the site stops."""
        rng = random.Random(seed)

        def loop() -> None:
            while not self._stop.wait(rng.expovariate(rate)):
                self.publish(rng.randrange(self.site.feeds))

        thread = threading.Thread(target=loop, daemon=True, name="livesite-publisher")
        thread.start()
        return thread

    def stop_publishing(self) -> None:
        self._stop.set()


def _rss(site: _Site, feed: int) -> tuple[bytes, str]:
    with site.lock:
        entries = list(reversed(site.entries[feed][-KEEP:]))
        total = len(site.entries[feed])
    items = "".join(
        f"<item><title>{e.title}</title><link>{e.url}</link><guid>{e.url}</guid>"
        f"<pubDate>{format_datetime(e.published)}</pubDate></item>"
        for e in entries
    )
    links = ""
    if site.hub:
        self_url = f"{site.base(feed)}/feeds/{feed}.xml"
        links = f'<atom:link rel="hub" href="{site.hub}"/><atom:link rel="self" href="{self_url}"/>'
    body = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>Desk {feed}</title><link>{site.base(feed)}/</link><description>live</description>"
        f"{links}{items}</channel></rss>"
    ).encode()
    return body, f'"{feed}-{total}"'


def _page(site: _Site, feed: int, number: int) -> bytes | None:
    with site.lock:
        entries = site.entries.get(feed, [])
        if not 0 < number <= len(entries):
            return None
        entry = entries[number - 1]
    return (
        f"<!doctype html><html lang=en><head><title>{entry.title}</title>"
        f'<meta property="article:published_time" content="{entry.published.isoformat()}"></head>'
        f"<body><header><nav>Home | World | Local</nav></header><article><h1>{entry.title}</h1>"
        f"{article_text(feed, number)}</article><footer>Desk {feed} live site</footer></body></html>"
    ).encode()


def _handler(site: _Site, host: int) -> Any:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) == 2 and parts[0] == "feeds" and parts[1].endswith(".xml"):
                feed = int(parts[1][:-4])
                body, etag = _rss(site, feed)
                with site.lock:
                    site.polls += 1
                if self.headers.get("If-None-Match") == etag:
                    with site.lock:
                        site.not_modified += 1
                    self._send(304, b"", "application/rss+xml", etag)
                    return
                self._send(200, body, "application/rss+xml", etag)
                return
            if len(parts) == 3 and parts[0] == "articles" and parts[2].endswith(".html"):
                page = _page(site, int(parts[1]), int(parts[2][:-5]))
                if page is not None:
                    self._send(200, page, "text/html; charset=utf-8")
                    return
            self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, kind: str, etag: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler

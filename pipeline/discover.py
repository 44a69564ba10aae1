"""``newsbeam discover URL...``: an outlet's feeds and sitemaps, printed as a feed list.

For each site it fetches the page given (a homepage, usually) and:

1. reads its ``<link rel="alternate">`` feed links (RSS, Atom, JSON Feed), and keeps those that
   really parse as feeds;
2. if none does, tries the common feed paths (``/feed``, ``/rss.xml``, ``/atom.xml``…) at the site's
   root, keeping the first few that parse;
3. reads the site's ``robots.txt`` for ``Sitemap:`` lines.

Every request goes through the same client as ``run``: the SSRF guard (``--allow-private-networks``
lifts it), the size and time limits, per-host pacing and robots.txt. The output is a plain-text
feed list: one source a line (feeds and sitemaps alike: ``run`` and ``stream`` tell them apart by
content) with its kind, title and how it was found as a comment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.html
from protego import Protego

from newsbeam.transforms.errors import FeedParseError, FetchError
from newsbeam.transforms.fetch.decode import decode_html
from newsbeam.transforms.fetch.http import HttpClient, HttpConfig, HttpxClient
from newsbeam.transforms.fetch.politeness import PoliteClient
from newsbeam.transforms.read.feed_parser import parse_feed
from newsbeam.transforms.read.feeds import FEED_ACCEPT

FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json feed",
    "application/json": "json feed",
    "application/rdf+xml": "rss",
    "text/xml": "rss",
}
COMMON_PATHS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml", "/feed.json")
MAX_COMMON = 2
"""Feeds kept from the common paths: ``/feed`` and ``/rss.xml`` are often the same feed twice."""
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
KINDS = {"atom": "atom", "json": "json feed", "rss": "rss"}


@dataclass(frozen=True)
class Found:
    url: str
    kind: str
    """``rss``, ``atom``, ``json feed`` or ``sitemap``."""
    title: str | None
    how: str


@dataclass
class SiteResult:
    site: str
    found: list[Found] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def feed_links(html: str, base_url: str) -> list[tuple[str, str | None]]:
    """``(absolute URL, title)`` of each feed ``<link rel="alternate">`` in ``html`` (pure)."""
    try:
        document = lxml.html.document_fromstring(html or "<html></html>")
    except (ValueError, lxml.etree.ParserError):
        return []
    links: list[tuple[str, str | None]] = []
    for node in document.iter("link"):
        rel = (node.get("rel") or "").lower().split()
        kind = (node.get("type") or "").split(";")[0].strip().lower()
        href = (node.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            url = urljoin(base_url, href)
            if urlsplit(url).scheme in ("http", "https") and url not in (u for u, _ in links):
                links.append((url, (node.get("title") or "").strip() or None))
    return links


def robots_sitemaps(text: str, base_url: str) -> list[str]:
    """The ``Sitemap:`` URLs of a robots.txt, made absolute (pure)."""
    return [urljoin(base_url, url) for url in Protego.parse(text).sitemaps]


def feed_kind(format_name: str) -> str:
    """feedparser's (or newsbeam's JSON Feed) format name as a kind a person reads."""
    return next((kind for prefix, kind in KINDS.items() if format_name.startswith(prefix)), "feed")


def _as_feed(client: HttpClient, url: str, how: str, title: str | None = None) -> Found | str:
    """``url`` as a ``Found`` feed if it fetches and parses, else why not."""
    try:
        response = client.get(url, accept=FEED_ACCEPT)
        parsed = parse_feed(response.body, feed_url=response.url, headers=response.headers)
    except (FetchError, FeedParseError) as error:
        return f"{url}: {error.reason}"
    return Found(response.url, feed_kind(parsed.format), title or parsed.title, how)


def discover_site(client: HttpClient, url: str) -> SiteResult:
    """What one site offers: verified feeds, sitemaps, and what failed along the way."""
    result = SiteResult(url)
    try:
        home = client.get(url, accept=HTML_ACCEPT)
    except FetchError as error:
        result.problems.append(f"{url}: {error.reason}")
        return result
    root = f"{urlsplit(home.url).scheme}://{urlsplit(home.url).netloc}"
    for link, title in feed_links(decode_html(home.body, home.charset)[0], home.url):
        outcome = _as_feed(client, link, "link rel=alternate", title)
        _keep(result, outcome)
    if not result.found:
        for path in COMMON_PATHS:
            outcome = _as_feed(client, root + path, f"common path {path}")
            if isinstance(outcome, Found):
                _keep(result, outcome)
                if len(result.found) >= MAX_COMMON:
                    break
    try:
        robots = client.get(root + "/robots.txt", accept="text/plain")
        text = robots.body.decode("utf-8", "replace")
        result.found += [Found(s, "sitemap", None, "robots.txt Sitemap") for s in robots_sitemaps(text, root)]
    except FetchError as error:
        result.problems.append(f"{root}/robots.txt: {error.reason}")
    if not any(f.kind != "sitemap" for f in result.found):
        result.problems.append(f"{url}: no feed found (no working feed link, none at {', '.join(COMMON_PATHS)})")
    return result


def _keep(result: SiteResult, outcome: Found | str) -> None:
    if isinstance(outcome, str):
        result.problems.append(outcome)
    elif outcome.url not in (f.url for f in result.found):
        result.found.append(outcome)


def discover(urls: list[str], config: HttpConfig) -> list[SiteResult]:
    """Every site in ``urls``, through one polite client (pacing, budgets, robots.txt) as ``run`` uses."""
    with PoliteClient(HttpxClient(config), config, obey_robots=True) as client:
        return [discover_site(client, url) for url in urls]


def feed_list_lines(results: list[SiteResult]) -> Iterator[str]:
    """A plain-text feed list ``run`` and ``stream`` accept; kinds and titles as comments (pure)."""
    for result in results:
        yield f"# {result.site}"
        for found in result.found:
            label = f"{found.kind}: {found.title}" if found.title else found.kind
            note = " ".join(f"{label} (via {found.how})".split())
            yield f"{found.url}  # {note}"

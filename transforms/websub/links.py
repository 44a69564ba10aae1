"""Hub and self links of a feed (WebSub section 4, discovery): pure functions, no I/O.

The HTTP ``Link`` header of the feed response wins over links inside the document, as the
spec asks: a publisher (or its CDN) can advertise a hub without touching the feed body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urljoin, urlsplit

__all__ = ["discover", "link_header_rels"]

_LINK_VALUE = re.compile(
    r"""\s*<(?P<url>[^>]*)>(?P<params>(?:\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)\s*(?:,|$)"""
)
_PARAM = re.compile(r"""\s*;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*))?""")


def link_header_rels(value: str) -> list[tuple[str, frozenset[str]]]:
    """``(url, rels)`` of each link in an RFC 8288 ``Link`` header value, in order.

    A malformed piece ends the parse: what was read before it is kept (servers send junk here).
    """
    links: list[tuple[str, frozenset[str]]] = []
    position = 0
    while position < len(value):
        match = _LINK_VALUE.match(value, position)
        if match is None or match.end() == position:
            break
        rels: frozenset[str] = frozenset()
        for name, raw in _PARAM.findall(match.group("params")):
            if name.lower() == "rel" and not rels:  # RFC 8288 3.3: only the first rel counts
                rels = frozenset(raw.strip('"').lower().split())
        links.append((match.group("url").strip(), rels))
        position = match.end()
    return links


def _first(candidates: Iterable[str], base_url: str) -> str | None:
    for candidate in candidates:
        url = urljoin(base_url, candidate.strip()) if candidate and candidate.strip() else ""
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc:
            return url
    return None


def discover(
    headers: Mapping[str, str], document_links: Iterable[tuple[str, str]], base_url: str
) -> tuple[str | None, str | None]:
    """``(hub, self)`` of a feed: each from the ``Link`` header if it names one, else from the document.

    ``headers`` have lower-case names; ``document_links`` are ``(rel, href)`` pairs of the feed's
    own ``atom:link`` elements (or a JSON Feed's ``hubs``/``feed_url``). Only absolute http(s)
    URLs (after resolving against ``base_url``) count. The first hub is the one used.
    """
    from_header = link_header_rels(headers.get("link", ""))
    pairs = [(rel.lower(), href) for rel, href in document_links]
    hub = _first((url for url, rels in from_header if "hub" in rels), base_url)
    self_url = _first((url for url, rels in from_header if "self" in rels), base_url)
    if hub is None:
        hub = _first((href for rel, href in pairs if rel == "hub"), base_url)
    if self_url is None:
        self_url = _first((href for rel, href in pairs if rel == "self"), base_url)
    return hub, self_url

"""Feed documents to ``FeedEntry`` records: pure functions, no I/O.

RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF and CDF go through feedparser; JSON Feed (any
``https://jsonfeed.org/version/…``) is parsed here with ``json`` because feedparser 6.0
does not read it. Everything a later stage needs is decided here once: absolute links,
plain-text title/summary/content, UTC dates, and which entries had to be skipped (so the
stage can dead-letter them instead of losing them silently).
"""

from __future__ import annotations

import io
import json
import math
import re
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree

from newsbeam.schemas.records import FeedEntry
from newsbeam.transforms.errors import FeedParseError
from newsbeam.transforms.websub.links import discover

__all__ = ["ParsedFeed", "SitemapRef", "html_to_text", "parse_feed"]

JSON_FEED_PREFIX = "https://jsonfeed.org/version/"

#: Internal entities longer than this are dropped: a short value is all a real feed needs
#: (``&nbsp;``-style aliases) and it keeps expansion linear in the document size.
MAX_SAFE_ENTITY_CHARS = 64

_HTML_TYPES = ("html", "xhtml")
_DROP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "iframe", "object", "svg"})
_PARAGRAPH_TAGS = frozenset(
    {
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "blockquote", "pre",
        "table", "section", "article", "header", "footer", "aside", "nav", "main", "figure",
        "figcaption", "address", "hr", "form", "fieldset", "details", "body",
    }
)  # fmt: skip
_LINE_TAGS = frozenset({"br", "li", "tr", "dt", "dd", "caption"})
_LINE_BREAK = 1
_PARAGRAPH_BREAK = 2
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CHAR_REF = re.compile(r"&#(?:[0-9]{1,7}|x[0-9A-Fa-f]{1,6});")
_ENTITY_DECL = re.compile(r"<!ENTITY\s+([A-Za-z_][\w.:-]*)\s+(?:\"([^\"]*)\"|'([^']*)')\s*>\Z", re.DOTALL)
_LOOKS_LIKE_HTML = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^>]*)?/?>|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]\w*);")
_CHARSET = re.compile(r"charset\s*=", re.IGNORECASE)
_PARAMETER_ENTITY = re.compile(r"<!ENTITY\s+%")
_NAME = re.compile(r"[A-Za-z_][\w.:-]*")


@dataclass(frozen=True)
class SitemapRef:
    """A child sitemap named by a sitemap index, with the ``lastmod`` the index gives it."""

    url: str
    lastmod: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """One parsed feed document: its entries plus what went wrong without stopping us."""

    feed_url: str
    title: str | None
    format: str
    """feedparser's version names (``rss20``, ``atom10``, ``rss10``, ``cdf``…), ``json1``/``json11``
    for JSON Feed, ``unknown`` when entries were found but the dialect was not recognised."""
    entries: tuple[FeedEntry, ...]
    bozo_reason: str | None = None
    """Why the document was not well-formed, when it could still be read (entries may be partial)."""
    skipped: tuple[tuple[str, str], ...] = ()
    """``(entry identity, reason)`` for entries without a usable http(s) link, for dead-lettering.
    The identity is the entry's guid/id, else ``item<N>`` (1-based position in the document)."""
    ttl_seconds: float | None = None
    """RSS ``<ttl>`` in seconds: how long the publisher says the feed may be cached (None if absent/invalid)."""
    update_seconds: float | None = None
    """Publisher's update interval from ``sy:updatePeriod``/``sy:updateFrequency``, in seconds."""
    sitemaps: tuple[SitemapRef, ...] = ()
    """A sitemap index's child sitemaps (``transforms.read.sitemap``); empty for feeds."""
    not_articles: int = 0
    """URLs of an ordinary sitemap left out because they are not articles (section fronts, site pages)."""
    hub: str | None = None
    """The WebSub hub the feed advertises (HTTP ``Link`` header first, then ``atom:link rel="hub"``)."""
    self_url: str | None = None
    """The feed's canonical URL (``rel="self"``): the topic to subscribe to at the hub."""


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    headers: Mapping[str, str] | None = None,
    source: str | None = None,
    max_entries: int | None = None,
    fetch_pages: bool = True,
) -> ParsedFeed:
    """Parse a feed body fetched from ``feed_url``; raise ``FeedParseError`` if it is not a feed.

    ``headers`` are the HTTP response headers (``Content-Type`` decides the charset, a
    ``Content-Location`` overrides the base URL). ``max_entries`` keeps the first N items in
    document order; skipped items among them are reported in ``ParsedFeed.skipped``.
    """
    response_headers = {key.lower(): value for key, value in (headers or {}).items()}
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf\xfe\xff"):
        raise FeedParseError(f"{feed_url} is not a feed: the response body is empty; check the feed URL")
    if body[:2] == b"\x1f\x8b":
        raise FeedParseError(f"{feed_url} is not a feed: got gzip-compressed bytes; decompress the response body first")
    base_url = urljoin(feed_url, response_headers.get("content-location", "")) or feed_url
    if _looks_like_json(body):
        return _parse_json_feed(body, feed_url, base_url, response_headers, source, max_entries, fetch_pages)
    return _parse_xml_feed(body, feed_url, base_url, response_headers, source, max_entries, fetch_pages)


# --------------------------------------------------------------------------- XML feeds


def _parse_xml_feed(
    body: bytes,
    feed_url: str,
    base_url: str,
    headers: dict[str, str],
    source: str | None,
    max_entries: int | None,
    fetch_pages: bool,
) -> ParsedFeed:
    safe_body, doctype_note = _defuse_doctype(body, feed_url)
    headers = {**headers, "content-type": _content_type(headers, body), "content-location": base_url}
    # BytesIO, never raw bytes: feedparser treats a bytes/str argument as a path or URL
    # first, so a body like b"/etc/passwd" would be read from disk.
    result = feedparser.parse(
        io.BytesIO(safe_body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    version = result.get("version") or ""
    raw_entries = list(result.get("entries") or ())
    if not version and _root_name(_decode_for_scan(safe_body)[0]) in ("CHANNEL", "channel"):
        version = "cdf"  # feedparser reads CDF but never names it
    if not version and not raw_entries:
        detail = _not_a_feed_detail(body, result)
        raise FeedParseError(f"{feed_url} is not a feed: {detail}; check the feed URL")

    reasons = [doctype_note] if doctype_note else []
    if result.get("bozo"):
        reasons.append(_describe_exception(result.get("bozo_exception")) + " (read leniently)")
    feed = result.get("feed") or {}
    title = _detail_text(feed.get("title"), feed.get("title_detail"), single_line=True)
    default_source = source or title or _host(feed_url)
    # Atom: an entry without authors has the feed's authors (RFC 4287 4.2.1).
    feed_authors = _feedparser_authors(feed) if version.startswith("atom") else ()

    entries: list[FeedEntry] = []
    skipped: list[tuple[str, str]] = []
    for index, item in enumerate(raw_entries[:max_entries] if max_entries is not None else raw_entries, 1):
        guid = _clean_id(item.get("id"))
        item_title = _detail_text(item.get("title"), item.get("title_detail"), single_line=True)
        link, why = _pick_link(_feedparser_link_candidates(item), base_url)
        if link is None:
            skipped.append(_skip(feed_url, index, guid, item_title, why))
            continue
        raw_contents = [c for c in item.get("content") or () if isinstance(c, Mapping)]
        contents = [_detail_text(c.get("value"), c) for c in raw_contents]
        summary = item.get("summary")
        if item.get("summary_detail") is None and any(c.get("value") == summary for c in raw_contents):
            summary = None  # feedparser copies content into a missing summary; the feed had none
        entries.append(
            FeedEntry(
                feed_url=feed_url,
                link=link,
                guid=guid,
                title=item_title,
                summary=_detail_text(summary, item.get("summary_detail")),
                content=max((c for c in contents if c), key=len, default=None),
                published=_struct_to_utc(item.get("published_parsed") or item.get("updated_parsed")),
                authors=_feedparser_authors(item) or feed_authors,
                tags=_unique(tag.get("term") or tag.get("label") for tag in item.get("tags") or ()),
                source=default_source,
                fetch_page=fetch_pages,
                license=_license(item, feed),
                updated=_struct_to_utc(dict.get(item, "updated_parsed")),  # not feedparser's fallback to published
            )
        )
    links = ((str(link.get("rel", "")), str(link.get("href") or "")) for link in _links(feed))
    hub, self_url = discover(headers, links, base_url)
    return ParsedFeed(
        feed_url=feed_url,
        title=title,
        format=version or "unknown",
        entries=tuple(entries),
        bozo_reason="; ".join(reasons) or None,
        skipped=tuple(skipped),
        ttl_seconds=_ttl_seconds(feed.get("ttl")),
        update_seconds=_update_seconds(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
        hub=hub,
        self_url=self_url,
    )


#: Seconds per ``sy:updatePeriod`` (RSS 1.0 syndication module); months and years are nominal.
_UPDATE_PERIODS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0, "monthly": 30 * 86400.0,
                   "yearly": 365 * 86400.0}  # fmt: skip


def _non_negative(value: Any) -> float | None:
    """A finite number >= 0 from feed text; feeds carry junk here often enough that we never raise."""
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _ttl_seconds(value: Any) -> float | None:
    """RSS ``<ttl>`` is in minutes; seconds keep every polling hint in one unit."""
    minutes = _non_negative(value)
    return None if minutes is None else minutes * 60.0


def _update_seconds(period: Any, frequency: Any) -> float | None:
    """Period length / frequency; the module's defaults are ``daily`` and ``1`` when one is missing.

    An unknown period means we cannot tell, so None; a frequency that is not a positive number
    falls back to the default rather than discarding a valid period.
    """
    name = str(period or "").strip().lower()
    if not name and not str(frequency or "").strip():
        return None
    length = _UPDATE_PERIODS.get(name or "daily")
    if length is None:
        return None
    times = _non_negative(frequency)
    return length / (times if times else 1.0)


def _content_type(headers: Mapping[str, str], body: bytes) -> str:
    """The Content-Type to give feedparser, so it picks the right encoding.

    No Content-Type means "a standalone XML document": encoding from the XML declaration,
    else UTF-8 (feedparser would flag it and assume ISO-8859-1). UTF-16/32 is named
    explicitly because feedparser otherwise decodes it as UTF-8 when the prolog does not
    declare it (NUL bytes are valid UTF-8); a BOM wins over a header charset (WHATWG).
    """
    content_type = headers.get("content-type") or "application/xml"
    codec, bom = _sniff_codec(body)
    if codec is not None and (bom or not _CHARSET.search(content_type)):
        media_type = content_type.split(";", 1)[0].strip() or "application/xml"
        content_type = f"{media_type}; charset={codec}"
    return content_type


def _feedparser_link_candidates(item: Mapping[str, Any]) -> list[str]:
    """Links in order of preference: the main link, alternates, other non-enclosure links, permalink guid."""
    candidates = [item.get("link") or ""]
    links = [link for link in item.get("links") or () if isinstance(link, Mapping)]
    candidates += [link.get("href") or "" for link in links if link.get("rel", "alternate") == "alternate"]
    candidates += [
        link.get("href") or "" for link in links if link.get("rel") not in ("alternate", "enclosure", "self")
    ]
    guid = item.get("id") or ""
    if item.get("guidislink"):
        candidates.append(guid)
        # feedparser also copies a permalink guid into ``link``, resolved against the feed URL;
        # a guid with spaces ("isPermaLink" left at its default on a title-like id) is an
        # identifier, not a link. Non-http guids are rejected, with their value, further on.
        stripped = guid.strip()
        if any(ch.isspace() for ch in stripped):
            candidates = [c for c in candidates if c.strip() != stripped]
    return [c.strip() for c in candidates if isinstance(c, str) and c.strip()]


def _feedparser_authors(node: Mapping[str, Any]) -> tuple[str, ...]:
    names = [author.get("name") or "" for author in node.get("authors") or () if isinstance(author, Mapping)]
    if not any(n.strip() for n in names):
        detail = node.get("author_detail") or {}
        names = [detail.get("name") or node.get("author") or ""]
    return _unique(names)


def _license(item: Mapping[str, Any], feed: Mapping[str, Any]) -> str | None:
    """The entry's rights or licence, else the feed's (``None`` when neither says), on one line."""
    for source in (item, feed):
        for key in ("rights", "license"):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())[:500]
    return None


def _detail_text(value: Any, detail: Mapping[str, Any] | None, *, single_line: bool = False) -> str | None:
    """Plain text of a feedparser text construct, decoding HTML only when its type says so."""
    if not isinstance(value, str) or not value.strip():
        return None
    content_type = str((detail or {}).get("type") or "").lower()
    is_html = any(t in content_type for t in _HTML_TYPES) if content_type else _LOOKS_LIKE_HTML.search(value)
    text = html_to_text(value) if is_html else _plain_text(value)
    if single_line:
        text = " ".join(text.split())
    return text or None


def _struct_to_utc(value: Any) -> datetime | None:
    """feedparser's ``*_parsed`` are UTC ``struct_time``s; out-of-range fields mean no date."""
    if value is None:
        return None
    try:
        year, month, day, hour, minute, second = tuple(value)[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _describe_exception(error: Any) -> str:
    if isinstance(error, xml.sax.SAXParseException):
        return (
            f"not well-formed XML at line {error.getLineNumber()}, column {error.getColumnNumber()}: "
            f"{error.getMessage()}"
        )
    if error is None:
        return "feedparser flagged the document as malformed"
    return f"{type(error).__name__}: {error}"


def _not_a_feed_detail(body: bytes, result: Mapping[str, Any]) -> str:
    """Say what the document is instead, so the reader knows whether the URL or the server is wrong."""
    text = _decode_for_scan(body)[0]
    root = _root_name(text)
    lowered = root.lower() if root else ""
    if lowered == "html" or re.search(r"<!doctype\s+html", text[:2048], re.IGNORECASE):
        return "got an HTML page (<html> root)"
    if lowered in ("urlset", "sitemapindex"):
        return f"got a sitemap (<{root}> root), not an RSS/Atom/JSON feed"
    if root:
        return f"the root element <{root}> is not RSS, Atom, RDF or CDF"
    if result.get("bozo"):
        return f"no feed element found ({_describe_exception(result.get('bozo_exception'))})"
    return "no XML root element found"


# --------------------------------------------------------------------------- JSON Feed


def _looks_like_json(body: bytes) -> bool:
    start = body.lstrip(b"\xef\xbb\xbf").lstrip()
    return start[:1] in (b"{", b"[")


def _parse_json_feed(
    body: bytes,
    feed_url: str,
    base_url: str,
    headers: Mapping[str, str],
    source: str | None,
    max_entries: int | None,
    fetch_pages: bool,
) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise FeedParseError(
            f"{feed_url} is not a feed we can read: JSON that is not UTF-8 ({error.reason} at byte "
            f"{error.start}); JSON Feed must be UTF-8"
        ) from None
    except json.JSONDecodeError as error:
        raise FeedParseError(
            f"{feed_url} is not a feed: looks like JSON but is not valid JSON "
            f"(line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_PREFIX):
        raise FeedParseError(
            f"{feed_url} is not a feed: got JSON without a JSON Feed 'version' "
            f"({JSON_FEED_PREFIX}…); check the feed URL"
        )
    assert isinstance(document, dict)
    format_name = "json" + re.sub(r"[^0-9]", "", version[len(JSON_FEED_PREFIX) :])
    title = _one_line(_json_str(document.get("title")))
    items = document.get("items")
    reasons: list[str] = []
    if not isinstance(items, list):
        reasons.append("JSON Feed has no 'items' list")
        items = []
    feed_authors = _json_authors(document)
    default_source = source or title or _host(feed_url)

    entries: list[FeedEntry] = []
    skipped: list[tuple[str, str]] = []
    for index, item in enumerate(items[:max_entries] if max_entries is not None else items, 1):
        if not isinstance(item, dict):
            skipped.append((f"item{index}", f"entry {index} of {feed_url} is not a JSON object; skipped"))
            continue
        guid = _clean_id(item.get("id"))
        item_title = _one_line(_json_str(item.get("title")))
        candidates = [_json_str(item.get("url")), _json_str(item.get("external_url"))]
        if guid and guid.lower().startswith(("http://", "https://")):
            candidates.append(guid)
        link, why = _pick_link([c.strip() for c in candidates if c and c.strip()], base_url)
        if link is None:
            skipped.append(_skip(feed_url, index, guid, item_title, why))
            continue
        html = _json_str(item.get("content_html"))
        texts = [html_to_text(html) if html else None, _plain_text(_json_str(item.get("content_text")))]
        summary = _plain_text(_json_str(item.get("summary")))
        tags = item.get("tags")
        tags = tags if isinstance(tags, list) else []
        entries.append(
            FeedEntry(
                feed_url=feed_url,
                link=link,
                guid=guid,
                title=item_title,
                summary=summary or None,
                content=max((t for t in texts if t), key=len, default=None),
                published=_iso_to_utc(item.get("date_published")) or _iso_to_utc(item.get("date_modified")),
                authors=_json_authors(item) or feed_authors,
                tags=_unique(t for t in tags if isinstance(t, str)),
                source=default_source,
                fetch_page=fetch_pages,
                updated=_iso_to_utc(item.get("date_modified")),
            )
        )
    hubs = document.get("hubs")
    hubs = hubs if isinstance(hubs, list) else []
    links = [
        ("hub", _json_str(hub.get("url")) or "")
        for hub in hubs
        if isinstance(hub, dict) and str(hub.get("type", "")).lower() == "websub"
    ]
    links.append(("self", _json_str(document.get("feed_url")) or ""))
    hub, self_url = discover(headers, links, base_url)
    return ParsedFeed(
        feed_url=feed_url,
        title=title,
        format=format_name,
        entries=tuple(entries),
        bozo_reason="; ".join(reasons) or None,
        skipped=tuple(skipped),
        hub=hub,
        self_url=self_url,
    )


def _links(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [link for link in node.get("links") or () if isinstance(link, Mapping)]


def _json_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _one_line(value: str | None) -> str | None:
    return " ".join(value.split()) or None if value else None


def _json_authors(node: Mapping[str, Any]) -> tuple[str, ...]:
    """JSON Feed 1.1 ``authors`` list, else 1.0's single ``author`` object."""
    authors = node.get("authors")
    if not isinstance(authors, list):
        authors = [node.get("author")]
    assert isinstance(authors, list)
    return _unique(a.get("name") for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str))


def _iso_to_utc(value: Any) -> datetime | None:
    """RFC 3339 date to UTC; a date without an offset is taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------- shared helpers


def _pick_link(candidates: list[str], base_url: str) -> tuple[str | None, str]:
    """First candidate that resolves to an absolute http(s) URL, else why there is none."""
    for candidate in candidates:
        absolute = urljoin(base_url, candidate)
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.hostname:
            return absolute, ""
    if not candidates:
        return None, "has no link"
    return None, f"has no http(s) link (got {candidates[0][:200]!r})"


def _skip(feed_url: str, index: int, guid: str | None, title: str | None, why: str) -> tuple[str, str]:
    identity = guid or f"item{index}"
    label = f"entry {index}" + (f" ({title[:80]!r})" if title else "")
    return identity, f"{label} of {feed_url} {why}; it cannot be fetched or deduplicated, so it was skipped"


def _clean_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text or None


def _unique(values: Iterable[Any]) -> tuple[str, ...]:
    """Whitespace-normalised, non-empty, first occurrence kept."""
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str):
            text = " ".join(value.split())
            if text:
                seen.setdefault(text, None)
    return tuple(seen)


def _host(url: str) -> str | None:
    return urlsplit(url).hostname or None


def _plain_text(value: str | None) -> str:
    """Normalise plain text: spaces collapsed within lines, paragraph breaks kept as one blank line."""
    if not value:
        return ""
    lines = [" ".join(line.split()) for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """HTML fragment to plain text: scripts/styles dropped, blocks separated by blank lines.

    Inline whitespace follows HTML rules (runs collapse to one space, except in ``<pre>``);
    ``<br>``, list items and table rows become line breaks, block elements paragraph breaks.
    """
    if "<" not in html and "&" not in html:
        return " ".join(html.split())
    parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = etree.fromstring(html.encode("utf-8", "surrogatepass"), parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:
        return " ".join(html.split())
    parts: list[str | int] = []
    pre_depth = 0

    def add_text(value: str | None) -> None:
        if value:
            parts.append(value if pre_depth else value.replace("\n", " "))

    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        tag = node.tag.lower() if isinstance(node.tag, str) else ""
        if closing:
            if tag == "pre":
                pre_depth -= 1
            if tag in _PARAGRAPH_TAGS:
                parts.append(_PARAGRAPH_BREAK)
            elif tag in _LINE_TAGS:
                parts.append(_LINE_BREAK)
            add_text(node.tail)
            continue
        if tag in _DROP_TAGS or not tag:
            add_text(node.tail)
            continue
        if tag in _PARAGRAPH_TAGS:
            parts.append(_PARAGRAPH_BREAK)
        elif tag in _LINE_TAGS:
            parts.append(_LINE_BREAK)
        if tag == "pre":
            pre_depth += 1
        add_text(node.text)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))
    return _join_text(parts)


def _join_text(parts: list[str | int]) -> str:
    """Join text runs; adjacent breaks merge into the strongest one so nesting adds no blank lines."""
    out: list[str] = []
    pending = 0
    for part in parts:
        if isinstance(part, int):
            pending = max(pending, part)
            continue
        if not part.strip():
            if not pending:
                out.append(" ")
            continue
        if pending and out:
            out.append("\n" * pending)
        pending = 0
        out.append(part)
    lines = [" ".join(line.split()) for line in "".join(out).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------- XML safety


def _sniff_codec(body: bytes) -> tuple[str | None, bytes]:
    """``(codec, bom)`` for UTF-16/32 documents (XML 1.0 appendix F), ``(None, b"")`` otherwise."""
    boms = (
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\xfe\xff", "utf-16-be"),
        (b"\xff\xfe", "utf-16-le"),
    )
    codec: str | None = None
    bom = b""
    for mark, name in boms:
        if body.startswith(mark):
            codec, bom = name, mark
            break
    else:
        head = body[:4]
        if len(head) == 4:
            if head[:3] == b"\x00\x00\x00" and head[3]:
                codec = "utf-32-be"
            elif head[0] and head[1:] == b"\x00\x00\x00":
                codec = "utf-32-le"
            elif not head[0] and head[1] and not head[2] and head[3]:
                codec = "utf-16-be"
            elif head[0] and not head[1] and head[2] and not head[3]:
                codec = "utf-16-le"
    return codec, bom


def _decode_for_scan(body: bytes) -> tuple[str, str | None, bytes]:
    """Decode ``body`` for markup scanning: ``(text, codec, bom)``.

    ASCII-compatible documents (UTF-8, Latin-1, cp1252, Shift_JIS…) are decoded as Latin-1,
    which maps bytes 1:1 so offsets and a re-encode are exact; UTF-16/32 are decoded with
    their codec and ``codec`` says which, for re-encoding.
    """
    codec, bom = _sniff_codec(body)
    if codec is None:
        return body.decode("latin-1"), None, b""
    return body[len(bom) :].decode(codec, "replace"), codec, bom


def _scan_markup_end(text: str, start: int) -> int:
    """Index just past the ``<!…>`` at ``start`` (quotes, comments and ``[…]`` skipped); -1 if unclosed."""
    depth = 0
    i = start + 2
    n = len(text)
    while i < n:
        char = text[i]
        if char in "\"'":
            close = text.find(char, i + 1)
            if close < 0:
                return -1
            i = close + 1
            continue
        skipped = _skip_comment_or_pi(text, i, unclosed=-1)
        if skipped is not None:
            if skipped < 0:
                return -1
            i = skipped
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == ">" and depth <= 0:
            return i + 1
        i += 1
    return -1


def _skip_comment_or_pi(text: str, i: int, unclosed: int | None = None) -> int | None:
    """Where a comment or processing instruction starting at ``i`` ends (``unclosed``, default the
    end of ``text``, when it never closes); None if none starts there."""
    for opener, closer in (("<!--", "-->"), ("<?", "?>")):
        if text.startswith(opener, i):
            close = text.find(closer, i + len(opener))
            if close < 0:
                return len(text) if unclosed is None else unclosed
            return close + len(closer)
    return None


def _split_subset(subset: str) -> list[str]:
    """The internal subset's markup declarations (``<!…>``), comments and PIs left out."""
    declarations: list[str] = []
    i = 0
    while True:
        i = subset.find("<", i)
        if i < 0:
            return declarations
        skipped = _skip_comment_or_pi(subset, i)
        if skipped is not None:
            i = skipped
        else:
            end = _scan_markup_end(subset, i)
            end = len(subset) if end < 0 else end
            declarations.append(subset[i:end])
            i = end


def _rebuild_doctype(declaration: str) -> tuple[str, int]:
    """The DOCTYPE with only short literal entities kept, and how many entity declarations were dropped."""
    open_bracket = -1
    i = len("<!DOCTYPE")
    while i < len(declaration):
        char = declaration[i]
        if char in "\"'":
            close = declaration.find(char, i + 1)
            i = len(declaration) if close < 0 else close + 1
            continue
        if char == "[":
            open_bracket = i
            break
        i += 1
    if open_bracket < 0:
        return declaration, 0
    close_bracket = declaration.rfind("]")
    if close_bracket < open_bracket:
        close_bracket = len(declaration)
    subset = declaration[open_bracket + 1 : close_bracket]
    kept: list[str] = []
    dropped = 0
    for markup in _split_subset(subset):
        if not markup.upper().startswith("<!ENTITY"):
            continue
        match = _ENTITY_DECL.match(markup)
        value = (match.group(2) if match.group(2) is not None else match.group(3)) if match else None
        safe = value is not None and len(value) <= MAX_SAFE_ENTITY_CHARS
        if safe and value is not None and ("&" in value or "%" in value or "<" in value):
            safe = _CHAR_REF.fullmatch(value) is not None
        if match and value is not None and safe:
            quote = "'" if '"' in value else '"'
            kept.append(f"<!ENTITY {match.group(1)} {quote}{value}{quote}>")
        elif not _PARAMETER_ENTITY.match(markup):
            dropped += 1  # parameter entities (e.g. XHTML entity sets) go too, but are routine
    head = declaration[:open_bracket].rstrip()
    if not kept:
        return head + ">", dropped
    return head + " [\n" + "\n".join(kept) + "\n]>", dropped


def _defuse_doctype(body: bytes, feed_url: str) -> tuple[bytes, str | None]:
    """Strip dangerous DOCTYPE internal subsets before any XML parser sees them.

    Security: nested entities ("billion laughs") and external/parameter entities must never
    expand. feedparser's own DOCTYPE filter is line-based and can be sidestepped (an entity
    value containing ``<b>`` makes it keep the declarations, and expat then spends seconds
    expanding until its amplification guard trips). Here every DOCTYPE in the prolog is
    rebuilt with only short literal entities, one per line. Documents without a DOCTYPE
    internal subset are returned unchanged (the same bytes object).
    """
    text, codec, bom = _decode_for_scan(body)
    pieces: list[str] = []
    last = 0
    dropped = 0
    position = 0
    while True:
        position = text.find("<", position)
        if position < 0:
            break
        if text.startswith("<?", position):
            close = text.find("?>", position + 2)
            position = len(text) if close < 0 else close + 2
        elif text.startswith("<!--", position):
            close = text.find("-->", position + 4)
            position = len(text) if close < 0 else close + 3
        elif text[position : position + 9].upper() == "<!DOCTYPE":
            end = _scan_markup_end(text, position)
            if end < 0:
                raise FeedParseError(
                    f"{feed_url} is not a feed we can read: its DOCTYPE declaration never ends; "
                    "refusing to parse it (security: entity expansion)"
                )
            declaration = text[position:end]
            if "[" in declaration:
                rebuilt, count = _rebuild_doctype(declaration)
                dropped += count
                # On a line of its own: feedparser's DOCTYPE handling only looks at line starts.
                newline = "\n" if position and text[position - 1] != "\n" else ""
                pieces += [text[last:position], newline + rebuilt]
                last = end
            position = end
        else:
            break  # the root element (or junk): the prolog is over
    if not pieces:
        return body, None
    pieces.append(text[last:])
    rebuilt_text = "".join(pieces)
    if codec is None:
        safe_body = rebuilt_text.encode("latin-1")
    else:
        try:
            body[len(bom) :].decode(codec)
        except UnicodeDecodeError:
            raise FeedParseError(
                f"{feed_url} is not a feed we can read: a {codec} document with a DOCTYPE internal subset "
                "that does not decode; refusing to parse it (security: entity expansion)"
            ) from None
        safe_body = bom + rebuilt_text.encode(codec)
    note = None
    if dropped:
        note = (
            f"removed {dropped} unsafe entity declaration(s) from the DOCTYPE "
            "(nested, external or long entities are never expanded)"
        )
    return safe_body, note


def _root_name(text: str) -> str | None:
    """Name of the first element after the prolog, if any."""
    position = 0
    while True:
        position = text.find("<", position)
        if position < 0:
            return None
        skipped = _skip_comment_or_pi(text, position)
        if skipped is not None:
            position = skipped
        elif text.startswith("<!", position):
            end = _scan_markup_end(text, position)
            position = len(text) if end < 0 else end
        else:
            match = _NAME.match(text, position + 1)
            if match:
                return match.group(0)
            position += 1

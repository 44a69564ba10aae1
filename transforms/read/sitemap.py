"""Sitemaps to ``FeedEntry`` records: pure functions, no I/O.

A feed list may name sitemaps as well as feeds; they are told apart by content (the root element
``<urlset>`` or ``<sitemapindex>``, in any namespace), never by file name. Three kinds are read:

- a **sitemap index** lists child sitemaps (``<sitemap><loc>``, ``<lastmod>``); the stage that fetched
  it fetches the children whose ``lastmod`` is newer than their last successful fetch;
- a **Google News sitemap** (``news:news`` elements) lists articles with ``news:publication_date``,
  ``news:title`` and ``news:language``;
- an **ordinary urlset** lists pages with ``lastmod``; only those whose URL looks like an article are
  kept (``is_article_url``).

The XML gets the feeds' defences (``feed_parser._defuse_doctype``: no nested, external or long
entities) and a parser that never resolves entities, loads a DTD or touches the network. Gzipped
sitemaps are inflated up to ``MAX_SITEMAP_BYTES`` (the protocol's 50 MB), and at most
``MAX_SITEMAP_URLS`` (the protocol's 50,000) URLs are read from one file; anything beyond either limit
is reported, not read. ``lastmod`` becomes ``FeedEntry.updated``, so a changed article is refetched.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urljoin, urlsplit

from lxml import etree

from newsbeam.schemas.records import FeedEntry, FeedSpec, FeedState
from newsbeam.transforms.errors import FeedParseError
from newsbeam.transforms.read.feed_parser import ParsedFeed, SitemapRef, _decode_for_scan, _defuse_doctype, _root_name

MAX_SITEMAP_URLS: Final = 50_000
MAX_SITEMAP_BYTES: Final = 50 * 1024 * 1024
SITEMAP_ROOTS: Final = ("urlset", "sitemapindex")

_NOT_ARTICLE_SEGMENTS: Final = frozenset(
    """about about-us account advertise advertising archive archives author authors careers categories category
    contact contact-us cookies faq feed feeds help imprint impressum jobs legal login logout newsletter
    newsletters page pages privacy privacy-policy profile register rss search section sections signin
    sign-in signup sign-up sitemap staff subscribe subscription tag tags team terms terms-of-service
    terms-of-use topic topics user users""".split()
)
_DATE_IN_PATH: Final = re.compile(
    r"/(?:19|20)\d\d[/-](?:0?[1-9]|1[0-2])(?:[/-]|$)"  # /2024/05/… or /2024-05-…
    r"|(?<!\d)(?:19|20)\d\d(?:0[1-9]|1[0-2])[0-3]\d(?!\d)"  # 20240506
)
_LONG_NUMBER: Final = re.compile(r"\d{5,}")
_WORD: Final = re.compile(r"[^\W\d_]{2,}")
_PAGE_SUFFIX: Final = re.compile(r"\.(?:s?html?|php|aspx?)$", re.IGNORECASE)


def is_sitemap(body: bytes) -> bool:
    """True when ``body`` (inflated) is an XML sitemap or sitemap index, by its root element."""
    root = _root_name(_decode_for_scan(body[:65536])[0])
    return root is not None and root.rpartition(":")[2] in SITEMAP_ROOTS


def inflate(body: bytes, url: str, limit: int = MAX_SITEMAP_BYTES) -> bytes:
    """The body, gunzipped when it is gzip (``.xml.gz`` sitemaps), never more than ``limit`` bytes."""
    if body[:2] != b"\x1f\x8b":
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise FeedParseError(f"{url} is a corrupt gzip file ({error}); check the sitemap URL") from None
    if len(data) > limit:
        raise FeedParseError(
            f"{url} inflates to more than {limit:,} bytes (a gzip bomb, or over the sitemap protocol's 50 MB); not read"
        )
    return data


def is_article_url(url: str) -> bool:
    """Whether a URL from an ordinary sitemap is an article rather than a section front or a site page.

    A URL is an article when no path segment names a site page (about, contact, tag, category,
    author, search, …) and its path carries an article's marks: a date (``/2024/05/06/``,
    ``20240506``), a long numeric id, or a last segment that is a slug of at least three words.
    Front pages and section fronts (``/``, ``/politics``, ``/world/europe``) have none of these.
    """
    path = urlsplit(url).path
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return False
    if any(segment.lower() in _NOT_ARTICLE_SEGMENTS for segment in segments):
        return False
    if _DATE_IN_PATH.search(path) or _LONG_NUMBER.search(segments[-1]):
        return True
    slug = _PAGE_SUFFIX.sub("", segments[-1])
    return len(_WORD.findall(slug)) >= 3 and ("-" in slug or "_" in slug)


@dataclass(frozen=True)
class _Url:
    loc: str
    lastmod: datetime | None
    news: bool
    title: str | None
    published: datetime | None
    publication: str | None


def parse_sitemap(
    body: bytes,
    *,
    sitemap_url: str,
    source: str | None = None,
    max_entries: int | None = None,
    fetch_pages: bool = True,
) -> ParsedFeed:
    """Parse a sitemap (index, news or ordinary) fetched from ``sitemap_url``; ``FeedParseError`` if unreadable."""
    safe_body, note = _defuse_doctype(inflate(body, sitemap_url), sitemap_url)
    root_name = (_root_name(_decode_for_scan(safe_body[:65536])[0]) or "").rpartition(":")[2]
    if root_name == "sitemapindex":
        refs, truncated = _index(safe_body, sitemap_url, note)
        return ParsedFeed(
            sitemap_url, None, "sitemapindex", (), note, _over_limit("sitemaps", truncated), sitemaps=tuple(refs)
        )
    urls, truncated = _urls(safe_body, sitemap_url, note)
    news = any(url.news for url in urls)
    kept = [url for url in urls if url.news or (not news and is_article_url(url.loc))]
    kept.sort(key=lambda url: url.published or url.lastmod or datetime.min.replace(tzinfo=UTC), reverse=True)
    entries = tuple(
        FeedEntry(
            feed_url=sitemap_url,
            link=url.loc,
            title=url.title,
            published=url.published,
            updated=url.lastmod or url.published,
            source=source or url.publication or _host(sitemap_url),
            fetch_page=fetch_pages,
        )
        for url in kept[:max_entries]
    )
    return ParsedFeed(
        sitemap_url,
        None,
        "sitemap-news" if news else "sitemap",
        entries,
        note,
        _over_limit("URLs", truncated),
        not_articles=len(urls) - len(kept),
    )


def _over_limit(what: str, truncated: bool) -> tuple[tuple[str, str], ...]:
    """The ``skipped`` record (a dead letter downstream) of a file cut at the protocol's limit."""
    if not truncated:
        return ()
    reason = (
        f"the sitemap lists more than {MAX_SITEMAP_URLS:,} {what} (the sitemap protocol's limit); "
        f"only the first {MAX_SITEMAP_URLS:,} were read"
    )
    return (("over-limit", reason),)


def _elements(body: bytes, url: str, tag: str, note: str | None) -> Iterator[etree._Element]:
    """Each ``tag`` element (any namespace) of the document, streamed and freed as it goes."""
    parser_options = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
    try:
        for _, element in etree.iterparse(io.BytesIO(body), events=("end",), **parser_options):
            if isinstance(element.tag, str) and etree.QName(element).localname == tag:
                yield element
                element.clear(keep_tail=False)
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        why = f" ({note})" if note else ""
        raise FeedParseError(f"{url} is not a well-formed sitemap{why}: {error}; check the sitemap URL") from None


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element.iter():
        if isinstance(child.tag, str) and etree.QName(child).localname == name and child is not element:
            text = (child.text or "").strip()
            return text or None
    return None


def _index(body: bytes, url: str, note: str | None) -> tuple[list[SitemapRef], bool]:
    refs: list[SitemapRef] = []
    for element in _elements(body, url, "sitemap", note):
        if len(refs) == MAX_SITEMAP_URLS:
            return refs, True
        loc = _child_text(element, "loc") or (element.text or "").strip()
        absolute = _absolute(loc, url)
        if absolute:
            refs.append(SitemapRef(absolute, _date(_child_text(element, "lastmod"))))
    return refs, False


def _urls(body: bytes, url: str, note: str | None) -> tuple[list[_Url], bool]:
    found: list[_Url] = []
    for element in _elements(body, url, "url", note):
        if len(found) == MAX_SITEMAP_URLS:
            return found, True
        loc = _absolute(_child_text(element, "loc") or "", url)
        if not loc:
            continue
        news = any(isinstance(child.tag, str) and etree.QName(child).localname == "news" for child in element)
        found.append(
            _Url(
                loc,
                _date(_child_text(element, "lastmod")),
                news,
                _child_text(element, "title") if news else None,
                _date(_child_text(element, "publication_date")) if news else None,
                _child_text(element, "name") if news else None,
            )
        )
    return found, False


def _absolute(loc: str, base: str) -> str | None:
    absolute = urljoin(base, loc.strip())
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _date(value: str | None) -> datetime | None:
    """A W3C datetime (``2024-05-06``, ``2024-05-06T10:00:00+02:00``, ``…Z``) in UTC; None if not one."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _host(url: str) -> str | None:
    return urlsplit(url).hostname


def children_to_fetch(
    index: FeedSpec, parsed: ParsedFeed, known: Mapping[str, FeedState], *, nested: bool
) -> tuple[list[FeedSpec], int, list[tuple[str, FeedParseError]]]:
    """``(child specs to fetch, children unchanged since their last fetch, errors)`` of a sitemap index.

    A child is skipped when its ``lastmod`` in the index is no later than its last successful fetch
    (the incremental case). An index listed inside an index (``nested``), or one that lists itself,
    is a loop or a nesting the protocol does not allow: it is reported, and its children not fetched.
    """
    if nested and parsed.sitemaps:
        reason = (
            f"sitemap index {index.url} is listed inside another sitemap index (a loop, or nesting the sitemap "
            f"protocol does not allow); its {len(parsed.sitemaps):,} sitemaps were not followed"
        )
        return [], 0, [(index.url, FeedParseError(reason))]
    specs: list[FeedSpec] = []
    errors: list[tuple[str, FeedParseError]] = []
    unchanged = 0
    seen: set[str] = set()
    for ref in parsed.sitemaps:
        if ref.url in seen:
            continue
        seen.add(ref.url)
        if ref.url == index.url:
            errors.append((index.url, FeedParseError(f"sitemap index {index.url} lists itself; not followed")))
            continue
        state = known.get(ref.url)
        if state and state.last_success_at and ref.lastmod and ref.lastmod <= state.last_success_at:
            unchanged += 1
            continue
        specs.append(FeedSpec(ref.url, index.source, index.fetch_pages, index.max_entries, state))
    return specs, unchanged, errors

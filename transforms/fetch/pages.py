"""Stage 2, fetch: download each entry's article page, many at once, bounded per host.

A page that cannot be fetched (or is not HTML) becomes a dead letter with stage ``fetch``
*and* still flows on as a ``Page`` without HTML, so cleaning can fall back to the feed
entry's own text: the failure is recorded, the article is not lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

import apache_beam as beam

from newsbeam.schemas.records import FeedEntry, Page
from newsbeam.transforms.base import DeadLetterOutput, TaggedTransform, apply_stage, counter
from newsbeam.transforms.errors import FetchError, UnsupportedContent
from newsbeam.transforms.fetch.decode import decode_html
from newsbeam.transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient
from newsbeam.transforms.fetch.stage import ClientFactory, HttpStage, batched
from newsbeam.transforms.fetch.tdmrep import TdmRepCache

RIGHTS_HEADERS = ("x-robots-tag", "tdm-reservation", "tdm-policy")
"""Response headers a page keeps for its rights signals (``Page.rights_headers``, ``clean/rights.py``)."""

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml", ""})


def page_from_response(entry: FeedEntry, response: HttpResponse) -> Page:
    """Decode an HTML response into a ``Page``; non-HTML content raises ``UnsupportedContent``."""
    if (response.content_type or "") not in HTML_TYPES:
        raise UnsupportedContent(
            f"{response.url} returned {response.content_type!r}, not an HTML page; "
            "the article text falls back to the feed entry"
        )
    html, _encoding = decode_html(response.body, response.charset)
    return Page(
        url=entry.link,
        fetched_url=response.url,
        fetched_at=response.fetched_at,
        html=html,
        title=entry.title,
        published=entry.published,
        source=entry.source,
        feed_url=entry.feed_url,
        status=response.status,
        content_type=response.content_type,
        entry=entry,
        rights_headers=tuple((name, response.headers[name]) for name in RIGHTS_HEADERS if name in response.headers),
    )


def page_without_html(entry: FeedEntry, fetch_error: str | None = None) -> Page:
    """A page cleaning will fill from the feed entry (fetch failed, or fetching is off)."""
    return Page(
        url=entry.link,
        fetched_url=entry.link,
        fetched_at=datetime.now(timezone.utc),
        title=entry.title,
        published=entry.published,
        source=entry.source,
        feed_url=entry.feed_url,
        entry=entry,
        fetch_error=fetch_error,
    )


class FetchPageBatch(HttpStage):
    """A batch of feed entries in; one ``Page`` per entry out (failed fetches also dead-lettered)."""

    stage = "fetch"
    obeys_robots = True  # article links come from third-party feeds: we crawl them, so robots.txt applies

    def setup(self) -> None:
        super().setup()
        self.tdmrep = TdmRepCache()

    def handle(self, batch: Sequence[FeedEntry]) -> Iterator[Page | DeadLetterOutput]:
        to_fetch = [entry for entry in batch if entry.fetch_page]
        for entry in batch:
            if not entry.fetch_page:
                yield page_without_html(entry)
        links = [entry.link for entry in to_fetch]
        site_files = self.tdmrep.missing(links) if self.config.tdmrep else []
        outcomes = self.fetch(links + site_files, PAGE_ACCEPT)  # the new sites' tdmrep.json alongside
        for file_url, file_outcome in outcomes[len(links) :]:
            self.tdmrep.store(file_url, file_outcome)
        for entry, (_, outcome) in zip(to_fetch, outcomes[: len(links)], strict=True):
            try:
                if isinstance(outcome, FetchError):
                    raise outcome
                page = page_from_response(entry, outcome)
                if self.config.tdmrep and self.client is not None:
                    site_rule = self.tdmrep.headers_for(self.client, page.fetched_url)
                    page = dataclasses.replace(page, rights_headers=page.rights_headers + site_rule)
            except FetchError as error:
                counter("pages_failed").inc()
                yield self.reject(error, entry.link, entry.title)
                yield page_without_html(entry, error.reason)
                continue
            counter("pages_fetched").inc()
            yield page


class FetchPages(TaggedTransform):
    """``FeedEntry`` in; ``main`` pages and ``dead_letter`` out."""

    def __init__(self, config: HttpConfig, client_factory: ClientFactory = HttpxClient) -> None:
        super().__init__()
        self.config = config
        self.client_factory = client_factory

    def expand(self, entries: beam.PCollection) -> dict[str, beam.PCollection]:
        batches = batched(entries, self.config)
        return apply_stage(batches, "FetchPageBatch", FetchPageBatch(self.config, self.client_factory))

"""Stage 1, feeds: fetch each feed over HTTP, then parse it into one ``FeedEntry`` per item.

Two DoFns with one job each: ``FetchFeeds`` turns feed specs into HTTP responses (many at
once, polite per host, conditional when the lake remembers the feed's ETag/Last-Modified),
``ParseFeeds`` turns a response into entries; a 304 costs no parsing. A feed that cannot be
fetched or parsed becomes a dead letter with stage ``feeds``. Both also emit the feed's new
``FeedState`` on the ``feed_state`` output, which the run saves in ``_state/feeds``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, Literal

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from newsbeam.schemas.records import FeedEntry, FeedSpec, FeedState
from newsbeam.transforms.base import DEAD_LETTER, MAIN, DeadLetterOutput, Stage, TaggedTransform, counter
from newsbeam.transforms.errors import FeedParseError, FetchError
from newsbeam.transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient
from newsbeam.transforms.fetch.stage import ClientFactory, HttpStage, batched
from newsbeam.transforms.lake.state import next_feed_state
from newsbeam.transforms.read.feed_parser import ParsedFeed, parse_feed
from newsbeam.transforms.read.sitemap import children_to_fetch, inflate, is_sitemap, parse_sitemap

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
)
FEED_STATE: Final = "feed_state"
SITEMAPS: Final = "sitemaps"
FeedStateOutput = TaggedOutput[Literal["feed_state"], FeedState]
SitemapOutput = TaggedOutput[Literal["sitemaps"], FeedSpec]


def state_after(
    spec: FeedSpec,
    response: HttpResponse | None,
    error: FetchError | FeedParseError | None,
    entries: int | None = None,
) -> FeedStateOutput:
    """The feed's ``FeedState`` after this attempt, on the ``feed_state`` output (batch and stream)."""
    status = response.status if response is not None else getattr(error, "status", None)
    return beam.pvalue.TaggedOutput(
        FEED_STATE,
        next_feed_state(
            spec.state,
            spec.url,
            response.fetched_at if response is not None else datetime.now(timezone.utc),
            status=status,
            etag=response.etag if response is not None else None,
            last_modified=response.last_modified if response is not None else None,
            error=error.reason if error is not None else None,
            entries=entries,
            fetch_ms=response.elapsed_ms if response is not None else None,
        ),
    )


class FetchFeeds(HttpStage):
    """A batch of feed specs in; ``(spec, response)`` pairs out, failed fetches dead-lettered."""

    stage = "feeds"

    def handle(
        self, batch: Sequence[FeedSpec]
    ) -> Iterator[tuple[FeedSpec, HttpResponse] | DeadLetterOutput | FeedStateOutput]:
        validators = {
            spec.url: (spec.state.etag, spec.state.last_modified)
            for spec in batch
            if spec.state is not None and (spec.state.etag or spec.state.last_modified)
        }
        outcomes = self.fetch([spec.url for spec in batch], FEED_ACCEPT, validators)
        for spec, (_, outcome) in zip(batch, outcomes, strict=True):
            if isinstance(outcome, HttpResponse):
                yield spec, outcome
                continue
            counter("feeds_failed").inc()
            yield self.reject(outcome, spec.url)
            yield state_after(spec, None, outcome)


class ParseFeeds(Stage):
    """``(spec, response)`` in; one ``FeedEntry`` per usable item out (none for a 304).

    A sitemap index yields its children to fetch on the ``sitemaps`` output instead (``known``
    holds their states, so unchanged ones are skipped); ``nested`` marks the children's round.
    """

    stage = "feeds"

    def __init__(self, known: Mapping[str, FeedState] | None = None, *, nested: bool = False) -> None:
        super().__init__()
        self.known = known or {}
        self.nested = nested

    def input_id(self, element: Any) -> str:
        return str(element[0].url)

    def input_excerpt(self, element: Any) -> bytes:
        return bytes(element[1].body[:600])

    def handle(
        self, element: tuple[FeedSpec, HttpResponse]
    ) -> Iterator[FeedEntry | DeadLetterOutput | FeedStateOutput | SitemapOutput]:
        spec, response = element
        parsed = parse_fetched(spec, response)
        if isinstance(parsed, FeedParseError):
            yield self.reject(parsed, spec.url, response.body)
            yield state_after(spec, response, parsed)
            return
        yield state_after(spec, response, None, len(parsed.entries) if parsed else None)
        if parsed is None:
            return
        yield from parsed.entries
        for input_id, error in skipped_items(spec, parsed):
            yield self.reject(error, input_id)
        children, errors = sitemap_children(spec, parsed, self.known, nested=self.nested)
        for child in children:
            output: SitemapOutput = beam.pvalue.TaggedOutput(SITEMAPS, child)
            yield output
        for input_id, error in errors:
            yield self.reject(error, input_id)


def parse_fetched(spec: FeedSpec, response: HttpResponse) -> ParsedFeed | FeedParseError | None:
    """The feed or sitemap in ``response``, counted for the summary: ``None`` for a 304, the error if it
    does not parse. Feeds and sitemaps are told apart by content (``sitemap.is_sitemap``).

    Shared by the batch graph (``ParseFeeds``) and the stream's ``PollFeeds``.
    """
    if response.not_modified:
        counter("feeds_not_modified").inc()
        return None
    try:
        body = inflate(response.body, response.url)
        if is_sitemap(body):
            parsed = parse_sitemap(
                body,
                sitemap_url=response.url,
                source=spec.source,
                max_entries=spec.max_entries,
                fetch_pages=spec.fetch_pages,
            )
            counter("sitemaps_ok").inc()
            counter("sitemap_urls_not_articles").inc(parsed.not_articles)
        else:
            parsed = parse_feed(
                body,
                feed_url=response.url,
                headers=response.headers,
                source=spec.source,
                max_entries=spec.max_entries,
                fetch_pages=spec.fetch_pages,
            )
    except FeedParseError as error:
        counter("feeds_failed").inc()
        return error
    counter("feeds_ok").inc()
    counter("entries").inc(len(parsed.entries))
    return parsed


def sitemap_children(
    spec: FeedSpec, parsed: ParsedFeed, known: Mapping[str, FeedState], *, nested: bool
) -> tuple[list[FeedSpec], list[tuple[str, FeedParseError]]]:
    """A sitemap index's children to fetch now and its errors (loops, nesting), counted for the summary."""
    if not parsed.sitemaps:
        return [], []
    children, unchanged, errors = children_to_fetch(spec, parsed, known, nested=nested)
    counter("sitemaps_unchanged").inc(unchanged)
    return children, errors


def skipped_items(spec: FeedSpec, parsed: ParsedFeed) -> Iterator[tuple[str, FeedParseError]]:
    """``(input id, error)`` of each feed item that could not be used (each becomes a dead letter)."""
    for identity, reason in parsed.skipped:
        yield f"{spec.url}#{identity}", FeedParseError(reason)


class ReadFeeds(TaggedTransform):
    """``FeedSpec`` in; ``main`` feed entries, ``dead_letter`` and ``feed_state`` out."""

    def __init__(
        self,
        config: HttpConfig,
        client_factory: ClientFactory = HttpxClient,
        known: Mapping[str, FeedState] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.client_factory = client_factory
        self.known = known or {}

    def expand(self, specs: beam.PCollection) -> dict[str, beam.PCollection]:
        """Two rounds: the listed feeds and sitemaps, then the sitemaps their indexes name (one level)."""
        outputs = []
        for name, nested in (("", False), ("Sitemaps", True)):
            batches = batched(specs, self.config) if not nested else specs | "Sitemaps" >> _Batched(self.config)
            fetched = batches | f"Fetch{name or 'Feeds'}" >> beam.ParDo(
                FetchFeeds(self.config, self.client_factory)
            ).with_outputs(DEAD_LETTER, FEED_STATE, main=MAIN)
            parsed = fetched[MAIN] | f"Parse{name or 'Feeds'}" >> beam.ParDo(
                ParseFeeds(self.known, nested=nested)
            ).with_outputs(DEAD_LETTER, FEED_STATE, SITEMAPS, main=MAIN)
            outputs += [fetched, parsed]
            specs = parsed[SITEMAPS]
        return {
            MAIN: [out[MAIN] for out in outputs[1::2]] | "FeedEntries" >> beam.Flatten(),
            DEAD_LETTER: [out[DEAD_LETTER] for out in outputs] | "FeedFailures" >> beam.Flatten(),
            FEED_STATE: [out[FEED_STATE] for out in outputs] | "FeedStates" >> beam.Flatten(),
        }


class _Batched(beam.PTransform):  # type: ignore[misc]
    """``batched`` under its own label (the second round needs distinct step names)."""

    def __init__(self, config: HttpConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, specs: beam.PCollection) -> beam.PCollection:
        return batched(specs, self.config)

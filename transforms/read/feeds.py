"""Stage 1, feeds: fetch each feed over HTTP, then parse it into one ``FeedEntry`` per item.

Two DoFns with one job each: ``FetchFeeds`` turns feed specs into HTTP responses (many at
once, bounded per host), ``ParseFeeds`` turns a response into entries. A feed that cannot
be fetched or parsed becomes a dead letter with stage ``feeds``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam

from schemas.records import FeedSpec
from transforms.base import DEAD_LETTER, MAIN, Stage, apply_stage, counter, dead_letter
from transforms.errors import FeedParseError
from transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient
from transforms.fetch.stage import ClientFactory, HttpStage, batched
from transforms.read.feed_parser import parse_feed

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
)


class FetchFeeds(HttpStage):
    """A batch of feed specs in; ``(spec, response)`` pairs out, failed fetches dead-lettered."""

    stage = "feeds"

    def handle(self, batch: Sequence[FeedSpec]) -> Iterator[Any]:
        outcomes = self.fetch([spec.url for spec in batch], FEED_ACCEPT)
        for spec, (_, outcome) in zip(batch, outcomes, strict=True):
            if isinstance(outcome, HttpResponse):
                yield spec, outcome
            else:
                counter("feeds_failed").inc()
                counter("dead_letters").inc()
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(self.stage, outcome, spec.url))


class ParseFeeds(Stage):
    """``(spec, response)`` in; one ``FeedEntry`` per usable item out."""

    stage = "feeds"

    def input_id(self, element: Any) -> str:
        return str(element[0].url)

    def input_excerpt(self, element: Any) -> bytes:
        return bytes(element[1].body[:600])

    def handle(self, element: tuple[FeedSpec, HttpResponse]) -> Iterator[Any]:
        spec, response = element
        parsed = parse_feed(
            response.body,
            feed_url=response.url,
            headers=response.headers,
            source=spec.source,
            max_entries=spec.max_entries,
            fetch_pages=spec.fetch_pages,
        )
        counter("feeds_ok").inc()
        counter("entries").inc(len(parsed.entries))
        yield from parsed.entries
        for identity, reason in parsed.skipped:
            counter("dead_letters").inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER,
                dead_letter(self.stage, FeedParseError(reason), f"{spec.url}#{identity}"),
            )


class ReadFeeds(beam.PTransform):  # type: ignore[misc]
    """``FeedSpec`` in; ``main`` feed entries and ``dead_letter`` out."""

    def __init__(self, config: HttpConfig, client_factory: ClientFactory = HttpxClient) -> None:
        super().__init__()
        self.config = config
        self.client_factory = client_factory

    def expand(self, specs: beam.PCollection) -> dict[str, beam.PCollection]:
        batches = batched(specs, self.config)
        fetched = apply_stage(batches, "FetchFeeds", FetchFeeds(self.config, self.client_factory))
        parsed = apply_stage(fetched[MAIN], "ParseFeeds", ParseFeeds())
        failures = (fetched[DEAD_LETTER], parsed[DEAD_LETTER]) | "FeedFailures" >> beam.Flatten()
        return {MAIN: parsed[MAIN], DEAD_LETTER: failures}

"""The stream's reading of a changed sitemap index: its new or changed child sitemaps, in the same poll.

Batch reads an index's children in a second fetch round of its graph (``read.feeds.ReadFeeds``);
a stream polls inside one keyed DoFn, so ``PollFeeds`` fetches the children right after the index,
conditionally, and keeps their states in the index's ``FeedSchedule.children``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping

from apache_beam.pvalue import TaggedOutput

from newsbeam.schemas.records import DeadLetter, FeedEntry, FeedSpec, FeedState
from newsbeam.transforms.base import DEAD_LETTER, DeadLetterOutput, counter, dead_letter
from newsbeam.transforms.errors import FeedParseError, FetchError
from newsbeam.transforms.fetch.concurrent import fetch_many
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.fetch.politeness import PoliteClient
from newsbeam.transforms.read.feed_parser import ParsedFeed
from newsbeam.transforms.read.feeds import FEED_ACCEPT, FeedStateOutput, parse_fetched, sitemap_children, skipped_items
from newsbeam.transforms.read.feeds import state_after as _state_after

PolledChildren = Generator[FeedEntry | DeadLetterOutput | FeedStateOutput, None, dict[str, FeedState]]


def poll_children(
    client: PoliteClient, http: HttpConfig, index: FeedSpec, parsed: ParsedFeed, known: Mapping[str, FeedState]
) -> PolledChildren:
    """Fetch and parse the index's children that changed since ``known``; yields entries, dead letters and
    the children's states, and returns the children's states to keep."""
    children, errors = sitemap_children(index, parsed, known, nested=False)
    for input_id, error in errors:
        yield _dead(dead_letter("feeds", error, input_id))
    validators = {
        child.url: (child.state.etag, child.state.last_modified)
        for child in children
        if child.state is not None and (child.state.etag or child.state.last_modified)
    }
    outcomes = fetch_many(
        client,
        [child.url for child in children],
        max_workers=http.max_workers,
        per_host=http.per_host,
        accept=FEED_ACCEPT,
        validators=validators,
    )
    states = dict(known)
    for child, (_, outcome) in zip(children, outcomes, strict=True):
        counter("feeds_polled").inc()
        if isinstance(outcome, FetchError):
            counter("feeds_failed").inc()
            yield _dead(dead_letter("feeds", outcome, child.url))
            state = _state_after(child, None, outcome)
        else:
            parsed_child = parse_fetched(child, outcome)
            if isinstance(parsed_child, FeedParseError):
                yield _dead(dead_letter("feeds", parsed_child, child.url, outcome.body[:600]))
                state = _state_after(child, outcome, parsed_child)
            else:
                state = _state_after(child, outcome, None, len(parsed_child.entries) if parsed_child else None)
            if isinstance(parsed_child, ParsedFeed):
                yield from parsed_child.entries
                _, nested = sitemap_children(child, parsed_child, {}, nested=True)
                for input_id, error in [*skipped_items(child, parsed_child), *nested]:
                    yield _dead(dead_letter("feeds", error, input_id))
        states[child.url] = state.value
        yield state
    return states


def _dead(letter: DeadLetter) -> DeadLetterOutput:
    counter("dead_letters").inc()
    return TaggedOutput(DEAD_LETTER, letter)

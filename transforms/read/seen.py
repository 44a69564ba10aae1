"""Incremental runs: entries (and ``--input`` pages) whose URL the lake already has are skipped.

The set of seen canonical URLs comes from ``_state/seen`` (``transforms.lake.state``), which
is published together with the data, so "seen" always means "in the lake".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TypeVar

import apache_beam as beam

from newsbeam.schemas.records import FeedEntry, Page
from newsbeam.transforms.base import counter
from newsbeam.transforms.dedup.keys import canonical_url

EntryOrPage = TypeVar("EntryOrPage", FeedEntry, Page)
"""What goes in comes out: feed entries stay entries, pages stay pages (the type check binds it)."""


def is_new(element: FeedEntry | Page, seen_urls: Collection[str]) -> bool:
    """True when the entry's or page's canonical URL is not yet in the lake (counted when it is)."""
    url = element.link if isinstance(element, FeedEntry) else element.url
    if canonical_url(url) in seen_urls:
        counter("entries_already_seen").inc()
        return False
    return True


class _DropSeen(beam.DoFn):  # type: ignore[misc]
    def __init__(self, load_seen_urls: Callable[[], Collection[str]]) -> None:
        self.load_seen_urls = load_seen_urls
        self.seen_urls: Collection[str] = frozenset()

    def setup(self) -> None:
        self.seen_urls = self.load_seen_urls()

    def process(self, element: EntryOrPage) -> Iterator[EntryOrPage]:
        if is_new(element, self.seen_urls):
            yield element


class SkipSeen(beam.PTransform):  # type: ignore[misc]
    """Feed entries or pages in; those not yet in the lake out.

    ``load_seen_urls`` (e.g. ``functools.partial(load_seen_urls, output)``) is called once per
    worker in ``setup``: a lake's seen set grows with every run, and pickled into the pipeline
    graph it cost seconds per run at 100k articles.
    """

    def __init__(self, load_seen_urls: Callable[[], Collection[str]]) -> None:
        super().__init__()
        self.load_seen_urls = load_seen_urls

    def expand(self, entries: beam.PCollection) -> beam.PCollection:
        return entries | "DropSeen" >> beam.ParDo(_DropSeen(self.load_seen_urls))

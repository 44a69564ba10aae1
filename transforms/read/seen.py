"""Incremental runs: entries (and ``--input`` pages) whose URL the lake already has are skipped.

The set of seen canonical URLs comes from ``_state/seen`` (``transforms.lake.state``), which
is published together with the data, so "seen" always means "in the lake".
"""

from __future__ import annotations

from collections.abc import Collection

import apache_beam as beam

from schemas.records import FeedEntry, Page
from transforms.base import counter
from transforms.dedup.keys import canonical_url


def is_new(element: FeedEntry | Page, seen_urls: Collection[str]) -> bool:
    """True when the entry's or page's canonical URL is not yet in the lake (counted when it is)."""
    url = element.link if isinstance(element, FeedEntry) else element.url
    if canonical_url(url) in seen_urls:
        counter("entries_already_seen").inc()
        return False
    return True


class SkipSeen(beam.PTransform):  # type: ignore[misc]
    """Feed entries or pages in; those not yet in the lake out."""

    def __init__(self, seen_urls: Collection[str]) -> None:
        super().__init__()
        self.seen_urls = frozenset(seen_urls)

    def expand(self, entries: beam.PCollection) -> beam.PCollection:
        return entries | "DropSeen" >> beam.Filter(is_new, self.seen_urls)

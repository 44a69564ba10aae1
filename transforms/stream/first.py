"""Exact dedup as keyed state: the first entry or article under a key wins, later ones are copies.

Batch groups a run's articles and keeps the best of each group (``transforms.dedup.exact``). A
stream cannot wait for the group, so here the *first* arrival under a key is kept, and later
arrivals become ``Duplicate`` rows pointing at it, as they would against an earlier run:

* ``FirstEntry`` keyed by the entry's canonical URL: an entry seen before is not fetched again
  (batch's ``SkipSeen``), and an entry published longer ago than the horizon is not taken at all: its
  key's state may have expired while its feed still lists it, and it would be written twice;
* ``FirstArticle`` keyed by the article's canonical URL (the page's own canonical link may
  differ from the feed's), then by content hash.

Each key's state is the kept article's (id, URL) and an expiry timer at ``horizon`` after it
was set, so state follows the horizon, not the stream's age. What the lake already held when the
stream started is looked up in the lake's ``_state/seen`` (read once per worker process through
Beam's ``Shared``, not per DoFn instance); everything since is in state.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Timestamp

from newsbeam.schemas.records import Article, FeedEntry
from newsbeam.transforms.base import counter
from newsbeam.transforms.dedup.exact import DuplicateOutput, as_duplicate, duplicate_output
from newsbeam.transforms.dedup.keys import canonical_url
from newsbeam.transforms.lake.state import SeenArticle, SeenState

DEFAULT_HORIZON_SECONDS = 7 * 24 * 3600.0


class _Lookup:
    """A weak-referenceable holder (what ``Shared`` requires) for the lake's seen state."""

    def __init__(self, value: Any) -> None:
        self.value = value


def entry_key(entry: FeedEntry) -> tuple[str, FeedEntry]:
    return canonical_url(entry.link), entry


def url_key(article: Article) -> tuple[str, Article]:
    return article.canonical_url, article


def text_key(article: Article) -> tuple[str, Article]:
    return article.content_hash, article


def too_old(entry: FeedEntry, now: float, horizon: float) -> bool:
    """An entry published longer ago than the horizon (its key's state may be gone): not ingested."""
    return entry.published is not None and entry.published.timestamp() < now - horizon


class FirstEntry(beam.DoFn):  # type: ignore[misc]
    """``(canonical URL, entry)`` in; the entry out only the first time its URL is met."""

    SEEN = ReadModifyWriteStateSpec("seen", PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, load_seen_urls: Callable[[], Collection[str]], horizon: float = DEFAULT_HORIZON_SECONDS):
        self.load_seen_urls = load_seen_urls
        self.horizon = horizon
        self.shared = Shared()
        self.lake: Collection[str] = frozenset()

    def setup(self) -> None:
        self.lake = self.shared.acquire(lambda: _Lookup(self.load_seen_urls()), tag="seen_urls").value

    def process(
        self,
        element: tuple[str, FeedEntry],
        seen: Any = beam.DoFn.StateParam(SEEN),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[FeedEntry]:
        key, entry = element
        if key in self.lake or seen.read():
            counter("entries_already_seen").inc()
            return
        if too_old(entry, time.time(), self.horizon):
            # Its seen-state may have expired while the feed still lists it: older than the horizon is
            # old news to a stream, and letting it in again would write it twice.
            counter("entries_too_old").inc()
            return
        seen.write(True)
        expiry.set(Timestamp.of(time.time() + self.horizon))
        counter("entries_new").inc()
        yield entry

    @on_timer(EXPIRY)
    def expire(self, seen: Any = beam.DoFn.StateParam(SEEN)) -> None:
        seen.clear()


def against_first(article: Article, kind: str, earlier: SeenArticle | None) -> Iterator[Article | DuplicateOutput]:
    """``article`` itself if nothing came first, else its ``Duplicate`` row pointing at what did."""
    if earlier is None:
        yield article
        return
    counter("duplicates").inc()
    counter(f"duplicates_{kind}").inc()
    article_id, article_url = earlier
    duplicate = as_duplicate(article, article, kind)
    yield duplicate_output(dataclasses.replace(duplicate, canonical_article_id=article_id, canonical_url=article_url))


class FirstArticle(beam.DoFn):  # type: ignore[misc]
    """``(key, article)`` in; the first article of the key out, later ones as ``duplicates``.

    ``kind`` is ``exact_url`` (keyed by canonical URL) or ``exact_text`` (by content hash).
    """

    KEPT = ReadModifyWriteStateSpec("kept", PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, kind: str, load_seen: Callable[[], SeenState], horizon: float = DEFAULT_HORIZON_SECONDS) -> None:
        self.kind = kind
        self.load_seen = load_seen
        self.horizon = horizon
        self.shared = Shared()
        self.lake: Mapping[str, SeenArticle] = {}

    def setup(self) -> None:
        state: SeenState = self.shared.acquire(lambda: _Lookup(self.load_seen()), tag="seen").value
        self.lake = state.urls if self.kind == "exact_url" else state.hashes

    def process(
        self,
        element: tuple[str, Article],
        kept: Any = beam.DoFn.StateParam(KEPT),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[Article | DuplicateOutput]:
        key, article = element
        earlier = self.lake.get(key) or kept.read()
        if earlier is None:
            kept.write((article.article_id, article.url))
            expiry.set(Timestamp.of(time.time() + self.horizon))
        # Anything after the first is a copy, its own URL again included: two URLs with one canonical
        # URL share an article id, and letting both through would leave one row for two inputs.
        yield from against_first(article, self.kind, earlier)

    @on_timer(EXPIRY)
    def expire(self, kept: Any = beam.DoFn.StateParam(KEPT)) -> None:
        kept.clear()

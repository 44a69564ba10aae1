"""Near-duplicates as keyed state: LSH band buckets, then one decision per article.

The batch step joins a run's verified pairs in one global union-find; a stream cannot. Here:

1. ``band_queries``: an article's MinHash signature is cut into its 42 band keys, and the
   article goes to each, stamped with its arrival time;
2. ``BandBuckets`` is keyed by band key: its state is the bucket, the recent articles that fell
   into it (at most ``MAX_BUCKET``, none older than the horizon, cleared by an expiry timer). It
   answers with the members that arrived *before* the query (a total order by (stamp, id), so
   two copies that meet in several buckets cannot each call the other the original), with their
   estimated Jaccard, and adds the query to the bucket;
3. ``Decide`` is keyed by article id: it waits for the article and its 42 answers, adds the
   candidates of the lake's own index (what earlier runs wrote, read once per worker process),
   and keeps the article or makes it a ``near`` duplicate of the earliest verified match, by the
   same rule as against earlier runs (``best_previous_match``).

Unlike batch, matches are not transitive: a copy of a copy points at the copy it matched, which
itself points at the original in ``duplicates``. A pair that reached every shared bucket in
opposite orders is kept twice (a missed merge, never a wrong one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import apache_beam as beam
import numpy as np
from apache_beam.coders import PickleCoder
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Timestamp

from newsbeam.schemas.records import Article
from newsbeam.transforms.base import counter
from newsbeam.transforms.dedup.exact import DuplicateOutput, duplicate_output
from newsbeam.transforms.dedup.minhash import (
    BANDS,
    DEFAULT_HORIZON,
    Candidate,
    LshIndex,
    band_hashes,
    estimated_jaccard,
    is_empty,
)
from newsbeam.transforms.dedup.near import (
    article_sketch,
    best_previous_match,
    index_time,
    previous_duplicate,
    with_sketch,
)

MAX_BUCKET = 64
"""Members a bucket keeps (newest first): a boilerplate band shared by thousands stays bounded."""


@dataclass(frozen=True)
class BandQuery:
    article_id: str
    stamp: float
    """Arrival time at the near-dup step: what "earlier" means inside the stream."""
    signature: bytes
    """32-bit MinHash values, little-endian."""
    size: int
    time: datetime
    url: str


QUERIES: Final = "queries"
QueryOutput = TaggedOutput[Literal["queries"], tuple[str, BandQuery]]


@dataclass(frozen=True)
class BandAnswer:
    article_id: str
    candidates: tuple[Candidate, ...]


def band_queries(article: Article) -> Iterator[tuple[str, Article] | QueryOutput]:
    """The article under its own id (for ``Decide``) and, if it has words, one query per band key."""
    sketch = article_sketch(article)
    yield article.article_id, with_sketch(article, sketch)
    if is_empty(sketch.sig):
        return
    query = BandQuery(
        article.article_id,
        time.time(),
        sketch.sig.astype("<u4").tobytes(),
        sketch.size,
        index_time(article),
        article.canonical_url,
    )
    for band, value in enumerate(band_hashes(sketch.sig).tolist()):
        output: QueryOutput = TaggedOutput(QUERIES, (f"{band}:{value:x}", query))
        yield output


def answer(query: BandQuery, members: list[BandQuery]) -> BandAnswer:
    """The bucket's members that arrived before ``query``, with their estimated Jaccard (pure)."""
    mine = np.frombuffer(query.signature, dtype="<u4")
    order = (query.stamp, query.article_id)
    found = tuple(
        Candidate(m.article_id, estimated_jaccard(mine, np.frombuffer(m.signature, dtype="<u4")), m.size, m.time, m.url)
        for m in members
        if (m.stamp, m.article_id) < order
    )
    return BandAnswer(query.article_id, found)


def admitted(members: list[BandQuery], query: BandQuery, horizon: timedelta) -> list[BandQuery]:
    """The bucket after ``query`` joined it: within the horizon, newest ``MAX_BUCKET`` (pure)."""
    cutoff = max([query.time, *(m.time for m in members)]) - horizon
    kept = [m for m in members if m.time >= cutoff and m.article_id != query.article_id] + [query]
    kept.sort(key=lambda m: (m.stamp, m.article_id))
    return kept[-MAX_BUCKET:]


class BandBuckets(beam.DoFn):  # type: ignore[misc]
    """``(band key, BandQuery)`` in; one ``(article id, BandAnswer)`` out per query."""

    MEMBERS = ReadModifyWriteStateSpec("members", PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, horizon: timedelta = DEFAULT_HORIZON) -> None:
        self.horizon = horizon

    def process(
        self,
        element: tuple[str, BandQuery],
        members_state: Any = beam.DoFn.StateParam(MEMBERS),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, BandAnswer]]:
        query = element[1]
        members: list[BandQuery] = members_state.read() or []
        yield query.article_id, answer(query, members)
        members_state.write(admitted(members, query, self.horizon))
        expiry.set(Timestamp.of(time.time() + self.horizon.total_seconds()))

    @on_timer(EXPIRY)
    def expire(self, members_state: Any = beam.DoFn.StateParam(MEMBERS)) -> None:
        members_state.clear()


class _Holder:
    def __init__(self, value: Any) -> None:
        self.value = value


def decision(article: Article, answers: list[BandAnswer], lake: LshIndex | None) -> Iterator[Article | DuplicateOutput]:
    """Keep ``article`` or make it a near duplicate of the earliest verified earlier match (pure)."""
    sketch = article_sketch(article)
    candidates = [c for a in answers for c in a.candidates]
    if lake is not None and not is_empty(sketch.sig):
        candidates.extend(lake.query(sketch.sig))
    match = best_previous_match(candidates, sketch.size) if candidates else None
    if match is None:
        yield article
        return
    candidate, similarity = match
    counter("duplicates").inc()
    counter("duplicates_near").inc()
    yield duplicate_output(previous_duplicate(article, candidate, similarity, candidate.url))


class Decide(beam.DoFn):  # type: ignore[misc]
    """``(article id, Article | BandAnswer)`` in; once all answers are in, the article or its duplicate."""

    PARTS = BagStateSpec("parts", PickleCoder())
    COUNT = ReadModifyWriteStateSpec("count", PickleCoder())

    def __init__(self, load_index: Callable[[], LshIndex]) -> None:
        self.load_index = load_index
        self.shared = Shared()
        self.lake: LshIndex | None = None

    def setup(self) -> None:
        self.lake = self.shared.acquire(lambda: _Holder(self.load_index()), tag="near_index").value

    def process(
        self,
        element: tuple[str, Article | BandAnswer],
        parts: Any = beam.DoFn.StateParam(PARTS),
        count: Any = beam.DoFn.StateParam(COUNT),
    ) -> Iterator[Article | DuplicateOutput]:
        parts.add(element[1])
        seen = (count.read() or 0) + 1
        items = list(parts.read()) if seen > BANDS or isinstance(element[1], Article) else []
        article = next((i for i in items if isinstance(i, Article)), None)
        expected = 1 + (0 if article is None or is_empty(article_sketch(article).sig) else BANDS)
        if article is not None and seen >= expected:
            parts.clear()
            count.clear()
            yield from decision(article, [i for i in items if isinstance(i, BandAnswer)], self.lake)
            return
        count.write(seen)

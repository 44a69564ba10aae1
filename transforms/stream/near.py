"""Near-duplicates as keyed state: LSH band buckets hold ids, each signature is held once.

The batch step joins a run's verified pairs in one global union-find; a stream cannot. Here, in
four keyed steps (``NearDuplicates`` wires them):

1. ``band_queries``: an article goes to its 42 LSH band keys as a small ``Member`` (id, fetch
   time as its arrival stamp, index time), its signature goes once to ``Signatures`` under its own
   id, and the article itself to ``Gather``.
2. ``BandBuckets`` (keyed by band key): the bucket is the recent members (at most ``MAX_BUCKET``,
   none older than the horizon, cleared by an expiry timer). It answers with the members that arrived
   *before* the query (a total order by (stamp, id), so two copies that meet in several buckets
   cannot each call the other the original), then adds the query.
3. ``Gather`` (keyed by article): once the article and its 42 answers are in, it asks
   ``Signatures`` about each distinct earlier candidate, and tells ``Decide`` how many answers to wait for.
4. ``Signatures`` (keyed by article): holds the article's signature (expiring at the horizon) and
   answers each question with the estimated Jaccard of the two signatures; a question that arrives
   before the signature it needs waits in a bag.
5. ``Decide`` (keyed by article): with every answer in, plus the candidates of the lake's own index
   (what earlier runs wrote, read once per worker process), keeps the article or makes it a ``near``
   duplicate of the earliest verified match, by the rule batch uses against earlier runs.

A signature is stored once per article (about 800 bytes encoded) and a bucket entry is a few dozen
bytes, so the stream's keyed state is about 4 KB per article in all (``bench/stream_state.py``), where
copying the signature into every bucket cost 34 KB. Unlike batch, matches are not transitive: a copy
of a copy points at the copy it matched, which itself points at the original in ``duplicates``. A pair
that reached every shared bucket in opposite orders is kept twice (a missed merge, never a wrong one).
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
from newsbeam.transforms.base import MAIN, TaggedTransform, counter
from newsbeam.transforms.dedup.exact import DUPLICATES, DuplicateOutput, duplicate_output
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

Member = tuple[str, float, float]
"""(article id, arrival stamp, index time as epoch seconds): one bucket entry."""


@dataclass(frozen=True)
class Signature:
    """An article's MinHash signature and what a match needs of it, held once under its id."""

    signature: bytes
    """32-bit MinHash values, little-endian."""
    size: int
    time: datetime
    url: str


@dataclass(frozen=True)
class Question:
    """``asker`` wants its estimated Jaccard with the article whose key receives this."""

    asker: str
    signature: bytes


@dataclass(frozen=True)
class Answer:
    """What ``Gather`` or ``Signatures`` tell ``Decide``: a candidate, or how many candidates to expect."""

    candidate: Candidate | None = None
    expect: int | None = None


BUCKETS: Final = "buckets"
SIGNATURES: Final = "signatures"
BucketOutput = TaggedOutput[Literal["buckets"], tuple[str, tuple[str, Member]]]
SignatureOutput = TaggedOutput[Literal["signatures"], tuple[str, Signature]]
QuestionOutput = TaggedOutput[Literal["questions"], tuple[str, Question]]


def band_queries(article: Article) -> Iterator[tuple[str, Article] | BucketOutput | SignatureOutput]:
    """The article to ``Gather``; if it has words, a member to each band key and its signature to ``Signatures``."""
    sketch = article_sketch(article)
    yield article.article_id, with_sketch(article, sketch)
    if is_empty(sketch.sig):
        return
    # "Earlier" is the fetch time the article carries, not the moment it reaches this step: keyed steps
    # upstream may hand articles on in any order, and the data keeps the order in which they arrived.
    member: Member = (article.article_id, article.fetched_at.timestamp(), index_time(article).timestamp())
    for band, value in enumerate(band_hashes(sketch.sig).tolist()):
        bucket: BucketOutput = TaggedOutput(BUCKETS, (f"{band}:{value:x}", (article.article_id, member)))
        yield bucket
    stored = Signature(sketch.sig.astype("<u4").tobytes(), sketch.size, index_time(article), article.canonical_url)
    signature: SignatureOutput = TaggedOutput(SIGNATURES, (article.article_id, stored))
    yield signature


def earlier(query: Member, members: list[Member]) -> tuple[str, ...]:
    """Ids of the bucket's members that arrived before ``query`` (pure)."""
    return tuple(m[0] for m in members if (m[1], m[0]) < (query[1], query[0]))


def admitted(members: list[Member], query: Member, horizon: timedelta) -> list[Member]:
    """The bucket after ``query`` joined it: within the horizon, newest ``MAX_BUCKET`` (pure)."""
    cutoff = max([query[2], *(m[2] for m in members)]) - horizon.total_seconds()
    kept = [m for m in members if m[2] >= cutoff and m[0] != query[0]] + [query]
    kept.sort(key=lambda m: (m[1], m[0]))
    return kept[-MAX_BUCKET:]


class BandBuckets(beam.DoFn):  # type: ignore[misc]
    """``(band key, (article id, Member))`` in; ``(article id, earlier member ids)`` out."""

    MEMBERS = ReadModifyWriteStateSpec("members", PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, horizon: timedelta = DEFAULT_HORIZON) -> None:
        self.horizon = horizon

    def process(
        self,
        element: tuple[str, tuple[str, Member]],
        members_state: Any = beam.DoFn.StateParam(MEMBERS),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, tuple[str, ...]]]:
        article_id, query = element[1]
        members: list[Member] = members_state.read() or []
        yield article_id, earlier(query, members)
        members_state.write(admitted(members, query, self.horizon))
        expiry.set(Timestamp.of(time.time() + self.horizon.total_seconds()))

    @on_timer(EXPIRY)
    def expire(self, members_state: Any = beam.DoFn.StateParam(MEMBERS)) -> None:
        members_state.clear()


class Gather(beam.DoFn):  # type: ignore[misc]
    """``(article id, Article | earlier ids)`` in; questions to ``Signatures`` and the count to ``Decide``."""

    PARTS = BagStateSpec("parts", PickleCoder())
    COUNT = ReadModifyWriteStateSpec("count", PickleCoder())

    def process(
        self,
        element: tuple[str, Article | tuple[str, ...]],
        parts: Any = beam.DoFn.StateParam(PARTS),
        count: Any = beam.DoFn.StateParam(COUNT),
    ) -> Iterator[tuple[str, Article | Answer] | QuestionOutput]:
        parts.add(element[1])
        seen = (count.read() or 0) + 1
        items = list(parts.read()) if seen > BANDS or isinstance(element[1], Article) else []
        article = next((i for i in items if isinstance(i, Article)), None)
        if article is None:
            count.write(seen)
            return
        sketch = article_sketch(article)
        if not is_empty(sketch.sig) and seen < 1 + BANDS:
            count.write(seen)
            return
        parts.clear()
        count.clear()
        candidates = sorted({c for i in items if isinstance(i, tuple) for c in i})
        yield article.article_id, article
        yield article.article_id, Answer(expect=len(candidates))
        question = Question(article.article_id, sketch.sig.astype("<u4").tobytes())
        for candidate in candidates:
            output: QuestionOutput = TaggedOutput("questions", (candidate, question))
            yield output


def reply(question: Question, article_id: str, stored: Signature) -> tuple[str, Answer]:
    """``question``'s answer from the stored signature of ``article_id`` (pure)."""
    jaccard = estimated_jaccard(
        np.frombuffer(question.signature, dtype="<u4"), np.frombuffer(stored.signature, dtype="<u4")
    )
    return question.asker, Answer(candidate=Candidate(article_id, jaccard, stored.size, stored.time, stored.url))


class Signatures(beam.DoFn):  # type: ignore[misc]
    """``(article id, Signature | Question)`` in; ``(asker, Answer)`` out, once the signature is known."""

    STORED = ReadModifyWriteStateSpec("signature", PickleCoder())
    WAITING = BagStateSpec("waiting", PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, horizon: timedelta = DEFAULT_HORIZON) -> None:
        self.horizon = horizon

    def process(
        self,
        element: tuple[str, Signature | Question],
        stored_state: Any = beam.DoFn.StateParam(STORED),
        waiting: Any = beam.DoFn.StateParam(WAITING),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, Answer]]:
        article_id, item = element
        if isinstance(item, Signature):
            stored_state.write(item)
            expiry.set(Timestamp.of(time.time() + self.horizon.total_seconds()))
            for question in waiting.read():
                yield reply(question, article_id, item)
            waiting.clear()
            return
        stored = stored_state.read()
        if stored is None:
            waiting.add(item)  # its signature is on its way (sent together with its bucket entries)
            return
        yield reply(item, article_id, stored)

    @on_timer(EXPIRY)
    def expire(
        self, stored_state: Any = beam.DoFn.StateParam(STORED), waiting: Any = beam.DoFn.StateParam(WAITING)
    ) -> None:
        stored_state.clear()
        waiting.clear()


class _Holder:
    def __init__(self, value: Any) -> None:
        self.value = value


def decision(
    article: Article, candidates: list[Candidate], lake: LshIndex | None
) -> Iterator[Article | DuplicateOutput]:
    """Keep ``article`` or make it a near duplicate of the earliest verified earlier match (pure)."""
    sketch = article_sketch(article)
    found = list(candidates)
    if lake is not None and not is_empty(sketch.sig):
        found.extend(lake.query(sketch.sig))
    match = best_previous_match(found, sketch.size) if found else None
    if match is None:
        yield article
        return
    candidate, similarity = match
    counter("duplicates").inc()
    counter("duplicates_near").inc()
    yield duplicate_output(previous_duplicate(article, candidate, similarity, candidate.url))


class Decide(beam.DoFn):  # type: ignore[misc]
    """``(article id, Article | Answer)`` in; once every answer is in, the article or its duplicate."""

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
        element: tuple[str, Article | Answer],
        parts: Any = beam.DoFn.StateParam(PARTS),
        count: Any = beam.DoFn.StateParam(COUNT),
    ) -> Iterator[Article | DuplicateOutput]:
        parts.add(element[1])
        seen = (count.read() or 0) + 1
        item = element[1]
        ready = isinstance(item, Article) or (isinstance(item, Answer) and item.expect is not None) or seen > 2
        items = list(parts.read()) if ready else []
        article = next((i for i in items if isinstance(i, Article)), None)
        expect = next((i.expect for i in items if isinstance(i, Answer) and i.expect is not None), None)
        if article is None or expect is None or seen < 2 + expect:
            count.write(seen)
            return
        parts.clear()
        count.clear()
        answers = [i.candidate for i in items if isinstance(i, Answer) and i.candidate is not None]
        yield from decision(article, answers, self.lake)


class NearDuplicates(TaggedTransform):
    """Articles in; ``main`` articles that are no near copy of an earlier one, ``duplicates`` the copies."""

    def __init__(self, load_index: Callable[[], LshIndex], horizon: timedelta = DEFAULT_HORIZON) -> None:
        super().__init__()
        self.load_index = load_index
        self.horizon = horizon

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        routed = articles | "BandQueries" >> beam.FlatMap(band_queries).with_outputs(BUCKETS, SIGNATURES, main=MAIN)
        answers = routed[BUCKETS] | "BandBuckets" >> beam.ParDo(BandBuckets(self.horizon))
        gathered = (
            (routed[MAIN], answers)
            | "ArticlesAndBuckets" >> beam.Flatten().with_output_types(tuple[str, Article | tuple[str, ...]])
            | "Gather" >> beam.ParDo(Gather()).with_outputs("questions", main=MAIN)
        )
        replies = (
            (routed[SIGNATURES], gathered["questions"])
            | "SignaturesAndQuestions" >> beam.Flatten().with_output_types(tuple[str, Signature | Question])
            | "Signatures" >> beam.ParDo(Signatures(self.horizon))
        )
        decided = (
            (gathered[MAIN], replies)
            | "ArticlesAndAnswers" >> beam.Flatten().with_output_types(tuple[str, Article | Answer])
            | "Decide" >> beam.ParDo(Decide(self.load_index)).with_outputs(DUPLICATES, main=MAIN)
        )
        return {MAIN: decided[MAIN], DUPLICATES: decided[DUPLICATES]}

"""The messages of the stream's near-duplicate steps (``near.py``) and the pure functions on them.

Kept apart from the DoFns so each can be tested without a runner, and so ``bench/stream_state.py``
can measure the state they make.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import numpy as np
from apache_beam.pvalue import TaggedOutput

from newsbeam.schemas.records import Article
from newsbeam.transforms.dedup.minhash import Candidate, band_hashes, estimated_jaccard, is_empty
from newsbeam.transforms.dedup.near import article_sketch, index_time, with_sketch

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
class Forward:
    """Tell article ``to`` (later by fetch time, already in a shared bucket) about the key's article."""

    to: str


@dataclass(frozen=True)
class Late:
    """An earlier article (``article_id`` and its stored signature) that reached a shared bucket late."""

    article_id: str
    stored: Signature


@dataclass(frozen=True)
class Answer:
    """What ``Gather`` or ``Signatures`` tell ``Decide``: a candidate, or how many candidates to expect."""

    candidate: Candidate | None = None
    expect: int | None = None


BUCKETS: Final = "buckets"
SIGNATURES: Final = "signatures"
FORWARDS: Final = "forwards"
DEFAULT_SETTLE = 0.5
"""Seconds after an article's fetch until ``Decide`` may decide it: time for earlier copies delivered out of order."""
STRAY_AFTER = 120.0
"""Seconds a ``Late`` waits for its article in ``Decide`` before it is dropped as arriving after it."""
BucketOutput = TaggedOutput[Literal["buckets"], tuple[str, tuple[str, Member]]]
SignatureOutput = TaggedOutput[Literal["signatures"], tuple[str, Signature]]
QuestionOutput = TaggedOutput[Literal["questions"], tuple[str, Question]]
ForwardOutput = TaggedOutput[Literal["forwards"], tuple[str, Forward]]


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


def later(query: Member, members: list[Member]) -> tuple[str, ...]:
    """Ids of the bucket's members that came after ``query`` by fetch time but reached the bucket first (pure)."""
    return tuple(m[0] for m in members if (m[1], m[0]) > (query[1], query[0]))


def admitted(members: list[Member], query: Member, horizon: timedelta) -> list[Member]:
    """The bucket after ``query`` joined it: within the horizon, newest ``MAX_BUCKET`` (pure)."""
    cutoff = max([query[2], *(m[2] for m in members)]) - horizon.total_seconds()
    kept = [m for m in members if m[2] >= cutoff and m[0] != query[0]] + [query]
    kept.sort(key=lambda m: (m[1], m[0]))
    return kept[-MAX_BUCKET:]


def reply(question: Question, article_id: str, stored: Signature) -> tuple[str, Answer]:
    """``question``'s answer from the stored signature of ``article_id`` (pure)."""
    jaccard = estimated_jaccard(
        np.frombuffer(question.signature, dtype="<u4"), np.frombuffer(stored.signature, dtype="<u4")
    )
    return question.asker, Answer(candidate=Candidate(article_id, jaccard, stored.size, stored.time, stored.url))


def respond(item: Question | Forward, article_id: str, stored: Signature) -> tuple[str, Answer | Late]:
    """What ``Signatures`` sends for a question or a forward about ``article_id`` (pure)."""
    if isinstance(item, Forward):
        return item.to, Late(article_id, stored)
    return reply(item, article_id, stored)


def late_candidate(article: Article, late: Late) -> Candidate:
    """``late`` as a candidate of ``article``, scored against the sketch the article carries (pure)."""
    jaccard = estimated_jaccard(article_sketch(article).sig, np.frombuffer(late.stored.signature, dtype="<u4"))
    return Candidate(late.article_id, jaccard, late.stored.size, late.stored.time, late.stored.url)


DecideItem = Article | Answer | Late


def complete(items: list[DecideItem], seen: int) -> Article | None:
    """The article once it and every answer it expects are among ``seen`` items, else ``None`` (pure)."""
    article = next((i for i in items if isinstance(i, Article)), None)
    expect = next((i.expect for i in items if isinstance(i, Answer) and i.expect is not None), None)
    if article is None or expect is None or seen < 2 + expect:
        return None
    return article

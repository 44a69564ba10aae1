"""Near-duplicates as keyed state: LSH band buckets hold ids, each signature is held once.

The batch step joins a run's verified pairs in one global union-find; a stream cannot. Here, in
four keyed steps (``NearDuplicates`` wires them):

1. ``band_queries``: an article goes to its 42 LSH band keys as a small ``Member`` (id, fetch
   time as its arrival stamp, index time), its signature goes once to ``Signatures`` under its own
   id, and the article itself to ``Gather``.
2. ``BandBuckets`` (keyed by band key): the bucket is the recent members (at most ``MAX_BUCKET``,
   none older than the horizon, cleared by an expiry timer). It answers with the members that arrived
   *before* the query (a total order by (stamp, id), so two copies that meet in several buckets
   cannot each call the other the original), then adds the query. Members already in the bucket
   that are *later* by that order (keyed steps may hand the query on after them) are sent a
   ``Forward`` to ``Signatures``, so they still hear of the earlier article.
3. ``Gather`` (keyed by article): once the article and its 42 answers are in, it asks
   ``Signatures`` about each distinct earlier candidate, and tells ``Decide`` how many answers to wait for.
4. ``Signatures`` (keyed by article): holds the article's signature (expiring at the horizon) and
   answers each question with the estimated Jaccard of the two signatures, and each ``Forward`` with
   the signature itself (a ``Late`` to the later article); what arrives before the signature it needs
   waits in a bag.
5. ``Decide`` (keyed by article): waits until ``settle`` seconds after the article was fetched (a processing-time
   timer) and until every answer is in; then, with the answers, any ``Late`` earlier articles and the
   candidates of the lake's own index (what earlier runs wrote, read once per worker process), keeps
   the article or makes it a ``near`` duplicate of the earliest verified match, by the rule batch uses
   against earlier runs.

A signature is stored once per article (about 800 bytes encoded) and a bucket entry is a few dozen
bytes, so the stream's keyed state is about 4 KB per article in all (``bench/stream_state.py``), where
copying the signature into every bucket cost 34 KB. Unlike batch, matches are not transitive: a copy
of a copy points at the copy it matched, which itself points at the original in ``duplicates``.

Which of two copies is the original is decided by fetch time, not by the order in which keyed steps
happen to deliver them: Prism (like any runner) may hand a bucket the later copy first. The settle
delay is counted from the later copy's fetch, so the time it took to reach ``Decide`` is part of it and
adds no latency. It makes that order irrelevant as long as the earlier copy reaches the bucket less than
``settle`` seconds after the later copy was fetched; a ``Late`` that comes after the decision is counted
(``near_late``) and the pair stays kept twice (a missed merge, never a wrong one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Timestamp

from newsbeam.schemas.records import Article
from newsbeam.transforms.base import MAIN, TaggedTransform, counter
from newsbeam.transforms.dedup.exact import DUPLICATES, DuplicateOutput, duplicate_output
from newsbeam.transforms.dedup.minhash import BANDS, DEFAULT_HORIZON, Candidate, LshIndex, is_empty
from newsbeam.transforms.dedup.near import article_sketch, best_previous_match, previous_duplicate
from newsbeam.transforms.stream.near_messages import (
    BUCKETS,
    DEFAULT_SETTLE,
    FORWARDS,
    SIGNATURES,
    STRAY_AFTER,
    Answer,
    DecideItem,
    Forward,
    ForwardOutput,
    Late,
    Member,
    Question,
    QuestionOutput,
    Signature,
    admitted,
    band_queries,
    complete,
    earlier,
    late_candidate,
    later,
    respond,
)


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
    ) -> Iterator[tuple[str, tuple[str, ...]] | ForwardOutput]:
        article_id, query = element[1]
        members: list[Member] = members_state.read() or []
        yield article_id, earlier(query, members)
        for later_id in later(query, members):
            forward: ForwardOutput = TaggedOutput(FORWARDS, (article_id, Forward(later_id)))
            yield forward
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


class Signatures(beam.DoFn):  # type: ignore[misc]
    """``(article id, Signature | Question | Forward)`` in; ``(asker, Answer | Late)`` out.

    Answers wait until the key's own signature is known.
    """

    STORED = ReadModifyWriteStateSpec("signature", PickleCoder())
    WAITING = BagStateSpec("waiting", PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.REAL_TIME)

    def __init__(self, horizon: timedelta = DEFAULT_HORIZON) -> None:
        self.horizon = horizon

    def process(
        self,
        element: tuple[str, Signature | Question | Forward],
        stored_state: Any = beam.DoFn.StateParam(STORED),
        waiting: Any = beam.DoFn.StateParam(WAITING),
        expiry: Any = beam.DoFn.TimerParam(EXPIRY),
    ) -> Iterator[tuple[str, Answer | Late]]:
        article_id, item = element
        if isinstance(item, Signature):
            stored_state.write(item)
            expiry.set(Timestamp.of(time.time() + self.horizon.total_seconds()))
            for question in waiting.read():
                yield respond(question, article_id, item)
            waiting.clear()
            return
        stored = stored_state.read()
        if stored is None:
            waiting.add(item)  # its signature is on its way (sent together with its bucket entries)
            return
        yield respond(item, article_id, stored)

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
    """``(article id, Article | Answer | Late)`` in; the article or its duplicate out.

    It decides once ``settle`` seconds have passed since the article was fetched and every answer is in.

    ``count`` counts the article and its answers (not ``Late`` ones), so most elements need no bag read.
    """

    PARTS = BagStateSpec("parts", PickleCoder())
    COUNT = ReadModifyWriteStateSpec("count", PickleCoder())
    SETTLED = ReadModifyWriteStateSpec("settled", PickleCoder())
    SETTLE = TimerSpec("settle", TimeDomain.REAL_TIME)

    def __init__(self, load_index: Callable[[], LshIndex], settle: float = DEFAULT_SETTLE) -> None:
        self.load_index = load_index
        self.settle = settle
        self.shared = Shared()
        self.lake: LshIndex | None = None

    def setup(self) -> None:
        self.lake = self.shared.acquire(lambda: _Holder(self.load_index()), tag="near_index").value

    def process(
        self,
        element: tuple[str, DecideItem],
        parts: Any = beam.DoFn.StateParam(PARTS),
        count: Any = beam.DoFn.StateParam(COUNT),
        settled: Any = beam.DoFn.StateParam(SETTLED),
        timer: Any = beam.DoFn.TimerParam(SETTLE),
    ) -> Iterator[Article | DuplicateOutput]:
        item = element[1]
        parts.add(item)
        if isinstance(item, Late):
            if not any(isinstance(i, Article) for i in parts.read()):
                # Before its article (still in Gather), or after the decision: dropped if none comes.
                timer.set(Timestamp.of(time.time() + max(STRAY_AFTER, self.settle)))
            return
        if isinstance(item, Article):
            timer.set(Timestamp.of(max(time.time(), item.fetched_at.timestamp() + self.settle)))
        seen = (count.read() or 0) + 1
        ready = isinstance(item, Article) or (isinstance(item, Answer) and item.expect is not None) or seen > 2
        items = list(parts.read()) if ready else []
        article = complete(items, seen)
        if article is None or not settled.read():
            count.write(seen)
            return
        yield from self.finish(article, items, parts, count, settled)

    @on_timer(SETTLE)
    def settled_or_stray(
        self,
        parts: Any = beam.DoFn.StateParam(PARTS),
        count: Any = beam.DoFn.StateParam(COUNT),
        settled: Any = beam.DoFn.StateParam(SETTLED),
    ) -> Iterator[Article | DuplicateOutput]:
        items = list(parts.read())
        if not any(isinstance(i, Article) for i in items):
            counter("near_late").inc(sum(isinstance(i, Late) for i in items))
            parts.clear()
            count.clear()
            return
        article = complete(items, count.read() or 0)
        if article is None:
            settled.write(True)  # the last answer decides
            return
        yield from self.finish(article, items, parts, count, settled)

    def finish(
        self, article: Article, items: list[DecideItem], parts: Any, count: Any, settled: Any
    ) -> Iterator[Article | DuplicateOutput]:
        parts.clear()
        count.clear()
        settled.clear()
        answers = [i.candidate for i in items if isinstance(i, Answer) and i.candidate is not None]
        answers += [late_candidate(article, i) for i in items if isinstance(i, Late)]
        yield from decision(article, answers, self.lake)


class NearDuplicates(TaggedTransform):
    """Articles in; ``main`` articles that are no near copy of an earlier one, ``duplicates`` the copies."""

    def __init__(
        self, load_index: Callable[[], LshIndex], horizon: timedelta = DEFAULT_HORIZON, settle: float = DEFAULT_SETTLE
    ) -> None:
        super().__init__()
        self.load_index = load_index
        self.horizon = horizon
        self.settle = settle

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        routed = articles | "BandQueries" >> beam.FlatMap(band_queries).with_outputs(BUCKETS, SIGNATURES, main=MAIN)
        answers = routed[BUCKETS] | "BandBuckets" >> beam.ParDo(BandBuckets(self.horizon)).with_outputs(
            FORWARDS, main=MAIN
        )
        gathered = (
            (routed[MAIN], answers[MAIN])
            | "ArticlesAndBuckets" >> beam.Flatten().with_output_types(tuple[str, Article | tuple[str, ...]])
            | "Gather" >> beam.ParDo(Gather()).with_outputs("questions", main=MAIN)
        )
        replies = (
            (routed[SIGNATURES], gathered["questions"], answers[FORWARDS])
            | "SignaturesAndQuestions" >> beam.Flatten().with_output_types(tuple[str, Signature | Question | Forward])
            | "Signatures" >> beam.ParDo(Signatures(self.horizon))
        )
        decided = (
            (gathered[MAIN], replies)
            | "ArticlesAndAnswers" >> beam.Flatten().with_output_types(tuple[str, DecideItem])
            | "Decide" >> beam.ParDo(Decide(self.load_index, self.settle)).with_outputs(DUPLICATES, main=MAIN)
        )
        return {MAIN: decided[MAIN], DUPLICATES: decided[DUPLICATES]}

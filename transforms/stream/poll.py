"""The stream's source: the feed list re-read on every tick, each feed polled on its own schedule.

``FeedTicks`` turns Beam's ``PeriodicImpulse`` into ``(shard, feeds of that shard)`` every
``tick`` seconds. The list is re-read when its file changes, so feeds added to it start and
removed ones stop without a restart. ``PollFeeds`` is keyed by shard (a hash of the feed URL):
its state holds every feed's ``FeedSchedule`` (validators, health, next due time), and on each
tick it polls the feeds that are due, concurrently and politely (``fetch_many`` through one
``PoliteClient`` per worker, kept for the stream's life), parses them, and sets their next poll
from the feed's own signals (``transforms.read.schedule``).

The first poll of a feed after a (re)start is unconditional, although the lake holds its
validators: the stream commits a poll's feed state in the window where the poll happened, and
its entries possibly one window later (pages take time), so a kill between the two would let
a 304 hide entries that never reached the lake. One full fetch per feed per start pays for that.

With WebSub (``StreamWebSub``), each tick also carries the feeds pushed since (markers the driver's
callback writes): they are polled at once, whatever their schedule, and a poll that sees a hub
subscribes to it (``transforms.stream.websub``).
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from newsbeam.schemas.records import DeadLetter, FeedEntry, FeedSpec, FeedState
from newsbeam.transforms.base import DEAD_LETTER, MAIN, DeadLetterOutput, TaggedTransform, counter, dead_letter
from newsbeam.transforms.errors import FeedParseError, FetchError, NewsbeamError
from newsbeam.transforms.fetch.concurrent import fetch_many
from newsbeam.transforms.fetch.http import HttpClient, HttpConfig, HttpResponse, HttpxClient
from newsbeam.transforms.fetch.politeness import PoliteClient
from newsbeam.transforms.lake import storage
from newsbeam.transforms.read.feed_parser import ParsedFeed
from newsbeam.transforms.read.feeds import FEED_ACCEPT, FEED_STATE, FeedStateOutput, parse_fetched, skipped_items
from newsbeam.transforms.stream.schedules import (
    FeedSchedule,
    PollConfig,
    after_poll,
    reconcile,
    worth_reporting,
)
from newsbeam.transforms.stream.sitemaps import poll_children
from newsbeam.transforms.stream.websub import StreamWebSub, Subscriber, by_id, due_renewals, forget_push, pushes

logger = logging.getLogger("newsbeam")

Shard = tuple[int, tuple[FeedSpec, ...]]


@dataclass(frozen=True)
class ShardFeeds:
    """One tick of one shard: its feeds, and those of them pushed since (``(url, push time)``)."""

    specs: tuple[FeedSpec, ...]
    pushed: tuple[tuple[str, float], ...] = ()


ShardTick = tuple[int, ShardFeeds]


def is_stale(tick: float, now: float, interval: float) -> bool:
    """A tick that waited more than a few intervals (at least 5 s) behind newer ones: skip it."""
    return now - tick > max(3 * interval, 5.0)


def shard_of(url: str, shards: int) -> int:
    """A stable shard for a feed URL (crc32: the same on every worker and every start)."""
    return zlib.crc32(url.encode()) % shards


def by_shard(specs: Sequence[FeedSpec], shards: int) -> list[Shard]:
    """The feed list cut into shards, each with its feeds in list order."""
    groups: dict[int, list[FeedSpec]] = {}
    for spec in specs:
        groups.setdefault(shard_of(spec.url, shards), []).append(spec)
    return [(shard, tuple(groups[shard])) for shard in sorted(groups)]


class _ReadFeedList(beam.DoFn):  # type: ignore[misc]
    """A tick in; the current feed list by shard out (none once the stream is told to stop)."""

    def __init__(
        self,
        path: str,
        load: Callable[[Path], list[FeedSpec]],
        shards: int,
        stop_marker: str,
        push_dir: str | None = None,
    ) -> None:
        self.path = path
        self.load = load
        self.shards = shards
        self.stop_marker = stop_marker
        self.push_dir = push_dir
        self._cached: tuple[float, list[Shard], dict[str, str]] | None = None

    def process(self, tick: Any) -> Iterator[ShardTick]:
        if storage.exists(self.stop_marker):
            return
        try:
            mtime = os.path.getmtime(self.path)
            if self._cached is None or self._cached[0] != mtime:
                specs = self.load(Path(self.path))
                self._cached = (mtime, by_shard(specs, self.shards), by_id(specs))
                counter("feed_list_loaded").inc()
        except (OSError, NewsbeamError) as error:
            counter("feed_list_errors").inc()
            reason = getattr(error, "reason", str(error))
            logger.warning("feed list %s unreadable (%s); polling the last good list", self.path, reason)
        if self._cached is None:
            return
        pushed = pushes(self.push_dir, self._cached[2]) if self.push_dir else {}
        for shard, listed in self._cached[1]:
            mine = tuple((spec.url, pushed[spec.url]) for spec in listed if spec.url in pushed)
            yield shard, ShardFeeds(listed, mine)


class FeedTicks(beam.PTransform):  # type: ignore[misc]
    """Pipeline start in; ``(shard, feeds)`` every ``tick`` seconds out, unbounded."""

    def __init__(
        self,
        path: str,
        load: Callable[[Path], list[FeedSpec]],
        config: PollConfig,
        stop_marker: str,
        push_dir: str | None = None,
    ):
        super().__init__()
        self.path, self.load, self.config, self.stop_marker = path, load, config, stop_marker
        self.push_dir = push_dir

    def expand(self, begin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            begin
            | "Tick" >> PeriodicImpulse(fire_interval=self.config.tick, apply_windowing=False)
            | "FeedList"
            >> beam.ParDo(_ReadFeedList(self.path, self.load, self.config.shards, self.stop_marker, self.push_dir))
        )


class PollFeeds(beam.DoFn):  # type: ignore[misc]
    """``(shard, feeds)`` in; entries of the due feeds out, plus their ``feed_state`` and dead letters."""

    SCHEDULES = ReadModifyWriteStateSpec("schedules", PickleCoder())

    def __init__(
        self,
        http: HttpConfig,
        config: PollConfig,
        load_feed_states: Callable[[], Mapping[str, FeedState]] = dict,
        client_factory: Callable[[HttpConfig], HttpClient] = HttpxClient,
        websub: StreamWebSub | None = None,
    ) -> None:
        self.http = http
        self.config = config
        self.load_feed_states = load_feed_states
        self.client_factory = client_factory
        self.websub = websub
        self.client: PoliteClient | None = None
        self.subscriber: Subscriber | None = None
        self.known: Mapping[str, FeedState] = {}

    def setup(self) -> None:
        self.client = PoliteClient(self.client_factory(self.http), self.http, obey_robots=False)
        self.known = self.load_feed_states()
        if self.websub is not None:
            self.subscriber = Subscriber(self.websub, self.http)

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.subscriber is not None:
            self.subscriber.close()

    def process(
        self,
        element: ShardTick,
        tick: Any = beam.DoFn.TimestampParam,
        schedules_state: Any = beam.DoFn.StateParam(SCHEDULES),
    ) -> Iterator[FeedEntry | DeadLetterOutput | FeedStateOutput]:
        feeds = element[1]
        specs = feeds.specs
        now = time.time()
        if is_stale(float(tick.micros) / 1e6, now, self.config.tick):
            # Polling is behind (more feeds due than this worker can poll): ticks queued meanwhile are
            # dropped at once, so the backlog is never more than one tick and commits still get through.
            # Push markers stay in place, so a push in a skipped tick is polled on the next one.
            counter("ticks_skipped").inc()
            return
        stored = schedules_state.read() or {}
        schedules = reconcile(stored, specs, self.known, now)
        pushed = {url: at for url, at in feeds.pushed if url in schedules and at > schedules[url].pushed}
        due = sorted(
            (spec for spec in specs if spec.url in pushed or schedules[spec.url].due <= now),
            key=lambda s: (s.url not in pushed, schedules[s.url].due),
        )
        if due:
            due = due[: self.config.max_polls]
            if pushed:
                counter("websub_push_polls").inc(sum(1 for spec in due if spec.url in pushed))
            yield from self._poll(due, schedules)
            for spec in due:
                if spec.url in pushed:
                    schedules[spec.url] = replace(schedules[spec.url], pushed=pushed[spec.url])
                    if self.websub is not None:
                        forget_push(self.websub.push_dir, spec.url, pushed[spec.url])
        renewed = list(self._renew(schedules, now))
        yield from renewed
        if due or renewed or schedules != stored:  # a tick with nothing due changes nothing
            schedules_state.write(schedules)

    def _renew(self, schedules: dict[str, FeedSchedule], now: float) -> Iterator[DeadLetterOutput]:
        """Subscriptions whose verification or renewal time came: note the hub's answer, renew."""
        if self.subscriber is None:
            return
        for url, subscription in list(due_renewals(schedules, now)):
            updated, letter = self.subscriber.renew(url, subscription, now)
            schedules[url] = replace(schedules[url], websub=updated)
            if letter is not None:
                yield _dead(letter)

    def _poll(
        self, due: Sequence[FeedSpec], schedules: dict[str, FeedSchedule]
    ) -> Iterator[FeedEntry | DeadLetterOutput | FeedStateOutput]:
        assert self.client is not None, "setup() makes the client"
        validators = {
            spec.url: (schedules[spec.url].state.etag, schedules[spec.url].state.last_modified)
            for spec in due
            if schedules[spec.url].state.etag or schedules[spec.url].state.last_modified
        }
        outcomes = fetch_many(
            self.client,
            [spec.url for spec in due],
            max_workers=self.http.max_workers,
            per_host=self.http.per_host,
            accept=FEED_ACCEPT,
            validators=validators,
        )
        for spec, (_, outcome) in zip(due, outcomes, strict=True):
            counter("feeds_polled").inc()
            try:
                yield from self._one(spec, outcome, schedules)
            except Exception as error:  # noqa: BLE001 - a bug on one feed is a dead letter, not a dead stream
                yield _dead(dead_letter("feeds", error, spec.url))

    def _one(
        self, spec: FeedSpec, outcome: HttpResponse | FetchError, schedules: dict[str, FeedSchedule]
    ) -> Iterator[FeedEntry | DeadLetterOutput | FeedStateOutput]:
        now = time.time()
        parsed: ParsedFeed | FeedParseError | None = None
        if isinstance(outcome, FetchError):
            counter("feeds_failed").inc()
            yield _dead(dead_letter("feeds", outcome, spec.url))
        else:
            parsed = parse_fetched(spec, outcome)
            if isinstance(parsed, FeedParseError):
                yield _dead(dead_letter("feeds", parsed, spec.url, outcome.body[:600]))
        before = schedules[spec.url]
        schedule = after_poll(before, outcome, parsed, self.config, now)
        if self.subscriber is not None and isinstance(parsed, ParsedFeed) and isinstance(outcome, HttpResponse):
            subscription, letter = self.subscriber.after_poll(spec, before.websub, outcome, parsed, now)
            schedule = replace(schedule, websub=subscription)
            if letter is not None:
                yield _dead(letter)
        if worth_reporting(before.state, schedule.state, before.reported, now):
            schedule = replace(schedule, reported=now)
            state_output: FeedStateOutput = TaggedOutput(FEED_STATE, schedule.state)
            yield state_output
        schedules[spec.url] = schedule
        if isinstance(parsed, ParsedFeed):
            yield from parsed.entries
            for input_id, error in skipped_items(spec, parsed):
                yield _dead(dead_letter("feeds", error, input_id))
            if parsed.sitemaps:
                assert self.client is not None, "setup() makes the client"
                children = schedules[spec.url].children
                states = yield from poll_children(self.client, self.http, spec, parsed, children)
                schedules[spec.url] = replace(schedules[spec.url], children=states)


def _dead(letter: DeadLetter) -> DeadLetterOutput:
    counter("dead_letters").inc()
    return TaggedOutput(DEAD_LETTER, letter)


class PollAllFeeds(TaggedTransform):
    """``(shard, feeds)`` ticks in; ``main`` entries, ``dead_letter`` and ``feed_state`` out."""

    def __init__(
        self,
        http: HttpConfig,
        config: PollConfig,
        load_feed_states: Callable[[], Mapping[str, FeedState]] = dict,
        client_factory: Callable[[HttpConfig], HttpClient] = HttpxClient,
        websub: StreamWebSub | None = None,
    ) -> None:
        super().__init__()
        self.fn = PollFeeds(http, config, load_feed_states, client_factory, websub)

    def expand(self, shards: beam.PCollection) -> dict[str, beam.PCollection]:
        polled = shards | "Poll" >> beam.ParDo(self.fn).with_outputs(DEAD_LETTER, FEED_STATE, main=MAIN)
        return {MAIN: polled[MAIN], DEAD_LETTER: polled[DEAD_LETTER], FEED_STATE: polled[FEED_STATE]}

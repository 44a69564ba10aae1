"""A feed's schedule in the stream: when to poll it next, from its own signals (pure functions).

``PollFeeds`` (``poll.py``) keeps one ``FeedSchedule`` per feed in keyed state; everything it decides
about a feed's next poll and whether its state goes to the lake is here, testable without a runner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from newsbeam.schemas.records import FeedSpec, FeedState
from newsbeam.transforms.errors import FeedParseError, FetchError, HTTPStatusError, NewsbeamError
from newsbeam.transforms.fetch.http import HttpResponse
from newsbeam.transforms.lake.state import next_feed_state
from newsbeam.transforms.read.feed_parser import ParsedFeed
from newsbeam.transforms.read.schedule import PollSignals, jittered, next_interval, signals_from
from newsbeam.transforms.websub.subscription import Subscription

DEFAULT_SHARDS = 32


@dataclass(frozen=True)
class PollConfig:
    min_interval: float = 60.0
    max_interval: float = 900.0
    tick: float = 1.0
    """Seconds between looks at the schedule (and at the feed list file)."""
    shards: int = DEFAULT_SHARDS
    max_polls: int = 256
    """Feeds one shard polls per tick at most (the most overdue first), so one bundle stays short."""


@dataclass(frozen=True)
class FeedSchedule:
    """What the stream knows about one feed: its state, signals, and when to poll it next."""

    state: FeedState
    due: float
    """Epoch seconds of the next poll."""
    signals: PollSignals | None = None
    reported: float = 0.0
    """Epoch seconds when this feed's state last went to the lake."""
    children: Mapping[str, FeedState] = field(default_factory=dict)
    """A sitemap index's child sitemaps as this stream last fetched them (empty after a start, so the
    first poll of an index fetches every child, as the first poll of a feed is unconditional)."""
    websub: Subscription | None = None
    pushed: float = 0.0
    """Time of the last WebSub push that was polled (a newer push marker makes the feed due)."""


def after_poll(
    schedule: FeedSchedule,
    outcome: HttpResponse | FetchError,
    parsed: ParsedFeed | FeedParseError | None,
    config: PollConfig,
    now: float,
) -> FeedSchedule:
    """The feed's schedule after one poll: new state, signals and next due time (pure)."""
    url = schedule.state.feed_url
    if isinstance(outcome, FetchError) or isinstance(parsed, FeedParseError):
        error = outcome if isinstance(outcome, FetchError) else parsed
        assert isinstance(error, NewsbeamError)
        status = outcome.status if isinstance(outcome, HttpResponse) else getattr(error, "status", None)
        state = next_feed_state(
            schedule.state, url, datetime.fromtimestamp(now, timezone.utc), status=status, error=error.reason
        )
        retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
        interval = next_interval(
            schedule.signals,
            min_interval=config.min_interval,
            max_interval=config.max_interval,
            failures=state.consecutive_failures,
            retry_after=retry_after,
        )
        return replace(schedule, state=state, due=now + jittered(interval, url))
    entries = len(parsed.entries) if isinstance(parsed, ParsedFeed) else None
    state = next_feed_state(
        schedule.state,
        url,
        outcome.fetched_at,
        status=outcome.status,
        etag=outcome.etag,
        last_modified=outcome.last_modified,
        entries=entries,
        fetch_ms=outcome.elapsed_ms,
    )
    fresh = signals_from(outcome.headers, outcome.fetched_at, parsed if isinstance(parsed, ParsedFeed) else None)
    signals = _merged(schedule.signals, fresh) if outcome.not_modified else fresh
    interval = next_interval(signals, min_interval=config.min_interval, max_interval=config.max_interval)
    return replace(schedule, state=state, due=now + jittered(interval, url), signals=signals)


REPORT_EVERY = 300.0
"""Seconds between lake rows for a feed whose polls change nothing (304 after 304)."""


def worth_reporting(before: FeedState, after: FeedState, reported: float, now: float) -> bool:
    """Whether a poll's new state goes to ``_state/feeds``: on any change, else every ``REPORT_EVERY``.

    A stream polling 10,000 feeds mostly hears 304: a row per poll would be most of what it commits.
    """
    times = ("last_attempt_at", "last_success_at")
    changed = any(getattr(before, f) != getattr(after, f) for f in FeedState.__dataclass_fields__ if f not in times)
    return changed or now - reported >= REPORT_EVERY


def _merged(previous: PollSignals | None, fresh: PollSignals) -> PollSignals:
    """After a 304 the headers are new but the document is not: keep what only the body told us."""
    if previous is None:
        return fresh
    return replace(
        previous,
        max_age=fresh.max_age if fresh.max_age is not None else previous.max_age,
        expires_in=fresh.expires_in if fresh.expires_in is not None else previous.expires_in,
    )


def reconcile(
    schedules: Mapping[str, FeedSchedule], specs: Sequence[FeedSpec], known: Mapping[str, FeedState], now: float
) -> dict[str, FeedSchedule]:
    """Schedules for exactly the listed feeds: new ones due now, removed ones forgotten.

    A feed new to this stream starts from what the lake knows of its health, without its
    validators (see the module docstring: the first poll after a start is unconditional).
    """
    result: dict[str, FeedSchedule] = {}
    for spec in specs:
        existing = schedules.get(spec.url)
        if existing is None:
            earlier = known.get(spec.url)
            state = replace(earlier, etag=None, last_modified=None) if earlier else FeedState(spec.url)
            existing = FeedSchedule(state, now)
        result[spec.url] = existing
    return result

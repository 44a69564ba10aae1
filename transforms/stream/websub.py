"""WebSub inside the stream's source: pushes make feeds due, and polls subscribe to advertised hubs.

``PollFeeds`` calls these thin helpers; the decisions are the pure functions of
``transforms.websub.subscription``. A push never replaces polling: it only moves the feed's
next poll to now, so a lost push costs at most one poll interval (the safety net).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from newsbeam.schemas.records import DeadLetter, FeedSpec
from newsbeam.transforms.base import counter, dead_letter
from newsbeam.transforms.errors import FetchError
from newsbeam.transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient
from newsbeam.transforms.lake import storage
from newsbeam.transforms.read.feed_parser import ParsedFeed
from newsbeam.transforms.stream.commit import marked_at
from newsbeam.transforms.websub.subscription import (
    VERIFY_TIMEOUT,
    VERIFY_WAIT,
    Subscription,
    WebSubConfig,
    next_step,
    push_dir,
    read_verified,
    subscribe,
    subscription_id,
    wants_subscription,
)

logger = logging.getLogger("newsbeam")


@dataclass(frozen=True)
class StreamWebSub:
    """The stream's WebSub settings as its DoFns need them (picklable)."""

    output: str
    stream_id: str
    config: WebSubConfig

    @property
    def push_dir(self) -> str:
        return push_dir(self.output, self.stream_id)


def pushes(folder: str, listed: Mapping[str, str]) -> dict[str, float]:
    """``{feed url: push time}`` of the push markers in ``folder``; ``listed`` maps ids to listed feeds.

    A marker of a feed no longer in the list is deleted and counted (``websub_pushes_ignored``).
    """
    found: dict[str, float] = {}
    stray: list[str] = []
    for name in storage.names(folder):
        url = listed.get(name)
        at = marked_at(storage.join(folder, name)) if url is not None else None
        if url is None or at is None:
            stray.append(storage.join(folder, name))
            continue
        found[url] = at
    if stray:
        counter("websub_pushes_ignored").inc(len(stray))
        storage.delete(stray)
    return found


def by_id(specs: Sequence[FeedSpec]) -> dict[str, str]:
    return {subscription_id(spec.url): spec.url for spec in specs}


def forget_push(folder: str, feed_url: str, at: float) -> None:
    """Remove the push marker once its poll is done, unless a newer push replaced it meanwhile."""
    path = storage.join(folder, subscription_id(feed_url))
    if marked_at(path) == at:
        storage.delete([path])


class _Schedule(Protocol):
    @property
    def websub(self) -> Subscription | None: ...


class Subscriber:
    """Subscribes and renews through one guarded HTTP client (a worker's, made in ``setup``)."""

    def __init__(self, settings: StreamWebSub, http: HttpConfig) -> None:
        self.settings = settings
        self.client = HttpxClient(http)

    def close(self) -> None:
        self.client.close()

    def after_poll(
        self, spec: FeedSpec, current: Subscription | None, response: HttpResponse, parsed: ParsedFeed, now: float
    ) -> tuple[Subscription | None, DeadLetter | None]:
        """The feed's subscription after a successful poll: made if it advertises a new hub."""
        if parsed.hub is None:
            return None, None  # the feed stopped advertising a hub: the lease lapses
        topic = parsed.self_url or response.url
        if not wants_subscription(current, parsed.hub, topic):
            return current, None
        return self._subscribe(spec.url, parsed.hub, topic, now, "websub_subscribed", current)

    def renew(self, feed_url: str, current: Subscription, now: float) -> tuple[Subscription | None, DeadLetter | None]:
        """Called once ``now >= current.renew_at``: note the hub's verification, renew when due."""
        try:
            verified = read_verified(self.settings.output, self.settings.stream_id, feed_url)
        except Exception as error:  # noqa: BLE001 - storage trouble: look again later, the feed is still polled
            return replace(current, renew_at=now + VERIFY_WAIT), dead_letter("websub", error, feed_url)
        again, updated = next_step(current, verified, now)
        if not again:
            return updated, None
        return self._subscribe(feed_url, updated.hub, updated.topic, now, "websub_renewed", updated)

    def _subscribe(
        self, feed_url: str, hub: str, topic: str, now: float, what: str, current: Subscription | None
    ) -> tuple[Subscription | None, DeadLetter | None]:
        settings = self.settings
        try:
            made = subscribe(
                self.client, settings.output, settings.stream_id, settings.config, feed_url, hub, topic, now
            )
        except Exception as error:  # noqa: BLE001 - a hub (or storage) failure never stops the feed's polling
            counter("websub_subscribe_failed").inc()
            reason = error.reason if isinstance(error, FetchError) else repr(error)
            logger.warning("WebSub subscription of %s at %s failed: %s", topic, hub, reason)
            # Keep the feed polled as before; ask again after VERIFY_TIMEOUT like an unverified request.
            return Subscription(hub, topic, now, settings.config.lease_seconds, now + VERIFY_TIMEOUT), dead_letter(
                "websub", error, feed_url
            )
        counter(what).inc()
        return made, None


def due_renewals(schedules: Mapping[str, _Schedule], now: float) -> Iterator[tuple[str, Subscription]]:
    for url, schedule in schedules.items():
        if schedule.websub is not None and now >= schedule.websub.renew_at:
            yield url, schedule.websub

"""WebSub subscriptions of a stream: where their records live, when to (re)subscribe, and the request.

Workers subscribe (``PollFeeds`` sees a feed's hub after a poll); the driver's callback server
answers the hub. They share nothing but the stream's storage area, ``_stream/<id>/websub/``:

- ``key``: random bytes the driver writes once; each topic's ``hub.secret`` derives from it;
- ``<sid>.intent``: what a worker asked the hub for, written *before* the request, so the
  callback can confirm intent even when the hub verifies synchronously;
- ``<sid>.verified``: what the callback confirmed (the lease the hub granted, or a denial);
- ``_stream/<id>/push/<sid>``: a marker per pushed feed (its time), which makes the feed due now.

``sid`` is a hash of the feed URL; the callback URL of a feed is ``<public url>/websub/<sid>``,
one per subscription as the spec recommends, so a push names its feed by the path it arrives on.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any

from newsbeam.transforms.fetch.http import HttpxClient
from newsbeam.transforms.lake import storage
from newsbeam.transforms.websub.signature import topic_secret

LEASE_SECONDS = 10 * 86400.0
"""The lease we ask for; the hub decides (``hub.lease_seconds`` of its verification)."""
RENEW_AT = 0.8
"""Fraction of the granted lease after which we subscribe again."""
VERIFY_WAIT = 5.0
"""Seconds between looks for the hub's verification of a fresh request."""
VERIFY_TIMEOUT = 300.0
"""A request the hub has not verified by then is sent again."""
DENIED_RETRY = 3600.0
"""Seconds before asking again a hub that denied a subscription."""
CALLBACK_PREFIX = "/websub/"


@dataclass(frozen=True)
class WebSubConfig:
    """What a stream needs to subscribe: the public callback base URL and the lease to ask for."""

    public_url: str
    lease_seconds: float = LEASE_SECONDS


@dataclass(frozen=True)
class Intent:
    """A subscription request as recorded before it is sent (and checked by the callback)."""

    feed_url: str
    topic: str
    hub: str
    mode: str
    lease_seconds: float
    at: float


@dataclass(frozen=True)
class Verified:
    """What the callback confirmed to the hub: ``mode`` is subscribe, unsubscribe or denied."""

    topic: str
    mode: str
    lease_seconds: float | None
    at: float
    reason: str | None = None


@dataclass(frozen=True)
class Subscription:
    """A feed's subscription as its ``FeedSchedule`` holds it (pure data, pickled in Beam state)."""

    hub: str
    topic: str
    requested_at: float
    lease_seconds: float
    renew_at: float
    """When to look at it again: for the hub's verification, or to renew the lease."""
    granted: float | None = None
    verified_at: float | None = None


def subscription_id(feed_url: str) -> str:
    """The feed's name in paths and callback URLs (no feed URL in a path, no way to guess one)."""
    return hashlib.sha256(feed_url.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def websub_dir(output: str, stream_id: str) -> str:
    return storage.join(output, "_stream", stream_id, "websub")


def push_dir(output: str, stream_id: str) -> str:
    return storage.join(output, "_stream", stream_id, "push")


def callback_url(public_url: str, feed_url: str) -> str:
    return public_url.rstrip("/") + CALLBACK_PREFIX + subscription_id(feed_url)


def ensure_key(output: str, stream_id: str) -> bytes:
    """The stream's secret key, created on first call (the driver's, before the pipeline starts)."""
    path = storage.join(websub_dir(output, stream_id), "key")
    storage.create_exclusive(path, secrets.token_hex(32).encode())
    return storage.read_bytes(path)


def read_key(output: str, stream_id: str) -> bytes:
    return storage.read_bytes(storage.join(websub_dir(output, stream_id), "key"))


def secret_for(key: bytes, topic: str) -> str:
    return topic_secret(key, topic)


def _read(path: str) -> dict[str, Any] | None:
    try:
        value = json.loads(storage.read_bytes(path))
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_intent(output: str, stream_id: str, intent: Intent) -> None:
    path = storage.join(websub_dir(output, stream_id), subscription_id(intent.feed_url) + ".intent")
    storage.write_bytes(path, json.dumps(asdict(intent)).encode())


def read_intent(output: str, stream_id: str, sid: str) -> Intent | None:
    if len(sid) != 32 or not sid.isalnum():
        return None
    data = _read(storage.join(websub_dir(output, stream_id), sid + ".intent"))
    try:
        return Intent(**data) if data is not None else None
    except TypeError:
        return None


def write_verified(output: str, stream_id: str, sid: str, verified: Verified) -> None:
    storage.write_bytes(
        storage.join(websub_dir(output, stream_id), sid + ".verified"), json.dumps(asdict(verified)).encode()
    )


def read_verified(output: str, stream_id: str, feed_url: str) -> Verified | None:
    data = _read(storage.join(websub_dir(output, stream_id), subscription_id(feed_url) + ".verified"))
    try:
        return Verified(**data) if data is not None else None
    except TypeError:
        return None


def wants_subscription(current: Subscription | None, hub: str, topic: str) -> bool:
    """A feed that advertises a hub we are not subscribed to (or another hub or topic than before)."""
    return current is None or current.hub != hub or current.topic != topic


def requested(hub: str, topic: str, lease_seconds: float, now: float) -> Subscription:
    """The subscription just asked for: look for its verification in ``VERIFY_WAIT`` seconds."""
    return Subscription(hub, topic, now, lease_seconds, now + VERIFY_WAIT)


def next_step(sub: Subscription, verified: Verified | None, now: float) -> tuple[bool, Subscription]:
    """``(subscribe again now?, the subscription updated)`` once ``now >= sub.renew_at`` (pure).

    A fresh verification sets the renewal at ``RENEW_AT`` of the granted lease; a denial waits
    ``DENIED_RETRY``; a request the hub never verified is sent again after ``VERIFY_TIMEOUT``.
    """
    fresh = verified is not None and verified.topic == sub.topic and verified.at >= sub.requested_at
    if fresh and sub.verified_at is None:
        assert verified is not None
        if verified.mode == "denied":
            return False, replace(sub, verified_at=verified.at, renew_at=now + DENIED_RETRY)
        granted = verified.lease_seconds if verified.lease_seconds and verified.lease_seconds > 0 else sub.lease_seconds
        sub = replace(sub, verified_at=verified.at, granted=granted, renew_at=verified.at + RENEW_AT * granted)
        return now >= sub.renew_at, sub
    if sub.verified_at is not None or now - sub.requested_at >= VERIFY_TIMEOUT:
        return True, sub
    return False, replace(sub, renew_at=now + VERIFY_WAIT)


def subscribe(
    client: HttpxClient,
    output: str,
    stream_id: str,
    config: WebSubConfig,
    feed_url: str,
    hub: str,
    topic: str,
    now: float,
) -> Subscription:
    """Record the intent, then ask ``hub`` to subscribe our callback to ``topic``; raises ``FetchError``."""
    write_intent(output, stream_id, Intent(feed_url, topic, hub, "subscribe", config.lease_seconds, now))
    fields = {
        "hub.mode": "subscribe",
        "hub.topic": topic,
        "hub.callback": callback_url(config.public_url, feed_url),
        "hub.lease_seconds": str(int(config.lease_seconds)),
        "hub.secret": secret_for(read_key(output, stream_id), topic),
    }
    client.post_form(hub, fields)
    return requested(hub, topic, config.lease_seconds, now)

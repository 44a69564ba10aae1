"""WebSub without a runner: signatures, discovery, the subscription rules, and the callback
server talking to our own spec hub over real loopback HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.livesite import LiveSite
from bench.websub_hub import Hub, free_port, post_status
from newsbeam.pipeline.cli import build_parser, stream_config_from_args
from newsbeam.pipeline.websub import CallbackServer, parse_listen
from newsbeam.schemas.records import FeedSpec
from newsbeam.transforms.errors import BlockedAddressError, ConfigError, HTTPStatusError
from newsbeam.transforms.fetch.http import HttpConfig, HttpxClient
from newsbeam.transforms.lake import storage
from newsbeam.transforms.read.feed_parser import parse_feed
from newsbeam.transforms.stream.commit import mark
from newsbeam.transforms.stream.websub import StreamWebSub, Subscriber, by_id, forget_push, pushes
from newsbeam.transforms.websub.links import discover, link_header_rels
from newsbeam.transforms.websub.signature import ALGORITHMS, check_signature, sign, topic_secret
from newsbeam.transforms.websub.subscription import (
    DENIED_RETRY,
    RENEW_AT,
    VERIFY_TIMEOUT,
    VERIFY_WAIT,
    Intent,
    Subscription,
    Verified,
    WebSubConfig,
    callback_url,
    next_step,
    push_dir,
    read_key,
    read_verified,
    requested,
    subscribe,
    subscription_id,
    wants_subscription,
    write_intent,
)

STREAM = "20261207T000000Z-stream-abcdef"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("method", sorted(ALGORITHMS))
def test_a_signature_made_with_the_topic_secret_is_accepted_for_every_method(method: str) -> None:
    secret = topic_secret(b"k" * 32, "https://news.example/feed.xml")
    body = b"<rss>new entry</rss>"
    assert check_signature(sign(body, secret, method), body, secret) is None
    assert check_signature(sign(body, secret, method).upper().replace("SHA", "sha"), body, secret) is None


def test_forged_tampered_unsigned_and_unknown_signatures_are_refused_with_a_reason() -> None:
    secret = topic_secret(b"k" * 32, "https://news.example/feed.xml")
    body = b"<rss>new entry</rss>"
    forged = sign(body, topic_secret(b"x" * 32, "https://news.example/feed.xml"))
    assert "does not match" in str(check_signature(forged, body, secret))
    assert "does not match" in str(check_signature(sign(body, secret), body + b" ", secret))
    assert "unsigned" in str(check_signature(None, body, secret))
    assert "unsigned" in str(check_signature("", body, secret))
    assert "not one of" in str(check_signature("md5=" + "0" * 32, body, secret))
    assert "does not match" in str(check_signature("sha256=\u00e9\u00e9", body, secret)), "non-ASCII never raises"


def test_topic_secrets_differ_per_topic_and_key_and_fit_the_spec_limit() -> None:
    a = topic_secret(b"k" * 32, "https://a.example/feed")
    assert a == topic_secret(b"k" * 32, "https://a.example/feed"), "driver and workers derive the same secret"
    assert a != topic_secret(b"k" * 32, "https://b.example/feed")
    assert a != topic_secret(b"j" * 32, "https://a.example/feed")
    assert len(a.encode()) < 200


# --------------------------------------------------------------------------- discovery


def test_link_header_parsing_keeps_every_rel_and_commas_inside_urls() -> None:
    value = '<https://hub.example/a,b>; rel="hub  other", <https://x.example/f>;title="t, u"; rel=self, junk'
    assert link_header_rels(value) == [
        ("https://hub.example/a,b", frozenset({"hub", "other"})),
        ("https://x.example/f", frozenset({"self"})),
    ]
    assert link_header_rels("") == []


def test_the_link_header_wins_over_the_document_and_relative_links_resolve() -> None:
    document = [("hub", "https://doc-hub.example/"), ("self", "/feed.xml")]
    headers = {"link": '<https://header-hub.example/>; rel="hub"'}
    assert discover(headers, document, "https://news.example/f") == (
        "https://header-hub.example/",
        "https://news.example/feed.xml",
    )
    assert discover({}, document, "https://news.example/f") == (
        "https://doc-hub.example/",
        "https://news.example/feed.xml",
    )
    assert discover({}, [("hub", "mailto:x@y"), ("self", "")], "https://news.example/f") == (None, None)


def test_parse_feed_reports_hub_and_self_of_rss_atom_and_json_feeds() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>'
        b'<atom:link rel="hub" href="https://hub.example/"/><atom:link rel="self" href="https://n.example/rss"/>'
        b"<item><link>https://n.example/a</link></item></channel></rss>"
    )
    parsed = parse_feed(rss, feed_url="https://n.example/feed")
    assert (parsed.hub, parsed.self_url) == ("https://hub.example/", "https://n.example/rss")
    by_header = parse_feed(
        rss, feed_url="https://n.example/feed", headers={"Link": '<https://other-hub.example/>; rel="hub"'}
    )
    assert by_header.hub == "https://other-hub.example/"
    atom = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>'
        b'<link rel="hub" href="https://hub.example/atom"/><link rel="self" href="https://n.example/atom"/>'
        b'<entry><id>urn:1</id><title>a</title><link href="https://n.example/1"/></entry></feed>'
    )
    parsed = parse_feed(atom, feed_url="https://n.example/atom")
    assert (parsed.hub, parsed.self_url) == ("https://hub.example/atom", "https://n.example/atom")
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "feed_url": "https://n.example/feed.json",
        "hubs": [
            {"type": "rssCloud", "url": "https://cloud.example/"},
            {"type": "WebSub", "url": "https://hub.example/j"},
        ],
        "items": [],
    }
    parsed = parse_feed(json.dumps(document).encode(), feed_url="https://n.example/feed.json")
    assert (parsed.hub, parsed.self_url) == ("https://hub.example/j", "https://n.example/feed.json")
    plain = parse_feed(b'<rss version="2.0"><channel><title>t</title></channel></rss>', feed_url="https://n.example/r")
    assert (plain.hub, plain.self_url) == (None, None)


# --------------------------------------------------------------------------- subscription rules


def test_a_verified_subscription_is_renewed_at_80_percent_of_the_granted_lease() -> None:
    sub = requested("https://hub.example/", "https://n.example/feed", 864000, now=1000.0)
    assert sub.renew_at == 1000.0 + VERIFY_WAIT
    again, sub = next_step(sub, Verified("https://n.example/feed", "subscribe", 100.0, 1001.0), now=1005.0)
    assert not again and sub.granted == 100.0 and sub.renew_at == pytest.approx(1001.0 + RENEW_AT * 100.0)
    again, renewed = next_step(sub, Verified("https://n.example/feed", "subscribe", 100.0, 1001.0), now=sub.renew_at)
    assert again, "the lease is renewed before it expires"
    assert renewed.renew_at < 1001.0 + 100.0


def test_unverified_denied_and_changed_subscriptions() -> None:
    sub = requested("https://hub.example/", "https://n.example/feed", 600, now=0.0)
    again, waiting = next_step(sub, None, now=VERIFY_WAIT)
    assert not again and waiting.renew_at == 2 * VERIFY_WAIT, "look again for the verification"
    stale = Verified("https://n.example/feed", "subscribe", 600.0, -50.0)
    again, _ = next_step(sub, stale, now=VERIFY_TIMEOUT)
    assert again, "an older verification does not count; an unverified request is sent again"
    again, denied = next_step(sub, Verified("https://n.example/feed", "denied", None, 1.0), now=6.0)
    assert not again and denied.renew_at == 6.0 + DENIED_RETRY
    assert next_step(denied, None, now=denied.renew_at)[0], "a denied topic is asked again later"
    assert wants_subscription(None, "https://h/", "https://t/")
    current = Subscription("https://h/", "https://t/", 0.0, 600, 5.0)
    assert not wants_subscription(current, "https://h/", "https://t/")
    assert wants_subscription(current, "https://other-hub/", "https://t/")


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen(":9000") == ("0.0.0.0", 9000)
    with pytest.raises(ValueError):
        parse_listen("localhost")


# --------------------------------------------------------------------------- callback + our hub, loopback


def _get(url: str) -> tuple[int, bytes]:
    try:
        with OPENER.open(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _wait(condition: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def callback(tmp_path: Path) -> Iterator[CallbackServer]:
    with CallbackServer(("127.0.0.1", free_port()), str(tmp_path / "lake"), STREAM, max_bytes=4096) as server:
        yield server


def test_subscribe_verify_push_through_our_hub_and_refuse_forged_pushes(callback: CallbackServer) -> None:
    output = callback.output
    host, port = callback.address
    config = WebSubConfig(public_url=f"http://{host}:{port}", lease_seconds=3600)
    with Hub(max_lease=120) as hub, LiveSite(feeds=1, initial=1, hub=hub.url) as site:
        feed = site.feed_urls()[0]
        client = HttpxClient(HttpConfig(allow_private_networks=True))
        sub = subscribe(client, output, STREAM, config, feed, hub.url, feed, time.time())
        assert sub.topic == feed and sub.hub == hub.url
        _wait(lambda: hub.subscribers(feed), "the hub to verify the subscription")
        assert hub.log.verifications == [("subscribe", feed, 200, True)]
        verified = read_verified(output, STREAM, feed)
        assert verified is not None and verified.lease_seconds == 120, "the lease the hub granted is recorded"
        assert hub.subscribers(feed)[0].secret == topic_secret(read_key(output, STREAM), feed)

        site.publish(0)
        assert hub.publish(feed) == 1
        assert hub.log.deliveries[-1][2] == 202, "a signed push is accepted"
        assert pushes(push_dir(output, STREAM), by_id([_spec(feed)])) != {}, "the feed is marked due"

        target = callback_url(config.public_url, feed)
        body = b"<rss>forged</rss>"
        forged = sign(body, topic_secret(b"not the key", feed))
        assert post_status(target, body, {"X-Hub-Signature": forged}) == 403
        assert post_status(target, body, {}) == 403
        assert post_status(target, b"x" * 5000, {"X-Hub-Signature": sign(b"x" * 5000, "s")}) == 413, "body cap"
        assert callback.snapshot() == {"websub_verified": 1, "websub_pushes": 1, "websub_pushes_refused": 3}

        marked = pushes(push_dir(output, STREAM), by_id([_spec(feed)]))
        forget_push(push_dir(output, STREAM), feed, marked[feed])
        assert pushes(push_dir(output, STREAM), by_id([_spec(feed)])) == {}, "a polled push is removed"


def test_the_callback_confirms_only_what_we_asked_for(callback: CallbackServer) -> None:
    host, port = callback.address
    public = f"http://{host}:{port}"
    with Hub() as hub:
        # Someone asks our hub to subscribe our callback to a topic we never requested.
        stranger = "http://127.0.0.1:9/not-ours.xml"
        request = urllib.request.Request(
            hub.url,
            data=f"hub.mode=subscribe&hub.topic={stranger}&hub.callback={callback_url(public, stranger)}".encode(),
            method="POST",
        )
        with OPENER.open(request, timeout=10) as response:
            assert response.status == 202
        _wait(lambda: hub.log.verifications, "the hub's verification attempt")
        assert hub.log.verifications == [("subscribe", stranger, 404, False)]
        assert hub.subscribers(stranger) == []
    status, _ = _get(callback_url(public, stranger) + "?hub.mode=subscribe&hub.topic=x&hub.challenge=c")
    assert status == 404
    assert _get(f"{public}/elsewhere")[0] == 404
    assert post_status(callback_url(public, stranger), b"x", {"X-Hub-Signature": sign(b"x", "s")}) == 404
    assert callback.snapshot()["websub_verifications_refused"] == 2


def test_the_hub_url_goes_through_the_ssrf_guard(callback: CallbackServer) -> None:
    config = WebSubConfig(public_url="http://127.0.0.1:1")
    with Hub() as hub:
        guarded = HttpxClient(HttpConfig())  # private networks not allowed: loopback is refused
        with pytest.raises(BlockedAddressError):
            subscribe(
                guarded, callback.output, STREAM, config, "https://n.example/f", hub.url, "https://n.example/f", 0.0
            )
        assert hub.log.requests == [], "nothing reached the hub"
        bad = HttpxClient(HttpConfig(allow_private_networks=True))
        with pytest.raises(HTTPStatusError):
            subscribe(bad, callback.output, STREAM, config, "https://n.example/f", hub.url + "?", "", 0.0)


def _spec(url: str) -> FeedSpec:
    return FeedSpec(url)


def test_push_markers_of_feeds_no_longer_listed_are_dropped(tmp_path: Path) -> None:
    folder = str(tmp_path / "push")
    listed, gone = "https://a.example/feed", "https://gone.example/feed"
    for url in (listed, gone):
        mark(storage.join(folder, subscription_id(url)))
    found = pushes(folder, by_id([FeedSpec(listed)]))
    assert list(found) == [listed]
    assert storage.names(folder) == [subscription_id(listed)], "the stray marker is deleted"


def test_stream_cli_websub_options() -> None:
    base = ["stream", "--feeds", "f.txt", "--output", "lake"]
    args, _ = build_parser().parse_known_args([*base, "--websub-callback", "127.0.0.1:8089"])
    config = stream_config_from_args(args)
    assert config.websub == WebSubConfig("http://127.0.0.1:8089") and config.websub_listen == ("127.0.0.1", 8089)
    args, _ = build_parser().parse_known_args(
        [*base, "--websub-callback", "0.0.0.0:8089", "--websub-public-url", "https://news.example/hooks"]
    )
    assert stream_config_from_args(args).websub == WebSubConfig("https://news.example/hooks")
    args, _ = build_parser().parse_known_args(base)
    assert stream_config_from_args(args).websub is None, "polling only without the option"
    for wrong in (
        ["--websub-public-url", "https://x.example/"],
        ["--websub-callback", "127.0.0.1:0"],
        ["--websub-callback", "nowhere"],
        ["--websub-callback", "127.0.0.1:8089", "--websub-public-url", "ftp://x/"],
    ):
        with pytest.raises(ConfigError):
            stream_config_from_args(build_parser().parse_known_args([*base, *wrong])[0])


def test_a_callback_address_in_use_is_a_config_error(callback: CallbackServer) -> None:
    with pytest.raises(ConfigError, match="cannot listen"):
        CallbackServer(callback.address, callback.output, STREAM, max_bytes=10)


def test_a_hub_denial_is_acknowledged_and_recorded_for_the_subscriber(callback: CallbackServer) -> None:
    feed = "https://n.example/feed"
    write_intent(callback.output, STREAM, Intent(feed, feed, "https://hub.example/", "subscribe", 600, time.time()))
    host, port = callback.address
    target = callback_url(f"http://{host}:{port}", feed)
    assert _get(f"{target}?hub.mode=denied&hub.topic=https://other.example/&hub.reason=no")[0] == 404
    status, body = _get(f"{target}?hub.mode=denied&hub.topic={feed}&hub.reason=not+allowed")
    assert (status, body) == (200, b"")
    verified = read_verified(callback.output, STREAM, feed)
    assert verified is not None and verified.mode == "denied" and verified.reason == "not allowed"
    assert _get(f"{target}?hub.mode=unsubscribe&hub.topic={feed}&hub.challenge=c")[0] == 404, "we never unsubscribed"
    assert _get(f"{target}?hub.mode=subscribe&hub.topic={feed}")[0] == 404, "no challenge, no confirmation"
    assert _get(f"{target}?hub.mode=subscribe&hub.topic={feed}&hub.challenge=abc&hub.lease_seconds=60") == (200, b"abc")


def test_the_subscriber_renews_after_verification_and_turns_hub_failures_into_dead_letters(
    callback: CallbackServer,
) -> None:
    host, port = callback.address
    settings = StreamWebSub(callback.output, STREAM, WebSubConfig(f"http://{host}:{port}", lease_seconds=3600))
    subscriber = Subscriber(settings, HttpConfig(allow_private_networks=True, total_timeout=3.0))
    with Hub(max_lease=10) as hub, LiveSite(feeds=1, initial=1, hub=hub.url) as site:
        feed = site.feed_urls()[0]
        response = HttpxClient(HttpConfig(allow_private_networks=True)).get(feed)
        parsed = parse_feed(response.body, feed_url=feed, headers=response.headers)
        now = time.time()
        sub, letter = subscriber.after_poll(FeedSpec(feed), None, response, parsed, now)
        assert letter is None and sub is not None and sub.hub == hub.url and sub.topic == feed
        assert subscriber.after_poll(FeedSpec(feed), sub, response, parsed, now)[0] is sub, "no second request"
        _wait(lambda: hub.subscribers(feed), "verification")
        sub, _ = subscriber.renew(feed, sub, sub.renew_at)
        assert sub is not None and sub.granted == 10 and sub.renew_at == pytest.approx(sub.verified_at + 8)
        renewed, _ = subscriber.renew(feed, sub, sub.renew_at)
        assert renewed is not None and renewed.verified_at is None and renewed.requested_at == sub.renew_at
        assert hub.log.requests == [("subscribe", feed), ("subscribe", feed)]
    # The hub is gone now: the failure is a dead letter, and the request is retried later.
    failed, letter = subscriber.renew(feed, sub, sub.renew_at)
    assert letter is not None and letter.stage == "websub" and letter.input_id == feed
    assert failed is not None and failed.renew_at == pytest.approx(sub.renew_at + VERIFY_TIMEOUT)
    subscriber.close()

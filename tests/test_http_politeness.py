"""Politeness over real loopback sockets: retries, Retry-After, pacing, host budgets, robots.txt, 304s, User-Agent."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest
from httpserver import LoopbackServer, peak_bytes_during, route

from newsbeam.transforms.errors import (
    ConfigError,
    ConnectError,
    FetchError,
    FetchTimeout,
    HostBudgetExceeded,
    HTTPStatusError,
    ResponseTooLarge,
    RobotsDisallowed,
    TooManyRedirects,
)
from newsbeam.transforms.fetch.concurrent import fetch_many
from newsbeam.transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient, retry_after_seconds
from newsbeam.transforms.fetch.pages import FetchPageBatch
from newsbeam.transforms.fetch.politeness import PoliteClient
from newsbeam.transforms.fetch.stage import HttpStage

MB = 1024 * 1024
QUICK = HttpConfig(
    connect_timeout=1.0,
    read_timeout=1.0,
    total_timeout=2.0,
    max_bytes=1 * MB,
    min_delay=0.0,
    backoff_base=0.05,
    backoff_max=2.0,
    allow_private_networks=True,
)
"""Small waits so retry tests take a fraction of a second; the test server is on loopback."""


def polite(config: HttpConfig = QUICK, *, obey_robots: bool = True) -> PoliteClient:
    return PoliteClient(HttpxClient(config), config, obey_robots=obey_robots)


def config(**changes: object) -> HttpConfig:
    values = {name: getattr(QUICK, name) for name in QUICK.__dataclass_fields__}
    values.update(changes)
    return HttpConfig(**values)  # type: ignore[arg-type]


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def assert_spaced(times: list[float], delay: float) -> None:
    """Arrivals at least ``delay`` apart, give or take the jitter of a new connection (a few ms)."""
    assert min(gaps(times)) >= delay - 0.05, gaps(times)
    assert times[-1] - times[0] >= (len(times) - 1) * delay - 0.03, gaps(times)


# -- retries -------------------------------------------------------------------------------


def test_two_503s_then_success_is_a_success_after_three_requests(http_server: LoopbackServer) -> None:
    busy = route("<h1>busy</h1>", status=503)
    url = http_server.add_sequence("/flaky", [busy, busy, route("<p>finally</p>")])
    with polite() as client:
        response = client.get(url)
    assert response.body == b"<p>finally</p>"
    assert http_server.requests == ["/robots.txt", "/flaky", "/flaky", "/flaky"]
    first, second = gaps(http_server.arrivals("/flaky"))
    assert first >= 0.05 and second >= 0.1  # exponential backoff: base, then twice base (plus jitter)
    assert second < 1.0


def test_retries_give_up_with_the_last_error_and_the_attempt_count(http_server: LoopbackServer) -> None:
    with polite(obey_robots=False) as client, pytest.raises(HTTPStatusError) as caught:
        client.get(http_server.url("/fault/503"))
    assert caught.value.status == 503
    assert caught.value.reason.endswith("(gave up after 3 attempts)")
    assert http_server.requests == ["/fault/503"] * 3


@pytest.mark.parametrize("status", [404, 410, 403, 501])
def test_permanent_errors_are_not_retried(http_server: LoopbackServer, status: int) -> None:
    url = http_server.add("/nope", "no", status=status)
    with polite(obey_robots=False) as client, pytest.raises(HTTPStatusError):
        client.get(url)
    assert http_server.requests == ["/nope"]


def test_429_retry_after_is_waited_for(http_server: LoopbackServer) -> None:
    limited = route("slow down", status=429, headers={"Retry-After": "1"}, content_type="text/plain")
    url = http_server.add_sequence("/limited", [limited, route("ok")])
    with polite(obey_robots=False) as client:
        assert client.get(url).body == b"ok"
    (waited,) = gaps(http_server.arrivals("/limited"))
    assert 0.95 <= waited < 1.5  # Retry-After, not the 0.05 s backoff


def test_retry_after_pauses_the_whole_host(http_server: LoopbackServer) -> None:
    limited = route("slow down", status=429, headers={"Retry-After": "1"}, content_type="text/plain")
    first = http_server.add_sequence("/a", [limited, route("a")])
    second = http_server.add("/b", "b", delay=0.0)
    with polite(config(per_host=1), obey_robots=False) as client:
        results = fetch_many(client, [first, second], max_workers=2, per_host=1)
    assert [r.body for _, r in results if isinstance(r, HttpResponse)] == [b"a", b"b"]
    (limited_at,) = http_server.arrivals("/a")[:1]
    (b_at,) = http_server.arrivals("/b")
    assert b_at - limited_at >= 0.95  # /b waited out the Retry-After given for /a


def test_retry_after_beyond_backoff_max_is_not_retried(http_server: LoopbackServer) -> None:
    url = http_server.add("/later", "", status=429, headers={"Retry-After": "30"})
    started = time.monotonic()
    with polite(obey_robots=False) as client, pytest.raises(HTTPStatusError) as caught:
        client.get(url)
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == 30
    assert "more than backoff_max; not retried" in caught.value.reason
    assert http_server.requests == ["/later"]


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("Wed, 01 May 2024 12:00:30 GMT", now) == 30
    assert retry_after_seconds("Wed, 01 May 2024 11:00:00 GMT", now) == 0  # in the past: go now
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("", now) is None


# -- every fault route, through the whole polite stack: bounded in time and memory ----------------

FAULTS = [
    # path, expected error (None: a response), requests the server sees, max seconds
    ("/fault/slow", FetchTimeout, ["/fault/slow"] * 2, 5.0),  # the route streams for 20 s: 5 s proves the cut
    ("/fault/reset", ConnectError, ["/fault/reset"] * 2, 1.0),
    ("/fault/truncated", ConnectError, ["/fault/truncated"] * 2, 1.0),
    ("/fault/500", HTTPStatusError, ["/fault/500"] * 2, 1.0),
    ("/fault/503", HTTPStatusError, ["/fault/503"] * 2, 1.0),
    ("/fault/429", HTTPStatusError, ["/fault/429"] * 2, 2.0),  # one Retry-After: 1 wait
    ("/fault/redirect-loop", TooManyRedirects, ["/fault/redirect-loop", "/fault/redirect-loop/b"], 1.0),
    ("/fault/redirect-chain/9", TooManyRedirects, [f"/fault/redirect-chain/{n}" for n in range(9, 3, -1)], 1.0),
    ("/fault/huge", ResponseTooLarge, ["/fault/huge"], 2.0),
    ("/fault/huge?declare=1", ResponseTooLarge, ["/fault/huge?declare=1"], 1.0),
    ("/fault/gzip-bomb", ResponseTooLarge, ["/fault/gzip-bomb"], 2.0),
    ("/fault/wrong-type", None, ["/fault/wrong-type"], 1.0),
]


@pytest.mark.parametrize(("path", "error", "seen", "seconds"), FAULTS, ids=[fault[0] for fault in FAULTS])
def test_fault_routes_end_bounded_and_recorded(
    http_server: LoopbackServer, path: str, error: type[FetchError] | None, seen: list[str], seconds: float
) -> None:
    http_server.gzip_bomb()  # built before measuring: the server shares our process
    settings = config(retries=1, total_timeout=0.8, backoff_base=0.05, backoff_max=1.5)
    outcome: list[HttpResponse | FetchError] = []

    def fetch() -> None:
        with polite(settings, obey_robots=False) as client:
            try:
                outcome.append(client.get(http_server.url(path), accept="text/html"))
            except FetchError as failure:
                outcome.append(failure)

    started = time.monotonic()
    peak = peak_bytes_during(fetch)
    elapsed = time.monotonic() - started
    assert elapsed < seconds
    assert peak < 6 * MB
    if error is None:
        assert isinstance(outcome[0], HttpResponse)
    else:
        assert type(outcome[0]) is error, outcome[0]
        assert outcome[0].reason
    assert http_server.requests == seen


# -- pacing and budgets --------------------------------------------------------------------


def test_min_delay_spaces_requests_across_batches(http_server: LoopbackServer) -> None:
    """One stage instance fetches many batches; the gap to a host must hold across them."""
    first = [http_server.add(f"/one/{n}", f"{n}") for n in range(3)]
    second = [http_server.add(f"/two/{n}", f"{n}") for n in range(2)]
    stage = HttpStage(config(min_delay=0.2, per_host=4))
    stage.setup()
    try:
        for batch in (first, second):
            assert all(isinstance(r, HttpResponse) for _, r in stage.fetch(batch, "text/html"))
    finally:
        stage.teardown()
    times = sorted(http_server.arrivals(p)[0] for p in [f"/one/{n}" for n in range(3)] + ["/two/0", "/two/1"])
    assert len(times) == 5
    assert_spaced(times, 0.2)
    assert http_server.max_in_flight("/") == 1  # spacing beats per_host = 4 for these fast pages


def test_spent_host_budget_fails_fast_and_spares_other_hosts(http_server: LoopbackServer) -> None:
    slow = [http_server.add(f"/slow/{n}", "late", delay=0.6) for n in range(4)]
    other = http_server.add("/quick", "quick").replace("127.0.0.1", "localhost")
    with polite(config(host_budget=0.5, per_host=1), obey_robots=False) as client:
        started = time.monotonic()
        results = fetch_many(client, [*slow, other], max_workers=4, per_host=1)
        elapsed = time.monotonic() - started
    assert isinstance(results[0][1], HttpResponse)
    for _, outcome in results[1:4]:
        assert isinstance(outcome, HostBudgetExceeded)
        assert "host_budget = 0.5 s" in outcome.reason and "tried again next run" in outcome.reason
    assert isinstance(results[4][1], HttpResponse)
    assert elapsed < 1.0  # one slow page, then three instant refusals
    assert [p for p in http_server.requests if p.startswith("/slow/")] == ["/slow/0"]


def test_retry_that_would_overrun_the_budget_is_not_made(http_server: LoopbackServer) -> None:
    url = http_server.add("/busy", "", status=503, headers={"Retry-After": "1"})
    with polite(config(host_budget=0.5), obey_robots=False) as client, pytest.raises(HTTPStatusError) as caught:
        client.get(url)
    assert "would overrun the host's time budget" in caught.value.reason
    assert http_server.requests == ["/busy"]


# -- robots.txt ----------------------------------------------------------------------------

ROBOTS = """
User-agent: github
Disallow: /

User-agent: newsbeam
Disallow: /private/
Crawl-delay: 0.3

User-agent: *
Disallow: /
"""


def test_robots_is_obeyed_fetched_once_and_its_crawl_delay_honoured(http_server: LoopbackServer) -> None:
    http_server.add("/robots.txt", ROBOTS, content_type="text/plain")
    pages = [http_server.add(f"/news/{n}", f"story {n}") for n in range(3)]
    secret = http_server.add("/private/memo", "memo")
    with polite(config(per_host=4)) as client:
        results = fetch_many(client, [*pages, secret], max_workers=4, per_host=4)
    assert [r.body for _, r in results[:3] if isinstance(r, HttpResponse)] == [b"story 0", b"story 1", b"story 2"]
    refused = results[3][1]
    assert isinstance(refused, RobotsDisallowed) and refused.code == "robots"
    assert "disallows" in refused.reason and "'newsbeam'" in refused.reason
    assert http_server.requests.count("/robots.txt") == 1
    assert "/private/memo" not in http_server.requests
    starts = sorted(http_server.arrivals("/robots.txt") + [http_server.arrivals(f"/news/{n}")[0] for n in range(3)])
    assert_spaced(starts, 0.3)  # Crawl-delay: 0.3 for us (the '*' group, Disallow: /, does not apply to newsbeam)


def test_feeds_ignore_robots_but_pages_do_not(http_server: LoopbackServer) -> None:
    http_server.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    url = http_server.add("/feed.xml", "<rss/>", content_type="application/rss+xml")
    settings = config()
    feeds, pages = HttpStage(settings), FetchPageBatch(settings)
    for stage in (feeds, pages):
        stage.setup()
    try:
        ((_, as_feed),) = feeds.fetch([url], "application/rss+xml")
        ((_, as_page),) = pages.fetch([url], "text/html")
    finally:
        for stage in (feeds, pages):
            stage.teardown()
    assert isinstance(as_feed, HttpResponse)
    assert isinstance(as_page, RobotsDisallowed)
    assert http_server.requests == ["/feed.xml", "/robots.txt"]


def test_missing_robots_allows_everything(http_server: LoopbackServer) -> None:
    url = http_server.add("/page", "page")
    with polite() as client:
        assert client.get(url).body == b"page"
    assert http_server.requests == ["/robots.txt", "/page"]  # a 404, tried once


def test_unreachable_robots_disallows_the_site_for_the_run(http_server: LoopbackServer) -> None:
    http_server.add("/robots.txt", "down", status=503)
    urls = [http_server.add(f"/p/{n}", "page") for n in range(2)]
    with polite(config(retries=1)) as client:
        results = fetch_many(client, urls, max_workers=2, per_host=2)
    for _, outcome in results:
        assert isinstance(outcome, RobotsDisallowed)
        assert "RFC 9309" in outcome.reason and "HTTP 503" in outcome.reason
    assert http_server.requests == ["/robots.txt", "/robots.txt"]  # retried once, then cached for the run


def test_obey_robots_off_skips_robots(http_server: LoopbackServer) -> None:
    http_server.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    url = http_server.add("/page", "page")
    with polite(config(obey_robots=False)) as client:
        assert client.get(url).body == b"page"
    assert http_server.requests == ["/page"]


# -- conditional requests and identity -----------------------------------------------------


def test_304_flow_sends_validators_and_costs_no_body(http_server: LoopbackServer) -> None:
    validators = {"ETag": '"v1"', "Last-Modified": "Wed, 01 May 2024 10:00:00 GMT"}
    url = http_server.add_sequence(
        "/article", [route("<p>story</p>", headers=validators), route(b"", status=304, headers={"ETag": '"v1"'})]
    )
    with polite(obey_robots=False) as client:
        first = client.get(url)
        assert (first.status, first.etag, first.last_modified) == (200, '"v1"', validators["Last-Modified"])
        assert "if-none-match" not in http_server.headers_for("/article")
        ((_, again),) = fetch_many(
            client, [url], max_workers=1, per_host=1, validators={url: (first.etag, first.last_modified)}
        )
    assert isinstance(again, HttpResponse)
    assert again.not_modified and again.status == 304 and again.body == b""
    assert again.etag == '"v1"'
    sent = http_server.headers_for("/article")
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == validators["Last-Modified"]


def test_user_agent_carries_the_contact_on_pages_and_robots(http_server: LoopbackServer) -> None:
    url = http_server.add("/page", "page")
    settings = config(contact="news-ops@example.org")
    with polite(settings) as client:
        client.get(url)
    expected = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam; contact: news-ops@example.org)"
    assert settings.user_agent_header == expected
    assert http_server.headers_for("/page")["user-agent"] == expected
    assert http_server.headers_for("/robots.txt")["user-agent"] == expected
    assert settings.robots_agent == "newsbeam"
    assert HttpConfig(user_agent="MyBot/2", contact="https://example.org/bot").user_agent_header == (
        "MyBot/2 (contact: https://example.org/bot)"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_delay": -1}, "min_delay"),
        ({"retries": -1}, "retries"),
        ({"backoff_base": 5, "backoff_max": 1}, "backoff_max"),
        ({"host_budget": 0}, "host_budget"),
        ({"user_agent": "bot\r\nX-Injected: 1"}, "user_agent"),
        ({"contact": "me (really)"}, "contact"),
        ({"min_delay": float("nan")}, "min_delay"),
    ],
)
def test_politeness_settings_are_validated(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HttpConfig(**changes)  # type: ignore[arg-type]

"""fetch_many with a pacing client: hosts share a small pool without starving, limits measured at the servers.

Several hosts are several ``LoopbackServer``s on their own loopback addresses (127.0.0.x), so the
per-host limits apply to them as to separate sites. Nothing here asserts tight wall-clock times
(the test machine is shared): orderings and counts at the servers show what the scheduler did.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from httpserver import LoopbackServer

from newsbeam.transforms.errors import HostBudgetExceeded
from newsbeam.transforms.fetch.concurrent import HANDOFF_POLL, PacedClient, _wait_before, fetch_many
from newsbeam.transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient
from newsbeam.transforms.fetch.politeness import HostScheduler, PoliteClient, Turn

JITTER = 0.05
"""Arrivals at a server may be this much closer than the client's spacing (a new connection, thread wake-up)."""


def settings(**changes: object) -> HttpConfig:
    """Quick timeouts and retries, loopback allowed; ``changes`` on top."""
    values: dict[str, object] = {
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "total_timeout": 3.0,
        "backoff_base": 0.05,
        "backoff_max": 1.0,
        "allow_private_networks": True,
    }
    values.update(changes)
    return HttpConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def servers() -> Iterator[list[LoopbackServer]]:
    """Eight sites: one server on each of 127.0.0.20 to 127.0.0.27."""
    with ExitStack() as stack:
        yield [stack.enter_context(LoopbackServer(host=f"127.0.0.{20 + n}")) for n in range(8)]


def arrivals(server: LoopbackServer) -> list[float]:
    """Every request's arrival at ``server`` (robots.txt included), in order."""
    return sorted(t for path in set(server.requests) for t in server.arrivals(path))


def test_paced_hosts_share_a_small_pool_without_starving_and_within_limits(servers: list[LoopbackServer]) -> None:
    delay, pages = 0.2, 5
    config = settings(min_delay=delay, max_workers=4, per_host=4)
    urls = []
    for n, server in enumerate(servers):  # host by host: the order that let the first hosts take the whole pool
        server.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain", delay=0.05)
        urls += [server.add(f"/news/{i}", f"{n}-{i}", delay=0.05) for i in range(pages)]

    with PoliteClient(HttpxClient(config), config) as client:
        results = fetch_many(client, urls, max_workers=config.max_workers, per_host=config.per_host)

    assert [url for url, _ in results] == urls
    bodies = [outcome.body.decode() for _, outcome in results if isinstance(outcome, HttpResponse)]
    assert bodies == [f"{n}-{i}" for n in range(len(servers)) for i in range(pages)]
    for server in servers:
        times = arrivals(server)
        assert len(times) == pages + 1  # robots.txt once, every page once
        assert min(later - earlier for earlier, later in itertools.pairwise(times)) >= delay - JITTER
        assert server.max_in_flight() <= config.per_host
    # Not starved: every site was started before any site was finished. Workers sleeping on the
    # first hosts' turns left the last hosts untouched until the first ones were done.
    assert max(arrivals(server)[0] for server in servers) < min(arrivals(server)[-1] for server in servers)


def test_per_host_still_caps_concurrency_when_the_pace_would_allow_more(servers: list[LoopbackServer]) -> None:
    """Pages slower than the spacing: the pace alone would have 6 in flight per site; per_host keeps it at 2."""
    config = settings(min_delay=0.05, max_workers=8, per_host=2, obey_robots=False)
    urls = [server.add(f"/slow/{i}", "x", delay=0.3) for server in servers[:3] for i in range(6)]

    with PoliteClient(HttpxClient(config), config) as client:
        results = fetch_many(client, urls, max_workers=config.max_workers, per_host=config.per_host)

    assert all(isinstance(outcome, HttpResponse) for _, outcome in results)
    for server in servers[:3]:
        assert server.max_in_flight() == 2
        times = arrivals(server)
        assert min(later - earlier for earlier, later in itertools.pairwise(times)) >= 0.05 - JITTER


def test_waiting_for_turns_outside_the_workers_still_counts_against_the_host_budget(
    http_server: LoopbackServer,
) -> None:
    """Starts 0.2 s apart and a 0.5 s budget: three pages fit (at 0, 0.2, 0.4 s), the rest fail at once."""
    config = settings(min_delay=0.2, host_budget=0.5, per_host=4, obey_robots=False)
    urls = [http_server.add(f"/p/{n}", f"{n}") for n in range(6)]

    with PoliteClient(HttpxClient(config), config) as client:
        results = fetch_many(client, urls, max_workers=4, per_host=4)

    assert [outcome.body for _, outcome in results[:3] if isinstance(outcome, HttpResponse)] == [b"0", b"1", b"2"]
    for _, outcome in results[3:]:
        assert isinstance(outcome, HostBudgetExceeded), outcome
    assert http_server.requests == ["/p/0", "/p/1", "/p/2"]


def test_robots_warm_up_is_fetched_once_and_spaced_like_a_page(http_server: LoopbackServer) -> None:
    config = settings(min_delay=0.1, per_host=4)
    http_server.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    urls = [http_server.add(f"/news/{n}", f"{n}") for n in range(3)] + [http_server.add("/private/x", "x")]

    with PoliteClient(HttpxClient(config), config) as client:
        first = client.next_turn(urls[0])
        assert first is not None and first.warm_up
        results = fetch_many(client, urls, max_workers=4, per_host=4)
        after = client.next_turn(urls[0])
        assert after is not None and not after.warm_up

    assert [type(outcome).__name__ for _, outcome in results] == ["HttpResponse"] * 3 + ["RobotsDisallowed"]
    assert http_server.requests.count("/robots.txt") == 1
    assert http_server.requests[0] == "/robots.txt"
    times = arrivals(http_server)
    assert min(later - earlier for earlier, later in itertools.pairwise(times)) >= 0.1 - JITTER


# -- the pieces --------------------------------------------------------------------------------


def test_only_clients_that_pace_are_asked_for_turns() -> None:
    config = settings()
    with HttpxClient(config) as plain, PoliteClient(HttpxClient(config), config) as polite:
        assert not isinstance(plain, PacedClient)
        assert isinstance(polite, PacedClient)
        assert polite.next_turn("ftp://example.org/file") is None  # not paced: refused by the client at once
        assert polite.next_turn("not a url") is None


def test_wait_before_hands_out_a_host_only_when_its_turn_is_free() -> None:
    now = 100.0
    assert _wait_before(None, None, now) == 0.0  # a client without pacing: go
    assert _wait_before(Turn(at=99.0, claimed=3, spacing=0.5), None, now) == 0.0
    assert _wait_before(Turn(at=100.25, claimed=3, spacing=0.5), None, now) == pytest.approx(0.25)
    # The request handed out at claimed == 3 has not taken its turn yet: the free-looking turn is its.
    assert _wait_before(Turn(at=99.0, claimed=3, spacing=0.5), 3, now) == HANDOFF_POLL
    assert _wait_before(Turn(at=99.0, claimed=4, spacing=0.5), 3, now) == 0.0


def test_next_turn_follows_claimed_starts() -> None:
    hosts = HostScheduler(min_delay=0.2, budget=10)
    assert hosts.next_turn("a") == Turn(at=0.0, claimed=0, spacing=0.2)  # a new host: now
    before = time.monotonic()
    with hosts.busy("a"):
        hosts.wait_turn("a", "http://a/1")
    after = time.monotonic()
    turn = hosts.next_turn("a")
    assert turn is not None and turn.claimed == 1
    assert before + 0.2 <= turn.at <= after + 0.2
    assert hosts.next_turn("b") == Turn(0.0, 0, 0.2)  # hosts are paced independently


def test_next_turn_does_not_hold_back_what_the_budget_refuses_anyway() -> None:
    hosts = HostScheduler(min_delay=0.2, budget=0.1)
    with hosts.busy("a"):
        hosts.wait_turn("a", "http://a/1")
    # The next start is 0.2 s away, with less than 0.1 s of budget left: the request fails at
    # once, so it should go to a worker now rather than wait for a turn it will not take.
    assert hosts.next_turn("a") is None


def test_the_spacing_after_a_start_is_charged_to_the_host_once() -> None:
    hosts = HostScheduler(min_delay=0.2, budget=10)
    with hosts.busy("a"):
        hosts.wait_turn("a", "http://a/1")
    time.sleep(0.3)  # past the spacing: the charge stops where the host let us go again
    spent = hosts.spent("a")
    assert 0.2 <= spent < 0.25
    time.sleep(0.1)
    assert hosts.spent("a") == spent  # idle, with nothing to wait for: nothing more is charged

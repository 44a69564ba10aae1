"""Fetching at scale over loopback: many hosts, injected latency, politeness on, limits checked server-side.

Each host is its own ``LoopbackServer`` (the test suite's real HTTP server) on its own loopback
address (127.0.0.2, 127.0.0.3, ...; Linux routes all of 127/8 to ``lo``), so the client's
per-host limits apply exactly as they would to 50 sites. Every answer, robots.txt included, is
sent after ``latency`` seconds. The servers record when each request arrived and how many were
being handled at once, so "never above the limit" is measured where it matters: at the site.
"""

from __future__ import annotations

import itertools
import math
import time
from contextlib import ExitStack
from dataclasses import asdict
from typing import Any

from bench.common import median, rounded

PAGE_BYTES = 30_000


def _page(host: int, index: int) -> str:
    filler = ("<p>" + "Officials said the talks would continue next week. " * 8 + "</p>\n") * 200
    body = f"<html><head><title>Story {host}-{index}</title></head><body><article><h1>Story {index}</h1>{filler}"
    return body[:PAGE_BYTES] + "</article></body></html>"


def run_fetch(
    hosts: int, per_host_pages: int, latency: float, configs: dict[str, dict[str, Any]], repeats: int
) -> dict[str, Any]:
    """Fetch ``hosts * per_host_pages`` pages with each HTTP configuration, ``repeats`` times each."""
    import sys

    from bench.common import REPO

    sys.path.insert(0, str(REPO))
    from newsbeam.transforms.fetch.concurrent import fetch_many
    from newsbeam.transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient
    from newsbeam.transforms.fetch.politeness import PoliteClient
    from tests.httpserver import LoopbackServer

    results: dict[str, Any] = {
        "pages": hosts * per_host_pages,
        "hosts": hosts,
        "latency_seconds": latency,
        "what": f"{hosts} loopback hosts (127.0.0.2-127.0.0.{hosts + 1}), {per_host_pages} pages each of "
        f"{PAGE_BYTES // 1000} kB, every response (robots.txt included) delayed {latency * 1000:g} ms; "
        "PoliteClient (pacing, budget, retries, robots.txt) over HttpxClient, through fetch_many",
    }
    for name, overrides in configs.items():
        runs = []
        for _ in range(max(1, repeats)):
            with ExitStack() as stack:
                servers = [stack.enter_context(LoopbackServer(host=f"127.0.0.{2 + h}")) for h in range(hosts)]
                urls = []
                for h, server in enumerate(servers):
                    server.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain", delay=latency)
                    for i in range(per_host_pages):
                        urls.append(server.add(f"/news/{i}", _page(h, i), delay=latency))
                config = HttpConfig(allow_private_networks=True, **overrides)
                started = time.perf_counter()
                with PoliteClient(HttpxClient(config), config, obey_robots=True) as client:
                    outcomes = fetch_many(client, urls, max_workers=config.max_workers, per_host=config.per_host)
                wall = time.perf_counter() - started
                ok = sum(isinstance(outcome, HttpResponse) and outcome.status == 200 for _, outcome in outcomes)
                runs.append({"wall_seconds": wall, "ok": ok, **_server_side(servers, config.per_host)})
        config = HttpConfig(allow_private_networks=True, **overrides)
        floor = _floor(per_host_pages, hosts, latency, config.min_delay, config.per_host, config.max_workers)
        results[name] = {
            "config": {k: v for k, v in asdict(config).items() if k in ("max_workers", "per_host", "min_delay")},
            "overrides": overrides,
            "median_wall_seconds": rounded(median([r["wall_seconds"] for r in runs])),
            "wall_seconds": [rounded(r["wall_seconds"]) for r in runs],
            "pages_per_second": rounded(hosts * per_host_pages / median([r["wall_seconds"] for r in runs])),
            "ok": min(r["ok"] for r in runs),
            "theoretical_floor_seconds": rounded(floor),
            "max_in_flight_per_host": max(r["max_in_flight_per_host"] for r in runs),
            "per_host_limit": config.per_host,
            "in_flight_limit_respected": all(r["max_in_flight_per_host"] <= config.per_host for r in runs),
            "min_start_gap_seconds": rounded(min(r["min_start_gap_seconds"] for r in runs), 4),
            "max_requests_in_any_1s_per_host": max(r["max_requests_in_any_1s"] for r in runs),
            "median_start_gap_seconds": rounded(median([r["median_start_gap_seconds"] for r in runs]), 4),
            "allowed_requests_in_any_1s": _allowed_per_second(config.min_delay),
            "rate_limit_respected": all(
                r["max_requests_in_any_1s"] <= _allowed_per_second(config.min_delay) for r in runs
            ),
            "requests_per_host": runs[-1]["requests_per_host"],
        }
    return results


def _server_side(servers: list[Any], per_host: int) -> dict[str, Any]:
    """Peak concurrent requests per host, smallest gap between two request arrivals, densest second."""
    peak = 0
    gap = math.inf
    densest = 0
    counts = []
    gaps: list[float] = []
    for server in servers:
        peak = max(peak, server.max_in_flight())
        arrivals = sorted(t for path in set(server.requests) for t in server.arrivals(path))
        counts.append(len(arrivals))
        for a, b in itertools.pairwise(arrivals):
            gap = min(gap, b - a)
            gaps.append(b - a)
        j = 0
        for i, start in enumerate(arrivals):
            while arrivals[j] <= start - 1.0:
                j += 1
            densest = max(densest, i - j + 1)
    return {
        "max_in_flight_per_host": peak,
        "min_start_gap_seconds": gap,
        "median_start_gap_seconds": median(gaps) if gaps else math.inf,
        "max_requests_in_any_1s": densest,
        "requests_per_host": max(counts) if counts else 0,
    }


def _allowed_per_second(min_delay: float) -> int:
    """Most request starts one host may see in any closed 1-second window when starts are min_delay apart."""
    return math.floor(1 / min_delay + 1e-9) + 1 if min_delay > 0 else 10**9


def _floor(pages: int, hosts: int, latency: float, min_delay: float, per_host: int, max_workers: int) -> float:
    """The fastest any client obeying the limits could be: pacing per host, or total concurrency."""
    requests = pages + 1  # robots.txt is one more paced request per host
    pacing = (requests - 1) * min_delay + latency
    in_flight = (math.ceil(requests / per_host)) * latency
    overall = math.ceil(hosts * requests / max_workers) * latency
    return max(pacing, in_flight, overall)

"""The stream's WebSub part: push-to-lake latency through our own hub (``bench/websub_hub.py``).

A stream polls ``feeds`` feeds that advertise the hub, with ``min_interval`` (300 s) far above
the run, so after the first poll only a push can bring an entry in. Every ``gap`` seconds
(uniformly jittered by +-50 %, so pushes fall anywhere in the commit windows) an entry is
published on the next feed and the hub is notified (``hub.publish``: it fetches the
topic and POSTs it, signed, to the stream's callback). An entry's latency is when the lake
watcher first read it through ``lake_sql.connect`` minus when it appeared in its feed (the
notification follows at once); ``distribution`` is the hub's part (fetch and signed POST).
The polls the site saw during the measurement are reported too: one per push means nothing
but the pushes brought the entries.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from bench.common import log
from bench.livesite import LiveSite
from bench.stream_proc import Child, LakeWatcher
from bench.websub_hub import Hub, free_port

FULL: dict[str, Any] = {
    "feeds": 20,
    "pushes": 30,
    "gap": 2.0,
    "min_interval": 300.0,
    "max_interval": 600.0,
    "tick": 0.5,
    "commit_interval": 5.0,
}
QUICK: dict[str, Any] = {**FULL, "feeds": 4, "pushes": 5}
WAIT = 60.0
"""Seconds one pushed entry may take to become readable before the part gives up on it."""


def run_websub(p: dict[str, Any], work: Path, http: dict[str, Any]) -> dict[str, Any]:
    """One run of the WebSub part (see the module docstring); returns its numbers."""
    from bench.stream import WARM_UP_CAP, _fresh, percentiles

    output = _fresh(work)
    feed_list = work / "feeds.txt"
    port = free_port()
    log(f"stream: WebSub push latency, {p['feeds']} feeds, {p['pushes']} pushes every {p['gap']:g} s")
    with Hub() as hub, LiveSite(feeds=p["feeds"], initial=1, hub=hub.url) as site:
        topics = site.feed_urls()
        feed_list.write_text("\n".join(topics) + "\n")
        config = {
            "output": str(output),
            "feed_list": str(feed_list),
            "http": http,
            **{k: p[k] for k in ("min_interval", "max_interval", "tick", "commit_interval")},
            "status_interval": 10.0,
            "websub": {"listen": ["127.0.0.1", port], "public_url": f"http://127.0.0.1:{port}"},
        }
        child = Child("stream", config, work)
        watcher = LakeWatcher(output).start()
        started = time.time()
        distribution: list[float] = []
        try:
            if watcher.wait_for({e.url for e in site.published()}, WARM_UP_CAP, child.alive) is None:
                raise RuntimeError(f"the initial entries were not in the lake within {WARM_UP_CAP} s")
            while not all(hub.subscribers(t) for t in topics) and time.time() - started < WARM_UP_CAP:
                time.sleep(0.2)
            subscribed = sum(1 for t in topics if hub.subscribers(t))
            polls0 = site.site.polls
            rng = random.Random(5)
            entries = []
            for number in range(p["pushes"]):
                feed = number % len(topics)
                entries.append(site.publish(feed))
                began = time.time()
                hub.publish(topics[feed])  # fetch + signed POST, synchronously
                distribution.append(time.time() - began)
                # Random gaps, never waiting for the lake: pushes fall anywhere in the commit windows.
                time.sleep(max(0.0, began + rng.uniform(0.5, 1.5) * p["gap"] - time.time()))
            watcher.wait_for({e.url for e in entries}, WAIT, child.alive)
            latencies = [watcher.seen[e.url] - e.appeared for e in entries if e.url in watcher.seen]
            lost = [e.url for e in entries if e.url not in watcher.seen]
            # The hub's own fetch of the topic is a poll of the site too: one per push.
            polls = site.site.polls - polls0 - p["pushes"]
            deliveries = [status for _, _, status, _ in hub.log.deliveries]
        finally:
            stopped = child.stop()
            watcher.stop()
    return {
        "feeds": p["feeds"],
        "pushes": p["pushes"],
        "subscribed": subscribed,
        "deliveries_accepted": sum(1 for s in deliveries if 200 <= s < 300),
        "push_to_lake_seconds": percentiles(latencies),
        "hub_distribution_seconds": percentiles(distribution),
        "not_readable_within_seconds": {"cap": WAIT, "count": len(lost)},
        "stream_polls_during": polls,
        "commit_interval_seconds": p["commit_interval"],
        "tick_seconds": p["tick"],
        "min_interval_seconds": p["min_interval"],
        "child": stopped,
    }


def summary(part: dict[str, Any]) -> str:
    """One line for the report."""
    lat = part.get("push_to_lake_seconds") or {}
    return (
        f"WebSub: {part.get('pushes')} pushes through our hub to {part.get('feeds')} feeds polled every "
        f"{part.get('min_interval_seconds'):g} s; push to readable p50/p95/max {lat.get('p50')}/{lat.get('p95')}/"
        f"{lat.get('max')} s (commit interval {part.get('commit_interval_seconds'):g} s, tick "
        f"{part.get('tick_seconds'):g} s); {part.get('deliveries_accepted')} signed deliveries accepted, "
        f"{part.get('stream_polls_during')} stream polls (one per push expected)"
    )

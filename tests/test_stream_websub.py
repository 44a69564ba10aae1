"""WebSub end to end on Prism: our own hub, a feed that advertises it, a push that reaches the lake
long before polling could, and forged or unsigned pushes that are refused and counted."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from streaming import kill_group, start_stream, urls_in_lake, wait_for

from bench.livesite import LiveSite
from bench.websub_hub import Hub, free_port, post_status
from newsbeam.pipeline import runners
from newsbeam.transforms.websub.signature import sign
from newsbeam.transforms.websub.subscription import callback_url

pytestmark = pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint())
SLOW_POLLING = ["--min-interval", "300", "--max-interval", "600"]
"""After the first poll no feed is polled again within the test: only a push can bring news."""


def test_a_push_through_our_hub_reaches_the_lake_in_seconds_and_forgeries_are_refused(tmp_path: Path) -> None:
    output, feeds, log = tmp_path / "lake", tmp_path / "feeds.txt", tmp_path / "stream.log"
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with Hub(max_lease=6) as hub, LiveSite(feeds=2, hosts=1, initial=1, hub=hub.url) as site:
        pushed_feed, quiet_feed = site.feed_urls()
        feeds.write_text(f"{pushed_feed}\n{quiet_feed}\n")
        extra = [*SLOW_POLLING, "--websub-callback", f"127.0.0.1:{port}"]
        process = start_stream(feeds, output, log, extra)
        try:
            first = {e.url for e in site.published()}
            wait_for(lambda: set(urls_in_lake(output)) >= first, 90, "the first poll's entries in the lake", log)
            wait_for(
                lambda: hub.subscribers(pushed_feed) and hub.subscribers(quiet_feed), 20, "both subscriptions", log
            )
            polls_before = site.site.polls

            update = site.publish(0)
            notified = time.monotonic()
            hub.publish(pushed_feed)
            wait_for(lambda: update.url in urls_in_lake(output), 30, "the pushed entry in the lake", log)
            latency = time.monotonic() - notified
            assert latency < 20, f"push to lake took {latency:.1f} s"
            assert [d[2] for d in hub.log.deliveries] == [202], "the signed push was accepted"

            # News on the quiet feed with forged and unsigned pushes only: nothing may poll it.
            hidden = site.publish(1)
            target = callback_url(public, quiet_feed)
            body = b"<rss>forged</rss>"
            assert post_status(target, body, {"X-Hub-Signature": sign(body, "guessed secret")}) == 403
            assert post_status(target, body, {}) == 403
            time.sleep(8)  # four commit intervals and sixteen ticks
            assert hidden.url not in urls_in_lake(output), "a refused push must not trigger a poll"
            assert len(hub.log.requests) >= 4, "6 s leases were renewed before they expired"
            assert site.site.polls - polls_before == 2, "the hub's fetch and one poll of the pushed feed, no other"

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()
        finally:
            if process.poll() is None:
                kill_group(process)
    text = log.read_text()
    assert f"WebSub callback on 127.0.0.1:{port}" in text
    last = [line for line in text.splitlines() if "; WebSub " in line][-1]
    counts = dict(
        (label, int(n.replace(",", ""))) for label, n in re.findall(r"(\w+) ([\d,]+)", last.split("; WebSub ")[1])
    )
    assert counts["pushes"] == 1 and counts["refused"] == 2, last
    assert counts["subscribed"] == 2 and counts["renewed"] >= 2, last
    print(f"push to lake {latency:.1f} s; {last}")

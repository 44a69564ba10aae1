"""``newsbeam stream`` end to end on Prism: a real runner, a real loopback site that keeps publishing."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from streaming import kill_and_restart, kill_group, start_stream, urls_in_lake, wait_for

from bench.livesite import LiveSite
from newsbeam.pipeline import lake_sql, runners

pytestmark = pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint())


def test_stream_ingests_a_feed_update_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    output, feeds, log = tmp_path / "lake", tmp_path / "feeds.txt", tmp_path / "stream.log"
    with LiveSite(feeds=3, hosts=2, initial=2) as site:
        feeds.write_text("\n".join(site.feed_urls()) + "\n")
        process = start_stream(feeds, output, log)
        try:
            first = {e.url for e in site.published()}
            wait_for(lambda: set(urls_in_lake(output)) >= first, 90, "the initial entries in the lake", log)
            update = site.publish(1)
            wait_for(lambda: update.url in urls_in_lake(output), 30, "the feed update in the lake", log)
            row = (
                lake_sql.connect(str(output))
                .execute("SELECT title, text_source, length(text) FROM articles WHERE url = ?", [update.url])
                .fetchall()
            )
            assert row and row[0][0] == update.title and row[0][1] == "page" and row[0][2] > 500
            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=2 + 10) == 0, log.read_text()
            assert time.monotonic() - stopping < 2 + 10, "exits within --commit-interval plus a few seconds"
        finally:
            if process.poll() is None:
                kill_group(process)
    text = log.read_text()
    assert "feeds polled" in text and "articles committed" in text, "live status lines"
    urls = urls_in_lake(output)
    assert sorted(urls) == sorted(e.url for e in site.published()), "every entry exactly once"
    assert not (output / "_lock").exists(), "the lock is released on a clean stop"


def test_sigkill_mid_commit_and_at_random_moments_loses_nothing_and_writes_nothing_twice(tmp_path: Path) -> None:
    with LiveSite(feeds=4, hosts=2, initial=1) as site:
        counts, published, log = kill_and_restart(tmp_path, site, list)
    assert set(counts) == published, "nothing lost, nothing invented"
    assert max(counts.values()) == 1, f"written twice: {[u for u, n in counts.items() if n > 1]}"
    assert len(published) > 20, "the site kept publishing through the kills"
    assert log.count("had started publishing: finished it") >= 2, "journaled windows rolled forward on restart"

"""A stream outlives Beam's default 300 s job-server deadline (``make test-long``; CI runs it).

Beam's portable runner uses ``--job_server_timeout`` (default 300 s) as the gRPC deadline of the
job's state and message streams, so a job run from Python dies at 300 s unless it is raised;
``newsbeam`` raises it for every portable runner. This test keeps a stream alive past that point
and proves it still ingests there.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from streaming import kill_group, start_stream, urls_in_lake, wait_for

from bench.livesite import LiveSite
from newsbeam.pipeline import runners

BEAM_DEFAULT_DEADLINE = 300

pytestmark = [
    pytest.mark.long,
    pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint()),
]


def test_a_stream_outlives_the_default_job_server_deadline(tmp_path: Path) -> None:
    output, feeds, log = tmp_path / "lake", tmp_path / "feeds.txt", tmp_path / "stream.log"
    with LiveSite(feeds=2, hosts=1, initial=1) as site:
        feeds.write_text("\n".join(site.feed_urls()) + "\n")
        process = start_stream(feeds, output, log, ["--status-interval", "30"])
        try:
            wait_for(lambda: "started on" in log.read_text(errors="replace"), 60, "the stream to start", log)
            started = time.monotonic()
            while time.monotonic() - started < BEAM_DEFAULT_DEADLINE + 15:
                assert process.poll() is None, log.read_text(errors="replace")[-3000:]
                time.sleep(5)
            late = site.publish(0)
            wait_for(lambda: late.url in urls_in_lake(output), 30, "an entry published after 315 s", log)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                kill_group(process)
    assert "DEADLINE_EXCEEDED" not in log.read_text(errors="replace")
    assert sorted(urls_in_lake(output)) == sorted(e.url for e in site.published())

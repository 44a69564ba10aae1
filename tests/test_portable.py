"""The portable path: the same graphs on Prism with an external pool of Python SDK workers.

``--environment_type=EXTERNAL`` is how Flink and Dataflow deployments run Python: the runner hands
bundles to SDK workers it did not start. Here the test starts Beam's own worker pool, and checks
that batch runs give the same lake as in-process, row for row, and that the stream's kill test
holds when the workers die with the runner. These take minutes: ``make test-long`` (CI) runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streaming import WorkerPool, kill_and_restart
from test_prism import snapshot

from bench.livesite import LiveSite
from bench.synthetic import write_jsonl
from newsbeam.pipeline import runners
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.demo.run import SITE
from newsbeam.pipeline.demo.server import materialise_feed_list, serve_site
from newsbeam.pipeline.feedlist import load_feed_list
from newsbeam.pipeline.run import run
from newsbeam.transforms.fetch.http import HttpConfig

pytestmark = [
    pytest.mark.long,
    pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint()),
]
PRISM = ["--runner", "PrismRunner"]


def test_a_1k_record_input_gives_the_same_lake_on_prism_with_a_worker_pool(tmp_path: Path) -> None:
    records = write_jsonl(tmp_path / "input", 1000, days=5)
    in_process = run(RunConfig(output=str(tmp_path / "fnapi"), input_pattern=str(records)))
    with WorkerPool(tmp_path / "pool.log") as pool:
        portable = run(RunConfig(output=str(tmp_path / "pool"), input_pattern=str(records)), [*PRISM, *pool.args()])
    assert portable.counters.get("records") == in_process.counters.get("records") == 1000
    expected = snapshot(tmp_path / "fnapi")
    assert len(expected["articles"]) > 500 and expected["duplicates"] and expected["stories"]
    assert snapshot(tmp_path / "pool") == expected


def test_the_demo_site_gives_the_same_lake_on_prism_with_a_worker_pool(tmp_path: Path) -> None:
    http = HttpConfig(allow_private_networks=True, min_delay=0.0)
    with serve_site(SITE) as server:
        feeds = tuple(load_feed_list(materialise_feed_list(SITE, server.base_url, tmp_path / "feeds.opml")))
        run(RunConfig(output=str(tmp_path / "fnapi"), feeds=feeds, http=http))
        with WorkerPool(tmp_path / "pool.log") as pool:
            run(RunConfig(output=str(tmp_path / "pool"), feeds=feeds, http=http), [*PRISM, *pool.args()])
    expected = snapshot(tmp_path / "fnapi")
    assert len(expected["articles"]) >= 10 and expected["dead_letters"]
    assert snapshot(tmp_path / "pool") == expected


def test_the_stream_kill_test_holds_with_a_worker_pool_that_dies_with_the_runner(tmp_path: Path) -> None:
    pool = WorkerPool(tmp_path / "pool.log").start()

    def restart_pool() -> None:
        pool.kill()
        pool.start()

    try:
        with LiveSite(feeds=4, hosts=2, initial=1) as site:
            # Crash points fire in the process that commits, here a pool worker: random kills only.
            counts, published, _ = kill_and_restart(tmp_path, site, pool.args, restart_pool, (None,) * 4)
    finally:
        pool.kill()
    assert set(counts) == published, "nothing lost, nothing invented"
    assert max(counts.values()) == 1, f"written twice: {[u for u, n in counts.items() if n > 1]}"
    assert len(published) > 20

"""The lake on a real S3 server (Versity S3 Gateway on loopback): run, stream, compact, migrate, lock.

No mock library: the gateway is a real S3 implementation serving a local folder, reached with the
standard ``AWS_*`` variables that newsbeam, deltalake and DuckDB all read.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from s3server import INSTALL_HINT, S3Gateway, versitygw_binary
from streaming import kill_group, start_stream, wait_for
from test_cli import write_archive
from test_prism import snapshot

from bench.livesite import LiveSite
from newsbeam.pipeline import lake_sql, runners
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import run, run_compaction
from newsbeam.transforms.errors import ConfigError, LockHeldError
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.lock import RunLock
from newsbeam.transforms.lake.migrate import migrate

pytestmark = pytest.mark.skipif(versitygw_binary() is None, reason=INSTALL_HINT)
LAKE = "s3://news/lake"


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Gateway]:
    with S3Gateway(tmp_path / "buckets") as gateway:
        for name, value in gateway.env().items():
            monkeypatch.setenv(name, value)
        storage._store.cache_clear()  # clients are cached per bucket: a new server, a new client
        yield gateway
    storage._store.cache_clear()


def test_the_gateway_honours_conditional_writes(s3: S3Gateway) -> None:
    assert storage.create_exclusive(f"{LAKE}/probe", b"first")
    assert not storage.create_exclusive(f"{LAKE}/probe", b"second"), "If-None-Match: * on an existing key"
    assert storage.read_bytes(f"{LAKE}/probe") == b"first"


def test_a_run_on_s3_writes_the_same_lake_as_on_disk_and_continues_from_its_state(
    s3: S3Gateway, tmp_path: Path
) -> None:
    archive = tmp_path / "pages.jsonl"
    write_archive(archive)
    run(RunConfig(output=str(tmp_path / "local"), input_pattern=str(archive)))
    first = run(RunConfig(output=LAKE, input_pattern=str(archive)))
    assert first.files > 10 and (tmp_path / "buckets" / "news" / "lake" / "articles" / "_delta_log").is_dir()
    expected = snapshot(tmp_path / "local")
    con = lake_sql.connect(LAKE)
    assert sorted(con.execute("SELECT url FROM articles").fetchall()) == sorted(
        lake_sql.connect(str(tmp_path / "local")).execute("SELECT url FROM articles").fetchall()
    )
    assert len(expected["articles"]) >= 10
    again = run(RunConfig(output=LAKE, input_pattern=str(archive)))
    assert again.counters.get("rows_articles", 0) == 0, "seen URLs on S3 skip what the lake holds"
    assert lake_sql.connect(LAKE).execute("SELECT count(*) FROM articles").fetchall() == [(len(expected["articles"]),)]
    assert not storage.exists(f"{LAKE}/_lock"), "the lock object is gone after the run"


def test_two_writers_at_once_one_is_refused_with_a_clear_message(s3: S3Gateway, tmp_path: Path) -> None:
    archive = tmp_path / "pages.jsonl"
    write_archive(archive)
    with RunLock(LAKE, "someone-else"):
        with pytest.raises(LockHeldError, match="another newsbeam run holds s3://news/lake/_lock"):
            run(RunConfig(output=LAKE, input_pattern=str(archive)))
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def writer(run_id: str) -> None:
        barrier.wait()
        try:
            outcomes.append(run(RunConfig(output=LAKE, input_pattern=str(archive), run_id=run_id)))
        except LockHeldError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [o for o in outcomes if isinstance(o, LockHeldError)]
    # Both may also succeed one after the other if the first finished before the second asked.
    assert len(outcomes) == 2 and len(refused) <= 1
    urls = lake_sql.connect(LAKE).execute("SELECT url, count(*) FROM articles GROUP BY url HAVING count(*) > 1")
    assert urls.fetchall() == [], "whatever the interleaving, no article is written twice"


def test_compact_and_migrate_on_s3(s3: S3Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "pages.jsonl"
    write_archive(archive)
    for index in range(2):
        run(RunConfig(output=LAKE, input_pattern=str(archive), refetch=True, run_id=f"r{index}"))
    before = lake_sql.connect(LAKE).execute("SELECT count(*) FROM dead_letters").fetchall()
    assert run_compaction(LAKE, date.today() + timedelta(days=1), retention_hours=1) == 0
    assert "_state/seen: 2 -> 1 files" in capsys.readouterr().out, "two runs' small files became one"
    assert lake_sql.connect(LAKE).execute("SELECT count(*) FROM dead_letters").fetchall() == before
    with pytest.raises(ConfigError, match="nothing to migrate"):
        migrate(LAKE)


@pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint())
def test_a_stream_commits_to_s3_and_stops_cleanly(s3: S3Gateway, tmp_path: Path) -> None:
    feeds, log = tmp_path / "feeds.txt", tmp_path / "stream.log"
    with LiveSite(feeds=2, hosts=1, initial=2) as site:
        feeds.write_text("\n".join(site.feed_urls()) + "\n")
        process = start_stream(feeds, LAKE, log)
        try:

            def landed() -> bool:
                rows = (
                    lake_sql.connect(LAKE).execute("SELECT url FROM articles").fetchall()
                    if storage.exists(f"{LAKE}/articles/_delta_log/00000000000000000000.json")
                    else []
                )
                return {r[0] for r in rows} >= {e.url for e in site.published()}

            wait_for(landed, 90, "the stream's rows on S3", log)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                kill_group(process)
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1")

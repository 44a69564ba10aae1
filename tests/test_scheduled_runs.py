"""Scheduled runs: incremental (conditional requests, nothing re-ingested), locked, crash-safe.

The crash tests run ``newsbeam`` in a subprocess that kills itself with SIGKILL at a named
point (``transforms/lake/crash.py``), rerun it, and compare the lake with a run that never
crashed: no article lost, no row duplicated, the same state.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import EXIT_FATAL, main
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.demo.server import materialise_feed_list, serve_site
from newsbeam.pipeline.feedlist import load_feed_list
from newsbeam.pipeline.run import run
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.lake.crash import CRASH_ENV, POINTS
from newsbeam.transforms.lake.delta import live_files
from newsbeam.transforms.lake.lock import LOCK_FILE
from newsbeam.transforms.lake.state import load_story_records

SITE = Path(__file__).resolve().parents[1] / "pipeline" / "demo" / "site"
LOOPBACK = HttpConfig(allow_private_networks=True, min_delay=0)


def test_second_run_over_unchanged_site_is_conditional_and_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    with serve_site(SITE) as server:
        feeds = tuple(load_feed_list(materialise_feed_list(SITE, server.base_url, tmp_path / "feeds.opml")))
        first = run(RunConfig(output=str(output), feeds=feeds, http=LOOPBACK))
        before = len(server.requests)
        second = run(RunConfig(output=str(output), feeds=feeds, http=LOOPBACK))
        during_second = server.requests[before:]
    assert first.counters["rows_articles"] == 17  # 19 entries: one tracked-URL copy, one wire near-copy
    assert len(during_second) == 3, during_second  # the three feeds, nothing else
    assert all(conditional and status == 304 for _, conditional, status in during_second)
    assert second.counters.get("rows_articles", 0) == 0 and second.counters.get("entries", 0) == 0
    assert second.counters["feeds_not_modified"] == 3

    con = lake_sql.connect(str(output))
    assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchall() == [(17, 17)]
    assert len(load_story_records(str(output))) > 1, "the first run's story index is still the current one"
    states = con.execute(
        "SELECT feed_url, arg_max(etag, last_attempt_at), arg_max(last_status, last_attempt_at) "
        "FROM feed_state GROUP BY 1"
    ).fetchall()
    assert len(states) == 3 and all(etag and status == 304 for _, etag, status in states)


NEW_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Ferry timetable changes</title></head>
<body><nav><a href="/">Home</a></nav><article><h1>Ferry timetable changes for the summer</h1>
<p>The Port Ellery ferry will add two evening crossings from June, the harbor board said on Wednesday,
after a survey found that most island commuters now finish work after six.</p>
<p>The extra sailings will be paid for by a small rise in the price of a monthly pass, which the board
said was still below what riders paid before the pandemic. A public comment period runs until May 30.</p>
</article></body></html>"""

NEW_ITEM = """<item><title>Ferry timetable changes for the summer</title>
<link>{{BASE}}/harbor-herald/2024/05/ferry-timetable.html</link><guid isPermaLink="false">hh-ferry</guid>
<pubDate>Wed, 15 May 2024 10:00:00 -0400</pubDate><description>Two evening crossings from June.</description>
</item>"""


def test_changed_feed_is_parsed_again_but_only_its_new_entry_is_fetched(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    output = tmp_path / "lake"
    with serve_site(site) as server:
        feeds = tuple(load_feed_list(materialise_feed_list(site, server.base_url, tmp_path / "feeds.opml")))
        run(RunConfig(output=str(output), feeds=feeds, http=LOOPBACK))
        rss = site / "harbor-herald" / "rss.xml"
        rss.write_text(rss.read_text(encoding="utf-8").replace("<item>", NEW_ITEM + "<item>", 1), encoding="utf-8")
        (site / "harbor-herald" / "2024" / "05" / "ferry-timetable.html").write_text(NEW_PAGE, encoding="utf-8")
        before = len(server.requests)
        second = run(RunConfig(output=str(output), feeds=feeds, http=LOOPBACK))
        requests = server.requests[before:]
    feeds_requested = [
        (path, status)
        for path, _, status in requests
        if path.endswith((".xml", ".json")) and not path.startswith("/.well-known/")  # tdmrep.json: once per run
    ]
    assert sorted(status for _, status in feeds_requested) == [200, 304, 304]
    pages = [path for path, _, _ in requests if path.endswith(".html")]
    assert pages == ["/harbor-herald/2024/05/ferry-timetable.html"]
    assert second.counters["entries_already_seen"] == 7  # the rest of the Harbor Herald feed
    assert second.counters["rows_articles"] == 1
    con = lake_sql.connect(str(output))
    assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchall() == [(18, 18)]


def test_lock_held_by_a_live_run_is_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "lake"
    output.mkdir()
    owner = {"run_id": "other", "host": socket.gethostname(), "pid": os.getpid(), "started_at": "now"}
    (output / LOCK_FILE).write_text(json.dumps(owner))
    archive = tmp_path / "in.jsonl"
    archive.write_text(json.dumps({"url": "https://e.org/a", "text": "Kenya and Japan met. Talks go on."}) + "\n")
    assert main(["run", "--input", str(archive), "--output", str(output)]) == EXIT_FATAL
    message = capsys.readouterr().err
    assert "another newsbeam run holds" in message and "other" in message
    assert not (output / "_runs").exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    output.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner = {"run_id": "crashed", "host": socket.gethostname(), "pid": int(dead.stdout), "started_at": "then"}
    (output / LOCK_FILE).write_text(json.dumps(owner))
    archive = tmp_path / "in.jsonl"
    archive.write_text(json.dumps({"url": "https://e.org/a", "text": "Kenya and Japan met. Talks go on."}) + "\n")
    result = run(RunConfig(output=str(output), input_pattern=str(archive)))
    assert result.counters["rows_articles"] == 1
    assert not (output / LOCK_FILE).exists(), "the lock is released at the end"
    manifest = json.loads(Path(result.published[-1].manifest_path).read_text())
    assert manifest["recovered"] == ["took over a stale lock of run crashed"]  # and nothing staged to undo


# ----------------------------------------------------------------------------- kill -9


def archive_of_site(path: Path) -> None:
    """JSONL of the demo pages that have article text (so every record becomes an article)."""
    with path.open("w", encoding="utf-8") as out:
        for page in sorted(SITE.rglob("*.html")):
            if "galleries" in page.parts:
                continue
            raw = page.read_bytes()
            html = raw.decode("cp1252") if b"windows-1252" in raw[:600] else raw.decode("utf-8")
            url = f"https://archive.example/{page.relative_to(SITE).as_posix()}"
            out.write(json.dumps({"url": url, "html": html.replace("{{BASE}}", "https://archive.example")}) + "\n")


def newsbeam(archive: Path, output: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "newsbeam", "run", "--input", str(archive), "--output", str(output),
         "--ner-model", "gazetteer"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def lake_snapshot(output: Path) -> dict[str, object]:
    """What a reader can see, minus run ids and timestamps; plus raw row counts to catch duplicates."""
    con = lake_sql.connect(str(output))

    def rows(query: str) -> list[tuple[object, ...]]:
        return sorted(con.execute(query).fetchall())

    return {
        "articles": rows("SELECT article_id, content_hash, title, text_source FROM articles"),
        "article_rows": rows("SELECT count(*), count(DISTINCT article_id) FROM articles"),
        "entities": rows("SELECT entity, article_id, salience FROM entities"),
        "duplicates": rows("SELECT url, canonical_article_id, kind FROM duplicates"),
        "seen": rows("SELECT canonical_url, article_id FROM seen"),
        "near_state": rows("SELECT article_id, canonical_url FROM near_state"),
        "feed_state": rows("SELECT feed_url FROM feed_state"),
        "story_state": rows("SELECT kind, story_id FROM story_state"),
        "files_in_tables": {name: len(paths) for name, paths in live_files(str(output)).items()},
        "files_on_disk": len(list(output.rglob("*.parquet"))),
    }


@pytest.fixture(scope="module")
def clean_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("clean")
    archive = root / "pages.jsonl"
    archive_of_site(archive)
    done = newsbeam(archive, root / "lake")
    assert done.returncode == 0, done.stderr[-2000:]
    return archive, lake_snapshot(root / "lake")


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_rerun_equals_a_run_that_never_crashed(
    point: str, clean_lake: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    archive, expected = clean_lake
    output = tmp_path / "lake"
    crashed = newsbeam(archive, output, crash_at=point)
    assert crashed.returncode == -9, f"expected SIGKILL at {point}: {crashed.stderr[-1500:]}"
    rerun = newsbeam(archive, output)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert lake_snapshot(output) == expected
    pending = [p.name for p in (output / "_journal").iterdir() if p.is_file() and p.name != "writer_id"]
    assert pending == [], "no journal or start marker is left behind"
    assert not (output / LOCK_FILE).exists()

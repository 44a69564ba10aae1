"""The ``newsbeam`` command: help, ``run --input`` over JSONL, exit codes, atomic publication."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, main
from newsbeam.schemas.lake import TABLES
from newsbeam.transforms.lake import write as lake_write

SITE = Path(__file__).resolve().parents[1] / "pipeline" / "demo" / "site"
BASE = "https://archive.example"


def test_help_lists_subcommands() -> None:
    done = subprocess.run([sys.executable, "-m", "newsbeam", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "run" in done.stdout and "demo" in done.stdout and "PipelineOptions" in done.stdout
    run_help = subprocess.run(
        [sys.executable, "-m", "newsbeam", "run", "--help"], capture_output=True, text=True, timeout=120
    )
    assert "--feeds" in run_help.stdout and "--input" in run_help.stdout


def write_archive(path: Path) -> list[str]:
    """A JSONL archive of the sample site's HTML pages, a text record and one broken line."""
    urls = []
    with path.open("w", encoding="utf-8") as out:
        for page in sorted(SITE.rglob("*.html")):
            raw = page.read_bytes()
            html = raw.decode("cp1252") if b"windows-1252" in raw[:600] else raw.decode("utf-8")
            url = f"{BASE}/{page.relative_to(SITE).as_posix()}"
            urls.append(url)
            out.write(json.dumps({"url": url, "html": html.replace("{{BASE}}", BASE)}) + "\n")
        out.write(
            json.dumps(
                {
                    "url": f"{BASE}/briefs/1",
                    "title": "Fisheries accord signed",
                    "published": "2024-05-09T08:00:00Z",
                    "source": "Archive",
                    "text": "Canada and Mexico signed a fisheries accord on Thursday. "
                    "Officials from both countries said quotas would be reviewed each spring.",
                }
            )
            + "\n"
        )
        out.write("{this line is not json\n")
    return urls


def test_run_input_fills_articles_and_entities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "pages.jsonl"
    urls = write_archive(archive)
    output = tmp_path / "lake"
    code = main(["run", "--input", str(archive), "--output", str(output)])
    assert code == EXIT_PARTIAL, "a broken line must be reported through the exit code"
    assert "rows written: articles" in capsys.readouterr().out

    con = lake_sql.connect(str(output))
    sources = dict(con.execute("SELECT text_source, count(*) FROM articles GROUP BY 1").fetchall())
    assert sources["input"] == 1 and sources["page"] >= len(urls) - 2  # gallery has no article text
    brief = con.execute(
        "SELECT list_sort(list_transform(entities, lambda e: e.slug)) FROM articles WHERE text_source = 'input'"
    ).fetchall()
    assert brief == [(["canada", "mexico"],)]
    assert con.execute("SELECT count(*) FROM entities WHERE entity = 'canada'").fetchall()[0][0] >= 1
    bad = con.execute("SELECT input_id, reason FROM dead_letters WHERE stage = 'read'").fetchall()
    assert len(bad) == 1 and bad[0][0].endswith(f"{archive.name}:{len(urls) + 2}") and "not valid JSON" in bad[0][1]


def test_clean_input_exits_zero(tmp_path: Path) -> None:
    archive = tmp_path / "one.jsonl"
    archive.write_text(json.dumps({"url": f"{BASE}/x", "text": "Kenya and Japan agreed. Talks continue."}) + "\n")
    assert main(["run", "--input", str(archive), "--output", str(tmp_path / "lake")]) == EXIT_OK


def test_fatal_config_exits_one_and_publishes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("ftp://example.org/feed.xml\n")
    assert main(["run", "--feeds", str(feeds), "--output", str(tmp_path / "lake")]) == EXIT_FATAL
    assert "newsbeam:" in capsys.readouterr().err
    assert not (tmp_path / "lake" / "articles").exists()


def test_failed_run_leaves_nothing_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer dies after writing a partition: no table shows the run, and its files are removed."""
    real = lake_write.write_batches
    written_paths: list[Path] = []

    def dies_on_articles(output: str, run_id: str, table: str, batches: object) -> object:
        written = real(output, run_id, table, batches)
        written_paths.extend(Path(output, TABLES[table].folder, f.relative) for f in written)
        if table == "articles":
            raise OSError("disk full (injected)")
        return written

    monkeypatch.setattr(lake_write, "write_batches", dies_on_articles)
    archive = tmp_path / "pages.jsonl"
    write_archive(archive)
    output = tmp_path / "lake"
    with pytest.raises(Exception, match="disk full"):
        main(["run", "--input", str(archive), "--output", str(output)])
    assert any("articles" in p.parts for p in written_paths), "the injected failure came after files were written"
    assert [p for p in written_paths if p.exists()] == [], "the failed run's uncommitted files are deleted"
    assert not (output / "_runs").exists() and not list(output.rglob("*.parquet"))
    con = lake_sql.connect(str(output))
    assert con.execute("SELECT count(*) FROM articles").fetchall() == [(0,)]


def test_bad_feed_list_lines_are_dead_letters_and_the_good_feeds_are_read(tmp_path: Path) -> None:
    from newsbeam.pipeline.demo.server import materialise_feed_list, serve_site
    from newsbeam.pipeline.feedlist import load_feed_list

    output = tmp_path / "lake"
    with serve_site(SITE) as server:
        good = [spec.url for spec in load_feed_list(materialise_feed_list(SITE, server.base_url, tmp_path / "f.opml"))]
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(f"{good[0]}\nfile:///etc/passwd\nnot a feed\n" + "\n".join(good[1:]) + "\n")
        code = main(
            ["run", "--feeds", str(feeds), "--output", str(output), "--allow-private-networks", "--min-delay", "0"]
        )
    assert code == EXIT_PARTIAL
    con = lake_sql.connect(str(output))
    query = "SELECT stage, input_id, reason FROM dead_letters WHERE stage = 'feeds' ORDER BY input_id"
    letters = con.execute(query).fetchall()
    assert [(stage, where) for stage, where, _ in letters] == [("feeds", f"{feeds}:2"), ("feeds", f"{feeds}:3")]
    assert "not an http(s) URL" in letters[0][2] and "one URL per line" in letters[1][2]
    sources = con.execute("SELECT count(DISTINCT feed_url), count(*) FROM articles").fetchall()[0]
    assert sources[0] == len(good) and sources[1] > 0, "every good feed's articles are in the lake"

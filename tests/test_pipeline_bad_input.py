"""Bad input never crashes a run and never vanishes: each case is a dead letter or a fallback.

Everything is served by a real HTTP server on 127.0.0.1 and read back from the lake with SQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from httpserver import LoopbackServer

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.feedlist import load_feed_list
from newsbeam.pipeline.run import run
from newsbeam.transforms.fetch.http import HttpConfig

STORY = """
<html><head><title>{title}</title></head><body>
<nav><a href="/">Home</a> | <a href="/world">World</a></nav>
<article><h1>{title}</h1>
<p>The harbour authority in the fictional town of Lowmere said on Tuesday that ferry services to the
outer islands would resume next week after repairs to the main pier were finished ahead of schedule.</p>
<p>Engineers from Norway and Denmark inspected the pier's pilings over the weekend, and the authority said
the structure was now rated for heavier vehicles than before the storm damaged it in March.</p>
<p>Residents of the islands, who have relied on a single small launch for supplies, welcomed the news.
"It has been a long spring," said Ada Pennick, who runs the general store on the largest island.</p>
</article><footer>Copyright Lowmere Gazette</footer></body></html>
"""


CAFE = """
<html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>Zoë Müller, who trained as a pastry chef in Lyon, opened a small café on the quay in Lowmere on Saturday,
serving crêpes, strong coffee and a rye bread she says took her three winters to get right.</p>
<p>The café seats twenty people and will stay open late on Fridays for readings by local writers. Müller said
she chose the quay because the morning light there reminded her of the harbour where she grew up.</p>
</article></body></html>
"""


def rss(items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Lowmere Gazette</title>'
        "<link>http://example.invalid/</link><description>d</description>" + "".join(items) + "</channel></rss>"
    )


def item(link: str | None, title: str, summary: str = "") -> str:
    link_xml = f"<link>{link}</link>" if link else ""
    return (
        f"<item><title>{title}</title>{link_xml}<guid>{title}</guid>"
        f"<pubDate>Tue, 07 May 2024 09:00:00 +0000</pubDate><description>{summary}</description></item>"
    )


SUMMARY = (
    "The water board will hold a public hearing on the proposed rate rise. Officials said the money "
    "would pay for new mains in the older parts of town. Residents can comment in writing until June."
)


REPORT_SUMMARY = (
    "The port authority published its annual report, showing container traffic up by a fifth. The report "
    "credits the new cranes and a longer season for cruise ships, and warns that dredging costs will rise."
)


@pytest.fixture
def lake(tmp_path: Path, http_server: LoopbackServer) -> tuple[Path, dict[str, int], LoopbackServer]:
    s = http_server
    s.add("/a/ok.html", STORY.format(title="Ferries to resume after pier repairs"))
    s.add("/a/report.pdf", b"%PDF-1.4 fake but typed as a PDF", content_type="application/pdf")
    s.add("/a/empty.html", "<html><body><nav><a href='/'>Home</a></nav><div id='app'></div></body></html>")
    latin = CAFE.format(title="Zoë Müller opens a café")
    s.add("/a/latin.html", latin.encode("cp1252"), content_type="text/html; charset=utf-8")  # lies
    s.add(
        "/feeds/news.xml",
        rss(
            [
                item(s.url("/a/ok.html"), "Ferries to resume"),
                item(s.url("/a/missing.html"), "Water rates hearing", SUMMARY),
                item(s.url("/a/empty.html"), "An app shell with nothing in it"),
                item(s.url("/a/report.pdf"), "Annual report", REPORT_SUMMARY),
                item(s.url("/a/latin.html"), "Café opens"),
                item(None, "An item without a link"),
            ]
        ),
        content_type="application/rss+xml",
    )
    s.add("/feeds/not-a-feed.xml", "<html><body><p>Our feed has moved.</p></body></html>")
    s.add("/feeds/broken.xml", b"<rss><channel><title>x</title><item><title>cut off", content_type="text/xml")
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(
        "# feeds for the bad-input test\n"
        + "\n".join(
            s.url(p) for p in ("/feeds/news.xml", "/feeds/not-a-feed.xml", "/feeds/gone.xml", "/feeds/broken.xml")
        )
    )
    output = tmp_path / "lake"
    config = RunConfig(
        output=str(output),
        feeds=tuple(load_feed_list(feeds)),
        http=HttpConfig(total_timeout=10, allow_private_networks=True, min_delay=0),
    )
    result = run(config)
    return output, result.counters, s


def letters(output: Path) -> dict[str, tuple[str, str, str]]:
    con = lake_sql.connect(str(output))
    return {
        input_id: (stage, error_type, reason)
        for input_id, stage, error_type, reason in con.execute(
            "SELECT input_id, stage, error_type, reason FROM dead_letters"
        ).fetchall()
    }


def test_bad_feeds_are_dead_lettered_with_reasons(lake: tuple[Path, dict[str, int], LoopbackServer]) -> None:
    output, counters, server = lake
    found = letters(output)
    assert found[server.url("/feeds/gone.xml")][:2] == ("feeds", "HTTPStatusError")
    assert "404" in found[server.url("/feeds/gone.xml")][2]
    stage, error_type, reason = found[server.url("/feeds/not-a-feed.xml")]
    assert (stage, error_type) == ("feeds", "FeedParseError") and "not a feed" in reason
    # The truncated feed is read leniently; its cut-off item has no link and is dead-lettered.
    assert (counters["feeds_ok"], counters["feeds_failed"]) == (2, 2)
    assert found[server.url("/feeds/broken.xml") + "#item1"][0] == "feeds"
    linkless = [v for k, v in found.items() if k.startswith(server.url("/feeds/news.xml") + "#")]
    assert len(linkless) == 1 and linkless[0][0] == "feeds"


def test_bad_pages_fall_back_or_dead_letter(lake: tuple[Path, dict[str, int], LoopbackServer]) -> None:
    output, _, server = lake
    found = letters(output)
    con = lake_sql.connect(str(output))
    articles = dict(con.execute("SELECT url, text_source FROM articles").fetchall())

    assert found[server.url("/a/missing.html")][:2] == ("fetch", "HTTPStatusError")
    assert articles[server.url("/a/missing.html")] == "feed"

    assert found[server.url("/a/report.pdf")][:2] == ("fetch", "UnsupportedContent")
    assert "application/pdf" in found[server.url("/a/report.pdf")][2]
    assert articles[server.url("/a/report.pdf")] == "feed"

    stage, error_type, reason = found[server.url("/a/empty.html")]
    assert (stage, error_type) == ("clean", "ExtractError") and "no article text" in reason
    assert server.url("/a/empty.html") not in articles

    assert articles[server.url("/a/ok.html")] == "page"
    latin_text = con.execute(f"SELECT text FROM articles WHERE url = '{server.url('/a/latin.html')}'").fetchall()
    assert "Zoë Müller" in latin_text[0][0]


def test_nothing_vanishes(lake: tuple[Path, dict[str, int], LoopbackServer]) -> None:
    output, counters, _ = lake
    con = lake_sql.connect(str(output))
    articles = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    clean_failures = con.execute("SELECT count(*) FROM dead_letters WHERE stage = 'clean'").fetchall()[0][0]
    assert articles + clean_failures == counters["entries"]
    manifest = json.loads(next((output / "_runs").glob("*.json")).read_text())
    assert manifest["counters"]["dead_letters"] == len(letters(output))

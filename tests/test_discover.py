"""``newsbeam discover``: feeds from link tags and common paths, sitemaps from robots.txt, through the guards."""

from __future__ import annotations

from pathlib import Path

import pytest
from httpserver import LoopbackServer

from newsbeam.pipeline.cli import EXIT_OK, EXIT_PARTIAL, main
from newsbeam.pipeline.discover import feed_links, robots_sitemaps
from newsbeam.pipeline.feedlist import read_feed_list

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Harbor News</title><link>{base}/</link>
<item><title>One</title><link>{base}/one</link><guid>one</guid></item></channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Harbor Atom</title>
<id>urn:x</id><updated>2026-12-01T00:00:00Z</updated><entry><title>One</title><id>urn:one</id>
<link href="{base}/one"/><updated>2026-12-01T00:00:00Z</updated></entry></feed>"""
JSON_FEED = """{{"version": "https://jsonfeed.org/version/1.1", "title": "Valley Notes",
"items": [{{"id": "1", "url": "{base}/post", "content_text": "Hello"}}]}}"""


def harbor(server: LoopbackServer) -> str:
    base = server.url("").rstrip("/")
    home = (
        "<html><head><title>Harbor</title>"
        '<link rel="alternate" type="application/rss+xml" title="Harbor News" href="/rss.xml">'
        f'<link rel="alternate" type="application/atom+xml" href="{base}/atom.xml">'
        '<link rel="alternate" type="application/rss+xml" href="/not-a-feed">'
        '<link rel="stylesheet" href="/style.css"></head><body>Hi</body></html>'
    )
    server.add("/", home)
    server.add("/rss.xml", RSS.format(base=base), content_type="application/rss+xml")
    server.add("/atom.xml", ATOM.format(base=base), content_type="application/atom+xml")
    server.add("/not-a-feed", "<html><body>a page</body></html>")
    server.add("/robots.txt", "User-agent: *\nAllow: /\nSitemap: /sitemap_news.xml\n", content_type="text/plain")
    return server.url("/")


def valley(server: LoopbackServer) -> str:
    server.add("/", "<html><head><title>Valley</title></head><body>No feed links here.</body></html>")
    server.add("/feed.json", JSON_FEED.format(base=server.url("").rstrip("/")), content_type="application/feed+json")
    return server.url("/")


def test_finds_linked_feeds_common_paths_and_sitemaps_as_a_usable_feed_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LoopbackServer() as one, LoopbackServer() as two:
        sites = [harbor(one), valley(two)]
        code = main(["discover", *sites, "--allow-private-networks", "--min-delay", "0"])
        out, err = capsys.readouterr()
        rss, atom, sitemap, feed_json = (
            one.url("/rss.xml"),
            one.url("/atom.xml"),
            one.url("/sitemap_news.xml"),
            two.url("/feed.json"),
        )
    assert code == EXIT_OK, err
    lines = out.splitlines()
    assert f"{rss}  # rss: Harbor News (via link rel=alternate)" in lines
    assert f"{atom}  # atom: Harbor Atom (via link rel=alternate)" in lines
    assert f"{feed_json}  # json feed: Valley Notes (via common path /feed.json)" in lines
    assert any(line.startswith(f"{sitemap}  # sitemap") for line in lines), "sitemaps are sources like feeds"
    assert "/not-a-feed" in err and "not a feed" in err, "a feed link that is no feed is reported"
    listed = tmp_path / "feeds.txt"
    listed.write_text(out)
    feeds = read_feed_list(listed)
    assert [spec.url for spec in feeds.specs] == [rss, atom, sitemap, feed_json] and feeds.rejected == []


def test_the_ssrf_guard_holds_unless_lifted(capsys: pytest.CaptureFixture[str]) -> None:
    with LoopbackServer() as one:
        site = harbor(one)
        code = main(["discover", site])
        out, err = capsys.readouterr()
        requests = one.requests
    assert code == EXIT_PARTIAL and requests == [], "nothing may reach loopback without --allow-private-networks"
    assert "private" in err or "loopback" in err, err
    assert not [line for line in out.splitlines() if not line.startswith("#")]


def test_feed_links_and_robots_sitemaps_are_parsed_from_markup() -> None:
    html = (
        '<link rel="alternate" type="application/atom+xml" href="feeds/a.xml" title=" A ">'
        '<link rel="Alternate Home" type="application/feed+json; charset=utf-8" href="/f.json">'
        '<link rel="alternate" type="text/html" href="/en">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
    )
    assert feed_links(html, "https://x.example/news/") == [
        ("https://x.example/news/feeds/a.xml", "A"),
        ("https://x.example/f.json", None),
    ]
    robots = "User-agent: *\nDisallow: /private\nSitemap: https://x.example/s1.xml\nsitemap: /s2.xml.gz\n"
    assert robots_sitemaps(robots, "https://x.example") == ["https://x.example/s1.xml", "https://x.example/s2.xml.gz"]

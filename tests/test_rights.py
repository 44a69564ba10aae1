"""Rights columns: JSON-LD access, robots and AI opt-outs, TDM reservation, feed licence; null when unsaid."""

from __future__ import annotations

from pathlib import Path

import lxml.html
from httpserver import LoopbackServer

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import run
from newsbeam.schemas.records import FeedSpec
from newsbeam.transforms.clean.rights import Rights, header_robots, json_ld_free, tree_rights, with_headers
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.fetch.tdmrep import parse_tdmrep, rule_for
from newsbeam.transforms.read.feed_parser import parse_feed

PROSE = " ".join(
    f"The harbor board met on day {i} and agreed that the ferry timetable would change again next season."
    for i in range(12)
)
MARKED = f"""<html><head><title>Marked story</title>
<meta name="robots" content="max-image-preview:large, noarchive">
<meta name="tdm-reservation" content="1">
<script type="application/ld+json">{{"@context": "https://schema.org", "@graph": [
  {{"@type": "WebSite", "name": "Harbor"}},
  {{"@type": "NewsArticle", "headline": "Marked story", "isAccessibleForFree": "False"}}]}}</script>
</head><body><article><h1>Marked story</h1><p>{PROSE}</p></article></body></html>"""
OTHER = " ".join(f"Valley farmers counted {i} new lambs this spring and asked for a new bridge." for i in range(12))
PLAIN = (
    "<html><head><title>Plain story</title></head>"
    f"<body><article><h1>Plain story</h1><p>{OTHER}</p></article></body></html>"
)


def feed(base: str, path: str, title: str, rights: str = "") -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:creativeCommons="http://backend.userland.com/creativeCommonsRssModule">'
        f"<channel><title>{title}</title><link>{base}/</link>{rights}"
        f"<item><title>{title} story</title><link>{base}{path}</link><guid>{path}</guid></item></channel></rss>"
    )


def test_rights_signals_reach_the_lake_and_stay_null_when_unsaid(tmp_path: Path) -> None:
    with LoopbackServer() as server:
        base = server.url("").rstrip("/")
        server.add(
            "/marked",
            MARKED,
            headers={
                "X-Robots-Tag": "googlebot: noindex, noai, newsbeam: noimageai",
                "TDM-Policy": "https://harbor.example/tdm-policy.json",
            },
        )
        server.add("/plain", PLAIN)
        licence = "<copyright>(c) 2026 Harbor Media</copyright>"
        server.add("/marked.xml", feed(base, "/marked", "Harbor", licence), content_type="application/rss+xml")
        server.add("/plain.xml", feed(base, "/plain", "Valley"), content_type="application/rss+xml")
        feeds = (FeedSpec(url=f"{base}/marked.xml"), FeedSpec(url=f"{base}/plain.xml"))
        run(
            RunConfig(
                output=str(tmp_path / "lake"), feeds=feeds, http=HttpConfig(allow_private_networks=True, min_delay=0)
            )
        )
    con = lake_sql.connect(str(tmp_path / "lake"))
    rows = con.execute(
        "SELECT url, is_accessible_for_free, robots, tdm_reservation, tdm_policy, license FROM articles ORDER BY url"
    ).fetchall()
    assert rows == [
        (
            f"{base}/marked",
            False,
            ["max-image-preview:large", "noarchive", "noai", "noimageai"],
            True,
            "https://harbor.example/tdm-policy.json",
            "(c) 2026 Harbor Media",
        ),
        (f"{base}/plain", None, None, None, None, None),
    ]


def test_header_robots_keep_only_directives_for_everyone_or_newsbeam() -> None:
    assert header_robots("noarchive, googlebot: noindex, newsbeam: noai") == ["noarchive", "noai"]
    assert header_robots("unavailable_after: 25 Jun 2026 15:00:00 PST") == [
        "unavailable_after: 25 jun 2026 15:00:00 pst"
    ]
    assert header_robots("max-snippet: 20") == ["max-snippet: 20"]


def test_page_markup_and_headers_combine() -> None:
    rights = tree_rights(lxml.html.fromstring(MARKED))
    assert rights == Rights(
        is_accessible_for_free=False, robots=("max-image-preview:large", "noarchive"), tdm_reservation=True
    )
    merged = with_headers(rights, {"tdm-reservation": "0", "x-robots-tag": "noarchive"})
    assert merged.tdm_reservation is False, "the header wins over the meta tag"
    assert merged.robots == ("max-image-preview:large", "noarchive"), "each directive once"
    assert tree_rights(lxml.html.fromstring(PLAIN)) == Rights()
    assert json_ld_free(['{"isAccessibleForFree": true}']) is True
    assert json_ld_free(["not json", '[{"@type": "Person"}]']) is None


def test_feed_licence_per_entry_else_per_feed() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        b'xmlns:creativeCommons="http://backend.userland.com/creativeCommonsRssModule"><channel><title>T</title>'
        b"<creativeCommons:license>https://creativecommons.org/licenses/by/4.0/</creativeCommons:license>"
        b"<item><title>a</title><link>https://x.example/a</link>"
        b"<dc:rights>Wire copy, do not republish</dc:rights></item>"
        b"<item><title>b</title><link>https://x.example/b</link></item></channel></rss>"
    )
    parsed = parse_feed(body, feed_url="https://x.example/feed")
    assert [entry.license for entry in parsed.entries] == [
        "Wire copy, do not republish",
        "https://creativecommons.org/licenses/by/4.0/",
    ]


def article(title: str, seed: int, meta: str = "") -> str:
    words = " ".join(
        f"Story {title} paragraph {i} about topic {seed * 31 + i} and its many details." for i in range(12)
    )
    head = f"<head><title>{title}</title>{meta}</head>"
    return f"<html>{head}<body><article><h1>{title}</h1><p>{words}</p></article></body></html>"


def test_the_sites_tdmrep_file_applies_unless_the_page_says_otherwise(tmp_path: Path) -> None:
    rules = (
        '[{"location": "/premium/*", "tdm-reservation": 1, "tdm-policy": "https://x.example/policy.json"},'
        ' {"location": "/*", "tdm-reservation": 0}]'
    )
    with LoopbackServer() as server:
        base = server.url("").rstrip("/")
        server.add("/.well-known/tdmrep.json", rules, content_type="application/json")
        server.add("/premium/a", article("Premium one", 1))
        server.add("/premium/b", article("Premium two", 2, '<meta name="tdm-reservation" content="0">'))
        server.add("/free/c", article("Free three", 3))
        items = "".join(
            f"<item><title>{p}</title><link>{base}{p}</link></item>" for p in ("/premium/a", "/premium/b", "/free/c")
        )
        server.add(
            "/feed.xml",
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>',
            content_type="application/rss+xml",
        )
        config = RunConfig(
            output=str(tmp_path / "lake"),
            feeds=(FeedSpec(url=f"{base}/feed.xml"),),
            http=HttpConfig(allow_private_networks=True, min_delay=0),
        )
        run(config)
        fetched = [path for path in server.requests if path == "/.well-known/tdmrep.json"]
    rows = (
        lake_sql.connect(str(tmp_path / "lake"))
        .execute("SELECT url, tdm_reservation, tdm_policy FROM articles ORDER BY url")
        .fetchall()
    )
    assert rows == [
        (f"{base}/free/c", False, None),
        (f"{base}/premium/a", True, "https://x.example/policy.json"),
        (f"{base}/premium/b", False, "https://x.example/policy.json"),  # the page's meta wins over the file
    ]
    assert len(fetched) == 1, "the file is read once per site"


def test_tdmrep_rules_parse_and_match_like_robots_patterns() -> None:
    rules = parse_tdmrep(
        b'[{"location": "/news/*.html$", "tdm-reservation": 1}, {"location": "/", "tdm-reservation": 0}, 3]'
    )
    assert rule_for(rules, "/news/a.html") == rules[0]
    assert rule_for(rules, "/news/a.html?x") == rules[1], "$ anchors the end"
    assert parse_tdmrep(b"<html>not json</html>") == [] and parse_tdmrep(b'{"a": 1}') == []

"""News sitemaps as a source: told apart from feeds by content, articles only, incremental, hostile files bounded."""

from __future__ import annotations

import gzip
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from httpserver import LoopbackServer, route
from streaming import kill_group, start_stream, urls_in_lake, wait_for

from newsbeam.pipeline import lake_sql, runners
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import run
from newsbeam.schemas.records import FeedSpec, FeedState
from newsbeam.transforms.errors import FeedParseError
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.read.sitemap import (
    MAX_SITEMAP_URLS,
    children_to_fetch,
    inflate,
    is_article_url,
    is_sitemap,
    parse_sitemap,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "feeds" / "sitemaps"
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
NEWS_NS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


def news_sitemap(base: str, items: list[tuple[str, str, str]], extra: str = "") -> str:
    """A Google News sitemap: ``(path, title, publication date)`` per article."""
    urls = "".join(
        f"<url><loc>{base}{path}</loc><news:news><news:publication><news:name>Harbor Post</news:name>"
        f"<news:language>en</news:language></news:publication><news:publication_date>{date}</news:publication_date>"
        f"<news:title>{title}</news:title></news:news></url>"
        for path, title, date in items
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS} {NEWS_NS}>{urls}{extra}</urlset>'


def urlset(base: str, paths: list[tuple[str, str | None]]) -> str:
    """An ordinary sitemap: ``(path, lastmod)`` per URL."""
    urls = "".join(
        f"<url><loc>{base}{path}</loc>" + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + "</url>"
        for path, lastmod in paths
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{urls}</urlset>'


def index(base: str, children: list[tuple[str, str | None]]) -> str:
    refs = "".join(
        f"<sitemap><loc>{base}{path}</loc>" + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + "</sitemap>"
        for path, lastmod in children
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {NS}>{refs}</sitemapindex>'


WORDS = (
    "ferry timetable winter crossing passengers captain harbour delay storm tickets island schedule "
    "quay repairs concrete crane engineers council budget contractor weeks closure fishermen nets "
    "bridge vote farmers valley river crossing planning objections traffic tractors funding spring "
    "market stalls cheese bakers square saturday crowds prices vendors festival lanterns music"
).split()


def page(title: str, seed: int) -> str:
    """A page whose prose shares almost no word sequence with another seed's (no near-duplicates)."""
    words = WORDS[seed * 12 :] + WORDS[: seed * 12]
    sentences = [
        f"{title} report {i}: " + " ".join(words[(i * 5 + k * 7) % len(words)] for k in range(14)) + "."
        for i in range(14)
    ]
    body = f"<article><h1>{title}</h1><p>{' '.join(sentences)}</p></article>"
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>"


# --------------------------------------------------------------------------- parsing


def test_a_news_sitemap_gives_articles_with_title_and_publication_date() -> None:
    body = news_sitemap(
        "https://harbor.example",
        [("/a", "Ferry strike", "2026-11-30T08:00:00+01:00"), ("/b", "Quay repairs", "2026-12-01")],
        extra="<url><loc>https://harbor.example/about</loc></url>",
    ).encode()
    assert is_sitemap(body)
    parsed = parse_sitemap(body, sitemap_url="https://harbor.example/news.xml")
    assert parsed.format == "sitemap-news"
    assert [(e.link, e.title, e.source) for e in parsed.entries] == [
        ("https://harbor.example/b", "Quay repairs", "Harbor Post"),
        ("https://harbor.example/a", "Ferry strike", "Harbor Post"),
    ], "newest first; the page without news:news is not an article"
    assert parsed.entries[1].published == datetime(2026, 11, 30, 7, tzinfo=UTC)
    assert parsed.entries[1].updated == parsed.entries[1].published, "publication date stands in for lastmod"
    assert parsed.not_articles == 1


def test_an_ordinary_sitemap_keeps_only_urls_that_look_like_articles() -> None:
    base = "https://valley.example"
    body = urlset(
        base,
        [
            ("/", None),
            ("/politics", None),
            ("/world/europe", None),
            ("/about-us", None),
            ("/tag/farming-news-today", None),
            ("/2026/12/01/bridge-vote", "2026-12-01T10:00:00Z"),
            ("/news/local/new-bridge-for-the-valley-farmers", "2026-12-02"),
            ("/story/1234567", None),
        ],
    ).encode()
    parsed = parse_sitemap(body, sitemap_url=f"{base}/sitemap.xml", source="Valley")
    assert sorted(e.link for e in parsed.entries) == [
        f"{base}/2026/12/01/bridge-vote",
        f"{base}/news/local/new-bridge-for-the-valley-farmers",
        f"{base}/story/1234567",
    ]
    assert parsed.not_articles == 5
    assert {e.source for e in parsed.entries} == {"Valley"}
    lastmods = {e.link: e.updated for e in parsed.entries}
    assert lastmods[f"{base}/2026/12/01/bridge-vote"] == datetime(2026, 12, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "article"),
    [
        ("https://x.example/", False),
        ("https://x.example/sport", False),
        ("https://x.example/contact", False),
        ("https://x.example/author/jane-q-public", False),
        ("https://x.example/category/local-news-and-views", False),
        ("https://x.example/20261201-bridge", True),
        ("https://x.example/sport/cup-final-ends-in-a-draw.html", True),
        ("https://x.example/a/b/98765", True),
        ("https://x.example/news/short-slug", False),
    ],
)
def test_article_url_rule(url: str, article: bool) -> None:
    assert is_article_url(url) is article


def test_an_index_lists_children_and_unchanged_children_are_not_fetched_again() -> None:
    base = "https://harbor.example"
    body = index(base, [("/s1.xml", "2026-12-01"), ("/s2.xml", "2026-12-05"), ("/s3.xml", None), ("/s1.xml", None)])
    parsed = parse_sitemap(body.encode(), sitemap_url=f"{base}/index.xml")
    assert parsed.format == "sitemapindex" and parsed.entries == ()
    assert [ref.url for ref in parsed.sitemaps] == [
        f"{base}/s1.xml",
        f"{base}/s2.xml",
        f"{base}/s3.xml",
        f"{base}/s1.xml",
    ]
    fetched = datetime(2026, 12, 3, tzinfo=UTC)
    known = {
        f"{base}/{name}": FeedState(f"{base}/{name}", last_success_at=fetched)
        for name in ("s1.xml", "s2.xml", "s3.xml")
    }
    specs, unchanged, errors = children_to_fetch(FeedSpec(f"{base}/index.xml", source="H"), parsed, known, nested=False)
    assert [spec.url for spec in specs] == [f"{base}/s2.xml", f"{base}/s3.xml"], "s1 unchanged since; s3 has no lastmod"
    assert unchanged == 1 and errors == []
    assert specs[0].source == "H" and specs[0].state == known[f"{base}/s2.xml"]


def test_an_index_inside_an_index_or_listing_itself_is_reported_not_followed() -> None:
    base = "https://harbor.example"
    parsed = parse_sitemap(
        index(base, [("/index.xml", None), ("/s1.xml", None)]).encode(), sitemap_url=f"{base}/index.xml"
    )
    specs, _, errors = children_to_fetch(FeedSpec(f"{base}/index.xml"), parsed, {}, nested=False)
    assert [spec.url for spec in specs] == [f"{base}/s1.xml"]
    assert [reason.reason for _, reason in errors] == [f"sitemap index {base}/index.xml lists itself; not followed"]
    specs, _, errors = children_to_fetch(FeedSpec(f"{base}/index.xml"), parsed, {}, nested=True)
    assert specs == [] and "listed inside another sitemap index" in errors[0][1].reason


def test_gzipped_sitemaps_are_read_and_gzip_bombs_are_refused() -> None:
    body = news_sitemap("https://h.example", [("/a", "A", "2026-12-01")]).encode()
    packed = gzip.compress(body)
    assert is_sitemap(inflate(packed, "u"))
    assert [e.link for e in parse_sitemap(packed, sitemap_url="https://h.example/n.xml.gz").entries] == [
        "https://h.example/a"
    ]
    bomb = gzip.compress(b"<urlset>" + b" " * (60 * 1024 * 1024))
    assert len(bomb) < 200_000
    with pytest.raises(FeedParseError, match="inflates to more than"):
        parse_sitemap(bomb, sitemap_url="https://h.example/bomb.xml.gz")


def test_a_file_over_the_protocol_limit_is_read_to_the_limit_and_the_rest_recorded() -> None:
    base = "https://h.example"
    paths = [(f"/2026/12/01/story-{i}", None) for i in range(MAX_SITEMAP_URLS + 5)]
    parsed = parse_sitemap(urlset(base, paths).encode(), sitemap_url=f"{base}/big.xml")
    assert len(parsed.entries) == MAX_SITEMAP_URLS
    assert parsed.skipped and "50,000" in parsed.skipped[0][1]
    exact = parse_sitemap(urlset(base, paths[:MAX_SITEMAP_URLS]).encode(), sitemap_url=f"{base}/big.xml")
    assert len(exact.entries) == MAX_SITEMAP_URLS and exact.skipped == ()


def test_entity_expansion_and_external_entities_never_expand(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + f"]><urlset {NS}><url><loc>https://h.example/2026/12/01/x-&i;</loc></url></urlset>"
    )
    with pytest.raises(FeedParseError, match="removed 8 unsafe entity declaration"):
        parse_sitemap(laughs.encode(), sitemap_url="https://h.example/laughs.xml")
    external = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file://{secret}">]>'
        f"<urlset {NS}><url><loc>https://h.example/2026/12/01/&x;</loc></url></urlset>"
    )
    try:
        parsed = parse_sitemap(external.encode(), sitemap_url="https://h.example/xxe.xml")
    except FeedParseError as error:
        assert "TOP-SECRET" not in error.reason
    else:
        assert all("TOP-SECRET" not in e.link for e in parsed.entries)


def test_a_malformed_sitemap_is_an_error_with_a_reason() -> None:
    with pytest.raises(FeedParseError, match="not a well-formed sitemap"):
        parse_sitemap(f"<urlset {NS}><url><loc>https://h.example/a".encode(), sitemap_url="https://h.example/bad.xml")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpora/feeds/sitemaps is not present")
def test_every_xml_sitemap_of_the_corpus_parses() -> None:
    read = 0
    for path in sorted(CORPUS.rglob("*")):
        body = inflate(path.read_bytes(), str(path)) if path.is_file() else b""
        if path.is_file() and is_sitemap(body):
            parsed = parse_sitemap(body, sitemap_url=f"https://example.com/{path.name}")
            assert parsed.entries or parsed.sitemaps or parsed.not_articles, path
            read += 1
    assert read >= 15


# --------------------------------------------------------------------------- runs over loopback


def _config(lake: Path, url: str) -> RunConfig:
    return RunConfig(
        output=str(lake), feeds=(FeedSpec(url=url),), http=HttpConfig(allow_private_networks=True, min_delay=0)
    )


def test_a_site_with_only_a_news_sitemap_is_ingested_then_incrementally(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with LoopbackServer() as server:
        base = server.url("").rstrip("/")
        for seed, name in enumerate(("ferry", "quay", "bridge", "market")):
            server.add(f"/news/2026/12/{name}-story-today", page(f"{name.title()} story", seed))
        server.add(
            "/news-1.xml",
            news_sitemap(
                base,
                [
                    ("/news/2026/12/ferry-story-today", "Ferry", "2026-12-01"),
                    ("/news/2026/12/quay-story-today", "Quay", "2026-12-01"),
                ],
            ),
            content_type="application/xml",
        )
        server.add(
            "/pages.xml",
            urlset(base, [("/about", None), ("/news/2026/12/bridge-story-today", "2026-12-01")]),
            content_type="application/xml",
        )
        listing = index(base, [("/news-1.xml", "2026-11-01"), ("/pages.xml", "2026-11-01")])
        server.add_sequence(
            "/sitemap_index.xml",
            [
                route(listing, headers={"ETag": '"v1"'}, content_type="application/xml"),
                route(b"", status=304, headers={"ETag": '"v1"'}, content_type=None),
            ],
        )

        first = run(_config(lake, f"{base}/sitemap_index.xml"))
        con = lake_sql.connect(str(lake))
        assert sorted(r[0] for r in con.execute("SELECT url FROM articles").fetchall()) == [
            f"{base}/news/2026/12/bridge-story-today",
            f"{base}/news/2026/12/ferry-story-today",
            f"{base}/news/2026/12/quay-story-today",
        ]
        assert first.counters.get("sitemaps_ok") == 3
        assert "/about" not in server.requests, "a site page listed in the sitemap is never fetched"

        before = len(server.requests)
        run(_config(lake, f"{base}/sitemap_index.xml"))
        again = server.requests[before:]
        assert server.headers_for("/sitemap_index.xml").get("if-none-match") == '"v1"'
        assert [path for path in again if path != "/robots.txt"] == ["/sitemap_index.xml"], (
            "an unchanged index (304) costs one request"
        )

        # One child changes: a new article in news-1, its lastmod in the index moves on.
        changed = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        server.add(
            "/news-1.xml",
            news_sitemap(
                base,
                [
                    ("/news/2026/12/market-story-today", "Market", "2026-12-06"),
                    ("/news/2026/12/ferry-story-today", "Ferry", "2026-12-01"),
                    ("/news/2026/12/quay-story-today", "Quay", "2026-12-01"),
                ],
            ),
            content_type="application/xml",
        )
        server.add(
            "/sitemap_index.xml",
            index(base, [("/news-1.xml", changed), ("/pages.xml", "2026-11-01")]),
            headers={"ETag": '"v2"'},
            content_type="application/xml",
        )
        before = len(server.requests)
        run(_config(lake, f"{base}/sitemap_index.xml"))
        third = [path for path in server.requests[before:] if path not in ("/robots.txt", "/.well-known/tdmrep.json")]
        assert sorted(third) == ["/news-1.xml", "/news/2026/12/market-story-today", "/sitemap_index.xml"], (
            "only the changed child and the new article are fetched"
        )
    con = lake_sql.connect(str(lake))
    assert con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchall() == [(4, 4)]


def test_hostile_sitemaps_are_dead_letters_and_the_run_goes_on(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with LoopbackServer() as server:
        base = server.url("").rstrip("/")
        server.add("/2026/12/01/the-good-story-today", page("Good story", 1))
        server.add(
            "/good.xml", urlset(base, [("/2026/12/01/the-good-story-today", None)]), content_type="application/xml"
        )
        server.add("/nested.xml", index(base, [("/good.xml", None)]), content_type="application/xml")
        server.add("/broken.xml", f"<urlset {NS}><url><loc>{base}/x", content_type="application/xml")
        server.add(
            "/bomb.xml.gz", gzip.compress(b"<urlset>" + b" " * (60 * 1024 * 1024)), content_type="application/gzip"
        )
        children = [
            ("/index.xml", None),
            ("/nested.xml", None),
            ("/broken.xml", None),
            ("/bomb.xml.gz", None),
            ("/good.xml", None),
        ]
        server.add("/index.xml", index(base, children), content_type="application/xml")
        result = run(_config(lake, f"{base}/index.xml"))
    con = lake_sql.connect(str(lake))
    assert con.execute("SELECT url FROM articles").fetchall() == [(f"{base}/2026/12/01/the-good-story-today",)]
    letters = dict(con.execute("SELECT input_id, reason FROM dead_letters WHERE stage = 'feeds'").fetchall())
    assert "lists itself" in letters[f"{base}/index.xml"]
    assert "listed inside another sitemap index" in letters[f"{base}/nested.xml"]
    assert "not a well-formed sitemap" in letters[f"{base}/broken.xml"]
    assert "inflates to more than" in letters[f"{base}/bomb.xml.gz"]
    assert result.dead_letters >= 4


@pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint())
def test_the_stream_reads_a_sitemap_index_and_picks_up_a_changed_child(tmp_path: Path) -> None:
    output, feeds, log = tmp_path / "lake", tmp_path / "feeds.txt", tmp_path / "stream.log"
    with LoopbackServer() as server:
        base = server.url("").rstrip("/")
        for seed, name in enumerate(("ferry", "quay", "market")):
            server.add(f"/news/2026/12/{name}-story-today", page(f"{name.title()} story", seed))
        old = [("/news/2026/12/ferry-story-today", "Ferry", "2026-12-01")]
        server.add("/news-1.xml", news_sitemap(base, old), content_type="application/xml")
        server.add("/news-2.xml", news_sitemap(base, [("/news/2026/12/quay-story-today", "Quay", "2026-12-01")]))
        server.add("/index.xml", index(base, [("/news-1.xml", "2026-11-01"), ("/news-2.xml", "2026-11-01")]))
        feeds.write_text(f"{base}/index.xml\n")
        process = start_stream(feeds, output, log)
        try:
            wait_for(lambda: len(urls_in_lake(output)) == 2, 90, "both sitemaps' articles in the lake", log)
            before = len(server.requests)
            new = [("/news/2026/12/market-story-today", "Market", "2026-12-06"), *old]
            server.add("/news-1.xml", news_sitemap(base, new), content_type="application/xml")
            changed = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
            server.add("/index.xml", index(base, [("/news-1.xml", changed), ("/news-2.xml", "2026-11-01")]))
            wait_for(lambda: f"{base}{new[0][0]}" in urls_in_lake(output), 30, "the changed child's article", log)
            later = server.requests[before:]
            assert "/news-1.xml" in later and "/news-2.xml" not in later, "only the changed child is fetched again"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()
        finally:
            if process.poll() is None:
                kill_group(process)
    assert sorted(urls_in_lake(output)) == sorted(
        f"{base}/news/2026/12/{n}-story-today" for n in ("ferry", "market", "quay")
    )

"""Revisions: an article corrected in place ends as one ``articles`` row and one ``revisions`` row per version.

Real runs over a loopback site (real HTTP), the lake read back through ``lake_sql.connect``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable
from factories import make_article
from httpserver import LoopbackServer

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import run
from newsbeam.schemas.records import FeedEntry, FeedSpec
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.lake.revisions import Previous, Version, with_earlier_copies, word_changes
from newsbeam.transforms.lake.state import SEEN_COLUMNS, seen_urls
from newsbeam.transforms.read.feed_parser import parse_feed
from newsbeam.transforms.read.seen import is_new

UTC = timezone.utc
FIRST = (
    "Maria Jensen, the harbour master of Port Ellery, said on Monday that the northern quay will close "
    "for repairs in June. The Port Ellery council voted to fund the work after a storm damaged the "
    "seawall last winter. Fishing crews will moor at the southern basin while the crane barge works. "
    "Jensen said the closure would last six weeks and that ferries to Kelby Island keep their timetable."
)
SECOND = (
    FIRST.replace("Maria Jensen", "Oskar Lindqvist")
    .replace("Jensen said", "Lindqvist said")
    .replace("six weeks", "eight weeks")
)
OTHER = (
    "Valley farmers in Brackenridge counted many new lambs this spring and asked the county for a new "
    "bridge over the Mill River. The county engineer said a survey would start in August and that the "
    "old ford would stay open to tractors. Farmers said the ford floods every April and cuts the valley off."
)


def page(title: str, text: str) -> str:
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{text}</p></article></body></html>"
    )


def atom(base: str, entries: list[tuple[str, str, str]]) -> str:
    """An Atom feed of (path, title, updated) entries, all published on 2024-05-06."""
    items = "".join(
        f"<entry><title>{title}</title><link href='{base}{path}'/><id>{base}{path}</id>"
        f"<published>2024-05-06T08:00:00Z</published><updated>{updated}</updated></entry>"
        for path, title, updated in entries
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>Ellery Gazette</title><id>{base}/</id><updated>2024-05-07T00:00:00Z</updated>{items}</feed>"
    )


def ingest(lake: Path, feed_url: str) -> str:
    config = RunConfig(
        output=str(lake),
        feeds=(FeedSpec(url=feed_url),),
        http=HttpConfig(allow_private_networks=True, min_delay=0),
    )
    return run(config).run_id


def lake_state(lake: Path) -> dict[str, list[tuple[object, ...]]]:
    con = lake_sql.connect(str(lake))
    return {
        "articles": con.execute("SELECT article_id, url, title, text FROM articles ORDER BY url").fetchall(),
        "revisions": con.execute(
            "SELECT article_id, version, title, text_hash, words_added, words_removed, title_changed, updated "
            "FROM revisions ORDER BY article_id, version"
        ).fetchall(),
        "entities": con.execute("SELECT article_id, name FROM entities ORDER BY article_id, name").fetchall(),
        "article_entities": con.execute(
            "SELECT article_id, name FROM article_entities ORDER BY article_id, name"
        ).fetchall(),
        "hashes": con.execute("SELECT article_id, content_hash FROM articles ORDER BY url").fetchall(),
    }


def test_an_article_corrected_in_place_ends_as_one_row_with_two_revisions(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with LoopbackServer() as server:
        base = server.url("").rstrip("/")
        server.add("/quay", page("Northern quay to close", FIRST))
        server.add("/lambs", page("Valley asks for bridge", OTHER))
        feed_v1 = [
            ("/quay", "Northern quay to close", "2024-05-06T08:00:00Z"),
            ("/lambs", "Bridge", "2024-05-06T09:00:00Z"),
        ]
        server.add("/feed.atom", atom(base, feed_v1), content_type="application/atom+xml")
        feed_url = f"{base}/feed.atom"

        first_run = ingest(lake, feed_url)
        first = lake_state(lake)
        assert [row[1] for row in first["articles"]] == [f"{base}/lambs", f"{base}/quay"]
        quay_id = first["articles"][1][0]
        assert [(r[0], r[1], r[6]) for r in first["revisions"]] == sorted(
            [(quay_id, 1, False), (first["articles"][0][0], 1, False)]
        )
        first_entities = {name for article, name in first["article_entities"] if article == quay_id}
        assert "Maria Jensen" in first_entities, first_entities

        # Corrected in place: new text and title at the same URL; the feed entry's updated moves forward.
        server.add("/quay", page("Northern quay to close for eight weeks", SECOND))
        feed_v2 = [("/quay", "Northern quay to close for eight weeks", "2024-05-08T12:30:00Z"), feed_v1[1]]
        server.add("/feed.atom", atom(base, feed_v2), content_type="application/atom+xml")
        before = len(server.requests)
        ingest(lake, feed_url)
        second_requests = server.requests[before:]
        second = lake_state(lake)

        before = len(server.requests)
        ingest(lake, feed_url)  # nothing changed: nothing fetched but the feed, nothing added
        third_requests = server.requests[before:]
        third = lake_state(lake)

    assert second_requests.count("/quay") == 1 and "/lambs" not in second_requests
    quay_rows = [row for row in second["articles"] if row[0] == quay_id]
    assert len(second["articles"]) == 2
    assert len(quay_rows) == 1
    assert quay_rows[0][2] == "Northern quay to close for eight weeks"
    assert "Oskar Lindqvist" in str(quay_rows[0][3]) and "Maria Jensen" not in str(quay_rows[0][3])

    revisions = [row for row in second["revisions"] if row[0] == quay_id]
    assert [row[1] for row in revisions] == [1, 2]
    v1, v2 = revisions
    added, removed = word_changes(FIRST, SECOND)
    # "Maria Jensen" -> "Oskar Lindqvist", "Jensen said" -> "Lindqvist said", "six" -> "eight".
    assert (added, removed) == (4, 4)
    assert (v2[4], v2[5], v2[6]) == (4, 4, True)
    assert (v1[5], v1[6]) == (0, False) and v1[4] > 50
    assert v1[3] != v2[3]
    assert v2[3] == dict(second["hashes"])[quay_id]
    assert v2[7] == datetime(2024, 5, 8, 12, 30, tzinfo=UTC)

    quay_entities = {name for article, name in second["article_entities"] if article == quay_id}
    assert "Oskar Lindqvist" in quay_entities and "Maria Jensen" not in quay_entities
    salient = {name for article, name in second["entities"] if article == quay_id}
    assert salient and salient <= quay_entities
    assert "Maria Jensen" not in salient
    # The other article's rows are untouched (its file was not rewritten or was rewritten whole).
    assert [row for row in second["entities"] if row[0] != quay_id] == [
        row for row in first["entities"] if row[0] != quay_id
    ]

    assert third_requests == ["/feed.atom"]
    assert third == second

    # The correction replaced the row in one commit; the lake as of run 1 still reads the first version.
    history = DeltaTable(str(lake / "articles")).history()
    assert [entry["operation"] for entry in history] == ["WRITE", "WRITE", "CREATE TABLE"]
    as_of = lake_sql.connect(str(lake), as_of=first_run)
    assert as_of.execute("SELECT count(*) FROM revisions").fetchone() == (2,)
    (old_text,) = as_of.execute("SELECT text FROM articles WHERE article_id = ?", [quay_id]).fetchone()  # type: ignore[misc]
    assert "Maria Jensen" in old_text


def test_an_unchanged_relisting_is_skipped_without_fetching() -> None:
    stamp = datetime(2024, 5, 6, 8, tzinfo=UTC)
    rows = [
        {
            "canonical_url": "https://a.example/one",
            "article_url": "https://a.example/one",
            "updated": stamp,
            "first_seen": datetime(2024, 5, 7, tzinfo=UTC),
        },
        {
            "canonical_url": "https://a.example/copy",
            "article_url": "https://a.example/one",
            "updated": None,
            "first_seen": datetime(2024, 5, 7, tzinfo=UTC),
        },
        {
            "canonical_url": "https://a.example/old",
            "article_url": "https://a.example/old",
            "updated": None,
            "first_seen": datetime(2024, 5, 7, tzinfo=UTC),
        },
    ]
    seen = seen_urls(pa.Table.from_pylist(rows, schema=SEEN_COLUMNS))

    def entry(url: str, updated: datetime | None) -> FeedEntry:
        return FeedEntry(feed_url="https://a.example/feed", link=url, updated=updated)

    assert not is_new(entry("https://a.example/one", stamp), seen)
    assert not is_new(entry("https://a.example/one", None), seen)
    assert is_new(entry("https://a.example/one", datetime(2024, 5, 6, 9, tzinfo=UTC)), seen)
    # A copy collapsed into another article is never fetched again, whatever its feed says.
    assert not is_new(entry("https://a.example/copy", datetime(2030, 1, 1, tzinfo=UTC)), seen)
    # Rows written before ``updated`` was stored: the fetch time is the baseline.
    assert not is_new(entry("https://a.example/old", datetime(2024, 5, 6, tzinfo=UTC)), seen)
    assert is_new(entry("https://a.example/old", datetime(2024, 5, 8, tzinfo=UTC)), seen)
    assert is_new(entry("https://a.example/new", None), seen)


def test_feed_updated_comes_only_from_the_feeds_own_field() -> None:
    rss = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        b"<item><link>https://a.example/1</link><pubDate>Mon, 06 May 2024 10:00:00 GMT</pubDate></item>"
        b"</channel></rss>"
    )
    (plain,) = parse_feed(rss, feed_url="https://a.example/rss").entries
    assert plain.updated is None and plain.published == datetime(2024, 5, 6, 10, tzinfo=UTC)
    entries = parse_feed(
        atom("https://a.example", [("/q", "Q", "2024-05-08T12:30:00Z")]).encode(), feed_url="https://a.example/f"
    )
    assert entries.entries[0].updated == datetime(2024, 5, 8, 12, 30, tzinfo=UTC)
    json_feed = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": "1", '
        b'"url": "https://a.example/j", "content_text": "x", "date_published": "2024-05-06T10:00:00Z", '
        b'"date_modified": "2024-05-09T07:00:00+02:00"}]}'
    )
    (item,) = parse_feed(json_feed, feed_url="https://a.example/feed.json").entries
    assert item.updated == datetime(2024, 5, 9, 5, tzinfo=UTC)


def test_a_new_version_keeps_listing_the_copies_earlier_runs_collapsed_into_it() -> None:
    old = Version("id1", "https://a.example/q", datetime(2024, 5, 6, tzinfo=UTC), "Q", FIRST, "h1")
    previous = Previous(old, 1, ("https://b.example/copy", "https://c.example/q?amp"))
    new = make_article("https://a.example/q", SECOND, duplicate_urls=("https://c.example/q?amp", "https://d.example/q"))
    kept = with_earlier_copies(new, previous)
    assert kept.duplicate_urls == ("https://b.example/copy", "https://c.example/q?amp", "https://d.example/q")
    assert with_earlier_copies(new, None) is new


def test_word_changes_count_a_multiset_difference() -> None:
    assert word_changes("", "one two two") == (3, 0)
    assert word_changes("the cat sat on the mat", "the cat sat on a mat today") == (2, 1)
    assert word_changes("a b c", "c b a") == (0, 0)


def test_a_sitemaps_lastmod_moving_forward_revises_the_article(tmp_path: Path) -> None:
    """Sitemaps put ``lastmod`` in ``FeedEntry.updated``: the same rule refetches and revises."""
    lake = tmp_path / "lake"
    path = "/2024/05/06/northern-quay-to-close"

    def sitemap(lastmod: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{base}{path}</loc><lastmod>{lastmod}</lastmod></url></urlset>"
        )

    with LoopbackServer() as server:
        base = server.url("").rstrip("/")
        server.add(path, page("Northern quay to close", FIRST))
        server.add("/sitemap.xml", sitemap("2024-05-06T08:00:00Z"), content_type="application/xml")
        ingest(lake, f"{base}/sitemap.xml")
        ingest(lake, f"{base}/sitemap.xml")  # unchanged: the page is not fetched again
        server.add(path, page("Northern quay to close", SECOND))
        server.add("/sitemap.xml", sitemap("2024-05-09T10:00:00Z"), content_type="application/xml")
        ingest(lake, f"{base}/sitemap.xml")
        assert server.requests.count(path) == 2
    state = lake_state(lake)
    assert len(state["articles"]) == 1
    assert "Oskar Lindqvist" in str(state["articles"][0][3])
    assert [(row[1], row[4], row[5]) for row in state["revisions"]][1:] == [(2, 4, 4)]
    assert [row[1] for row in state["revisions"]] == [1, 2]

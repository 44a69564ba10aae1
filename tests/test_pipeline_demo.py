"""The whole batch path over the bundled sample site: loopback HTTP, Beam, Parquet, DuckDB.

This is what ``make demo`` runs. The site's special cases are listed in
``pipeline/demo/site/README.md``; each is checked here through SQL on the lake.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import main

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    output = tmp_path_factory.mktemp("demo") / "lake"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["demo", "--output", str(output)])
    assert code == 0
    yield output, printed.getvalue()


@pytest.fixture(scope="module")
def sql(lake: tuple[Path, str]) -> duckdb.DuckDBPyConnection:
    return lake_sql.connect(str(lake[0]))


def rows(sql: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    return sql.execute(query).fetchall()


def test_demo_prints_summary_and_query_rows(lake: tuple[Path, str]) -> None:
    printed = lake[1]
    assert "feeds ok" in printed and "rows written: articles" in printed
    assert "Most-covered entities" in printed and "│" in printed  # DuckDB rendered result rows


def test_every_outlet_and_format_lands(sql: duckdb.DuckDBPyConnection) -> None:
    sources = rows(sql, "SELECT source, count(*) FROM articles GROUP BY 1 ORDER BY 1")
    assert [s for s, _ in sources] == ["Civic Ledger", "Harbor Herald", "The Northwind Post"]
    assert all(n >= 5 for _, n in sources)
    formats = rows(sql, "SELECT count(DISTINCT feed_url) FROM articles")
    assert formats == [(3,)]  # RSS 2.0, Atom 1.0 and JSON Feed 1.1


def test_summary_counters_match_the_lake(lake: tuple[Path, str], sql: duckdb.DuckDBPyConnection) -> None:
    manifest = json.loads(next((lake[0] / "_runs").glob("*.json")).read_text())
    counters = manifest["counters"]
    assert counters["feeds_ok"] == 3 and counters.get("feeds_failed", 0) == 0
    assert counters["rows_articles"] == rows(sql, "SELECT count(*) FROM articles")[0][0]
    assert counters["rows_entities"] == rows(sql, "SELECT count(*) FROM entities")[0][0]
    assert counters["dead_letters"] == rows(sql, "SELECT count(*) FROM dead_letters")[0][0]
    # Nothing lost: every feed entry is a kept article, a collapsed copy, or a dead letter of clean.
    kept = counters["rows_articles"] + counters["rows_duplicates"]
    assert kept + counters.get("clean_failed", 0) == counters["entries"]


def test_tracked_link_and_wire_copy_collapse(sql: duckdb.DuckDBPyConnection) -> None:
    duplicates = rows(sql, "SELECT url, kind, canonical_url, similarity FROM duplicates ORDER BY kind")
    assert [kind for _, kind, _, _ in duplicates] == ["exact_url", "near"]
    (url, _, canonical, similarity), (copy, _, wire_kept, near_similarity) = duplicates
    assert "utm_source=rss" in url and "utm_" not in canonical and similarity == 1.0
    kept = rows(sql, f"SELECT duplicate_urls FROM articles WHERE canonical_url = '{canonical}'")
    assert kept == [([url],)]
    # The wire story ran in two outlets with an edited sentence: the earlier-published copy is kept.
    assert "kenya-fishing-crew-rescued" in copy and "japanese-ship-finds-kenyan-fishermen" in wire_kept
    assert 0.5 <= near_similarity < 1.0


def test_one_event_in_two_outlets_is_one_story_and_a_week_later_is_another(sql: duckdb.DuckDBPyConnection) -> None:
    story = dict(rows(sql, "SELECT regexp_extract(url, '[^/]+[.]html$'), story_id FROM articles"))
    assert story["critical-minerals-talks-open.html"] == story["port-ellery-minerals-framework.html"]
    assert story["minerals-pact-stalls-geneva.html"] != story["critical-minerals-talks-open.html"]
    assert story["port-strike-ends.html"] != story["port-strike.html"]
    stories = rows(
        sql,
        "SELECT article_count, len(sources) FROM stories WHERE story_id = "
        f"'{story['critical-minerals-talks-open.html']}'",
    )
    assert stories == [(2, 2)]


def test_missing_page_is_dead_lettered_and_falls_back_to_feed_summary(sql: duckdb.DuckDBPyConnection) -> None:
    letters = rows(sql, "SELECT stage, error_type, input_id, details FROM dead_letters WHERE stage = 'fetch'")
    assert len(letters) == 1
    _, error_type, input_id, details = letters[0]
    assert error_type == "HTTPStatusError" and json.loads(details)["status"] == 404
    fallback = rows(sql, f"SELECT text_source, length(text) FROM articles WHERE url = '{input_id}'")
    assert fallback and fallback[0][0] == "feed" and fallback[0][1] > 200


def test_gallery_without_text_is_not_an_article_from_page(sql: duckdb.DuckDBPyConnection) -> None:
    gallery = rows(sql, "SELECT text_source FROM articles WHERE url LIKE '%/galleries/%'")
    letters = rows(sql, "SELECT stage FROM dead_letters WHERE input_id LIKE '%/galleries/%'")
    assert gallery == [("feed",)] or letters == [("clean",)]


def test_legacy_charset_page_decodes(sql: duckdb.DuckDBPyConnection) -> None:
    text = rows(sql, "SELECT text FROM articles WHERE url LIKE '%zoe-muller%'")[0][0]
    assert "Zoë Müller" in text and "São Paulo" in text and "Ã" not in text


def test_published_and_language_and_partition_date(sql: duckdb.DuckDBPyConnection) -> None:
    assert rows(sql, "SELECT count(*) FROM articles WHERE published IS NULL OR language IS NULL") == [(0,)]
    mismatched = rows(
        sql,
        "SELECT count(*) FROM articles "
        "WHERE CAST(date AS VARCHAR) <> strftime(published AT TIME ZONE 'UTC', '%Y-%m-%d')",
    )
    assert mismatched == [(0,)]


def test_mention_offsets_point_into_text(sql: duckdb.DuckDBPyConnection) -> None:
    total, wrong = rows(
        sql,
        'SELECT count(*), count(*) FILTER (WHERE substr(text, m.start + 1, m."end" - m.start) <> m.text) '
        "FROM (SELECT text, unnest(mentions) AS m FROM articles)",
    )[0]
    assert total > 50 and wrong == 0


def test_sql_articles_per_entity_per_day(sql: duckdb.DuckDBPyConnection) -> None:
    per_day = rows(
        sql,
        "SELECT entity, CAST(date AS VARCHAR) AS day, count(*) FROM entities "
        "WHERE entity IN ('japan', 'kenya') GROUP BY ALL ORDER BY 1, 2",
    )
    assert dict(((e, d), n) for e, d, n in per_day)[("kenya", "2024-05-07")] >= 2
    wire = rows(sql, "SELECT count(*) FROM entities WHERE entity = 'kenya' AND url LIKE '%kenyan-fishermen%'")
    assert wire == [(1,)]  # the wire story is one article (its copy collapsed), under entity=kenya
    slugs = [s for (s,) in rows(sql, "SELECT DISTINCT entity FROM entities")]
    assert slugs and all(SLUG.match(s) for s in slugs)
    assert rows(sql, "SELECT count(*) FROM entities WHERE type NOT IN ('PER','ORG','LOC','MISC')") == [(0,)]


def test_sql_one_articles_entities_agree_with_entity_table(sql: duckdb.DuckDBPyConnection) -> None:
    article_id, title = rows(sql, "SELECT article_id, title FROM articles WHERE url LIKE '%kelp-farms%'")[0]
    from_article = rows(
        sql,
        f"SELECT e.slug, e.salience FROM (SELECT unnest(entities) AS e FROM articles "
        f"WHERE article_id = '{article_id}') ORDER BY e.salience DESC, e.slug",
    )
    from_table = rows(
        sql,
        f"SELECT entity, salience FROM entities WHERE article_id = '{article_id}' ORDER BY salience DESC, entity",
    )
    assert from_table and set(from_table) <= set(from_article)
    assert all(salience >= 0.03 for _, salience in from_table) and len(from_table) <= 10
    assert rows(sql, f"SELECT DISTINCT title FROM entities WHERE article_id = '{article_id}'") == [(title,)]


def test_sql_dead_letters_by_stage(sql: duckdb.DuckDBPyConnection) -> None:
    by_stage = dict(rows(sql, "SELECT stage, count(*) FROM dead_letters GROUP BY 1"))
    assert by_stage.get("fetch") == 1
    assert set(by_stage) <= {"fetch", "clean"}


def test_every_story_id_has_a_stories_row(sql: duckdb.DuckDBPyConnection) -> None:
    orphans = rows(sql, "SELECT count(*) FROM articles WHERE story_id NOT IN (SELECT story_id FROM stories)")
    assert orphans == [(0,)]
    counts = rows(
        sql,
        "SELECT any_value(s.article_count), count(a.article_id) FROM stories s JOIN articles a USING (story_id) "
        "GROUP BY s.story_id",
    )
    assert all(stored == found for stored, found in counts)

"""Exact dedup: the documented keep rule, nothing lost, and the Beam transform end to end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.transforms.dedup.exact import DUPLICATES, DeduplicateExact, canonical_sort_key, collapse
from tests.factories import FETCHED, make_article

EARLY = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)


def test_earliest_published_wins_then_richest_metadata() -> None:
    late = make_article("https://a.example/x", published=EARLY + timedelta(hours=3), title="T", language="en")
    early = make_article("https://b.example/x", published=EARLY)
    undated_rich = make_article("https://c.example/x", title="T", language="en", description="d")
    ordered = sorted([undated_rich, late, early], key=canonical_sort_key)
    assert [a.url for a in ordered] == ["https://b.example/x", "https://a.example/x", "https://c.example/x"]

    poor = make_article("https://d.example/x", published=EARLY)
    rich = make_article("https://e.example/x", published=EARLY, title="T", authors=("A",), sitename="S")
    assert min([poor, rich], key=canonical_sort_key).url == rich.url


def test_collapse_records_every_copy_and_repoints_earlier_ones() -> None:
    kept = make_article("https://a.example/1", published=EARLY)
    copy = make_article("https://b.example/1", published=EARLY + timedelta(days=1))
    earlier_duplicate = collapse(
        [(copy, ()), (make_article("https://b.example/1?x", canonical_url=copy.url), ())], "exact_url"
    )
    article, duplicates = collapse([(kept, ()), earlier_duplicate], "exact_text")
    assert article.url == kept.url
    assert sorted(d.url for d in duplicates) == ["https://b.example/1", "https://b.example/1?x"]
    assert {d.canonical_article_id for d in duplicates} == {kept.article_id}
    assert {d.kind for d in duplicates} == {"exact_text", "exact_url"}
    assert set(article.duplicate_urls) == {"https://b.example/1", "https://b.example/1?x"}


def test_transform_collapses_by_url_then_text() -> None:
    a = make_article(
        "https://one.example/story?utm_source=rss",
        canonical_url="https://one.example/story",
        text="Shared body.",
        published=EARLY,
    )
    a_again = make_article("https://one.example/story", text="Shared body, updated.", published=EARLY + timedelta(1))
    syndicated = make_article("https://two.example/copy", text="shared   BODY.", published=EARLY + timedelta(2))
    other = make_article("https://three.example/other", text="Different.", fetched_at=FETCHED)
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = pipeline | beam.Create([a, a_again, syndicated, other]) | DeduplicateExact()
        assert_that(
            result["main"] | "KeptUrls" >> beam.Map(lambda x: (x.url, sorted(x.duplicate_urls))),
            equal_to(
                [
                    (
                        "https://one.example/story?utm_source=rss",
                        ["https://one.example/story", "https://two.example/copy"],
                    ),
                    ("https://three.example/other", []),
                ]
            ),
            label="kept",
        )
        assert_that(
            result[DUPLICATES] | "DupKinds" >> beam.Map(lambda d: (d.url, d.kind, d.canonical_article_id)),
            equal_to(
                [
                    ("https://one.example/story", "exact_url", a.article_id),
                    ("https://two.example/copy", "exact_text", a.article_id),
                ]
            ),
            label="duplicates",
        )

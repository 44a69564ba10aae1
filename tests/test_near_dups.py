"""Near-duplicate decision, clustering, collapse, cross-run matching and the Beam transform."""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime, timedelta, timezone

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.transforms.dedup.exact import DUPLICATES, as_duplicate
from newsbeam.transforms.dedup.minhash import LshIndex, band_keys, sketch
from newsbeam.transforms.dedup.near import (
    MAX_ALL_PAIRS,
    CandidatePairs,
    CollapseNearIntoEarlierRuns,
    DeduplicateNear,
    Pair,
    Sketch,
    article_sketch,
    best_previous_match,
    bucket_pairs,
    clusters,
    collapse_cluster,
    find_near_duplicates,
    index_from_state,
    near_similarity,
    previous_duplicate,
    state_row,
    to_record,
    verified_pairs,
    with_sketch,
)
from tests.factories import make_article
from tests.test_minhash import ARTICLE, OTHER, edited

EARLY = datetime(2024, 5, 6, 8, tzinfo=timezone.utc)
FURNITURE = (
    "Home News Sport Business Weather Sign in Subscribe\n\n{}\n\nShare this story. Most read: ferry timetable "
    "changes for summer; new cycle lanes on the ring road; photos from the spring fair. Copyright Coast Courier "
    "Media. All rights reserved. Privacy Terms Contact"
)


def sk(name: str, text: str) -> Sketch:
    return Sketch(name, *sketch(text))


def truncated(text: str, share: float) -> str:
    words = text.split()
    return " ".join(words[: round(share * len(words))])


@pytest.mark.parametrize("share", [0.01, 0.02, 0.05])
def test_edited_copies_are_near_duplicates(share: float) -> None:
    score = near_similarity(sk("a", ARTICLE), sk("b", edited(ARTICLE, share, 21)))
    assert score is not None and score >= 0.5


def test_different_articles_are_not() -> None:
    assert near_similarity(sk("a", ARTICLE), sk("b", OTHER)) is None
    assert near_similarity(sk("a", ARTICLE), sk("b", "")) is None


def test_truncated_copy_is_caught_by_containment() -> None:
    original, cut = sk("a", ARTICLE), sk("b", truncated(ARTICLE, 0.6))
    score = near_similarity(original, cut)
    assert score is not None and score > 0.9  # containment, while Jaccard is about 0.6
    reverse = near_similarity(cut, original)
    assert reverse == score


def test_one_quoted_paragraph_is_not_a_copy() -> None:
    paragraph = ARTICLE.split("\n\n")[0]  # a quarter of the article, e.g. quoted in another piece
    assert near_similarity(sk("a", ARTICLE), sk("b", paragraph + "\n\n" + OTHER)) is None
    assert near_similarity(sk("a", ARTICLE), sk("b", paragraph)) is None


def test_copy_in_another_outlets_template_is_a_near_duplicate() -> None:
    assert near_similarity(sk("a", ARTICLE), sk("b", FURNITURE.format(ARTICLE))) is not None


def test_clusters_are_transitive_and_rooted_at_the_smallest_id() -> None:
    roots = clusters([Pair("b", "c", 0.9), Pair("c", "d", 0.8), ("x", "y"), Pair("a", "d", 0.7)])
    assert roots == {"a": "a", "b": "a", "c": "a", "d": "a", "x": "x", "y": "x"}


def test_huge_bucket_is_verified_along_a_window_and_still_forms_one_cluster() -> None:
    sig, size = sketch(ARTICLE)
    members = [Sketch(f"id{i:04d}", sig, size) for i in range(MAX_ALL_PAIRS + 50)]
    pairs = verified_pairs(members)
    assert len(pairs) < len(members) * 40  # not all n^2/2 pairs
    assert set(clusters(pairs).values()) == {"id0000"}


def test_batch_finds_the_copies_and_leaves_the_rest() -> None:
    sketches = [
        sk("orig", ARTICLE),
        sk("edit", edited(ARTICLE, 0.03, 5)),
        sk("trunc", truncated(ARTICLE, 0.7)),
        sk("wrapped", FURNITURE.format(ARTICLE)),
        sk("frost", OTHER),
        sk("frost-edit", edited(OTHER, 0.02, 6)),
    ]
    roots, pairs = find_near_duplicates(sketches)
    assert roots == {
        "edit": "edit",
        "orig": "edit",
        "trunc": "edit",
        "wrapped": "edit",
        "frost": "frost",
        "frost-edit": "frost",
    }
    assert all(0.5 <= p.similarity <= 1.0 for p in pairs)


def test_collapse_keeps_the_earliest_and_records_every_copy_with_its_similarity() -> None:
    first = make_article("https://a.example/kelmport", ARTICLE, published=EARLY)
    copy = make_article("https://b.example/port", edited(ARTICLE, 0.02, 8), published=EARLY + timedelta(hours=2))
    cut = make_article(
        "https://c.example/harbour",
        truncated(ARTICLE, 0.6),
        published=EARLY + timedelta(hours=1),
        duplicate_urls=("https://c.example/harbour?amp",),
    )
    earlier = as_duplicate(make_article("https://c.example/harbour?amp", truncated(ARTICLE, 0.6)), cut, "exact_url")
    sketches = {a.article_id: article_sketch(a) for a in (first, copy, cut)}
    kept, duplicates = collapse_cluster([(copy, ()), (cut, (earlier,)), (first, ())], sketches)
    assert kept.url == first.url
    assert set(kept.duplicate_urls) == {copy.url, cut.url, "https://c.example/harbour?amp"}
    by_url = {d.url: d for d in duplicates}
    assert {d.canonical_article_id for d in duplicates} == {first.article_id}
    assert by_url[copy.url].kind == "near" and 0.7 < by_url[copy.url].similarity < 1.0
    assert by_url[cut.url].kind == "near" and by_url[cut.url].similarity > 0.9  # containment
    assert by_url["https://c.example/harbour?amp"].kind == "exact_url"
    assert by_url["https://c.example/harbour?amp"].similarity == 1.0


def test_copy_in_a_later_run_collapses_into_the_article_published_earlier() -> None:
    index = LshIndex()
    earlier = make_article("https://a.example/kelmport", ARTICLE, published=EARLY)
    index.add(earlier.article_id, *sketch_parts(earlier), url=earlier.canonical_url)
    index.add("frost", *sketch_parts(make_article("https://f.example/frost", OTHER, published=EARLY)))

    later = make_article("https://z.example/port", edited(ARTICLE, 0.04, 3), published=EARLY + timedelta(days=2))
    later_sketch = article_sketch(later)
    match = best_previous_match(index.query(later_sketch.sig), later_sketch.size)
    assert match is not None
    candidate, similarity = match
    assert candidate.id == earlier.article_id and candidate.url == earlier.canonical_url
    duplicate = previous_duplicate(later, candidate, similarity, candidate.url)
    assert (duplicate.url, duplicate.kind, duplicate.canonical_article_id) == (later.url, "near", earlier.article_id)
    assert duplicate.canonical_url == earlier.canonical_url and 0.5 <= duplicate.similarity < 1.0

    unrelated = article_sketch(make_article("https://q.example/q", "A new bakery opened on the square today."))
    assert best_previous_match(index.query(unrelated.sig), unrelated.size) is None


def sketch_parts(article: object) -> tuple[np.ndarray, datetime, int]:
    s = article_sketch(article)  # type: ignore[arg-type]
    return s.sig, article.published, s.size  # type: ignore[attr-defined]


def test_transform_collapses_clusters_and_repoints_exact_duplicates() -> None:
    first = make_article("https://a.example/kelmport", ARTICLE, published=EARLY)
    copy = make_article(
        "https://b.example/port",
        edited(ARTICLE, 0.03, 2),
        published=EARLY + timedelta(hours=3),
        duplicate_urls=("https://b.example/port?amp",),
    )
    cut = make_article("https://c.example/harbour", truncated(ARTICLE, 0.7), published=EARLY + timedelta(hours=1))
    frost = make_article("https://d.example/frost", OTHER, published=EARLY)
    exact = [
        as_duplicate(make_article("https://b.example/port?amp", copy.text), copy, "exact_url"),
        as_duplicate(make_article("https://e.example/frost-copy", OTHER), frost, "exact_text"),
    ]
    with TestPipeline(runner="FnApiRunner") as pipeline:
        articles = pipeline | "Articles" >> beam.Create([first, copy, cut, frost])
        duplicates = pipeline | "Exact" >> beam.Create(exact)
        result = {"main": articles, DUPLICATES: duplicates} | DeduplicateNear()
        assert_that(
            result["main"] | "Kept" >> beam.Map(lambda a: (a.url, sorted(a.duplicate_urls))),
            equal_to(
                [
                    (first.url, sorted([copy.url, cut.url, "https://b.example/port?amp"])),
                    (frost.url, []),
                ]
            ),
            label="kept",
        )
        assert_that(
            result[DUPLICATES] | "Dups" >> beam.Map(lambda d: (d.url, d.kind, d.canonical_article_id)),
            equal_to(
                [
                    (copy.url, "near", first.article_id),
                    (cut.url, "near", first.article_id),
                    ("https://b.example/port?amp", "exact_url", first.article_id),
                    ("https://e.example/frost-copy", "exact_text", frost.article_id),
                ]
            ),
            label="duplicates",
        )


def test_transform_passes_a_run_without_copies_through() -> None:
    articles = [make_article("https://a.example/1", ARTICLE), make_article("https://b.example/2", OTHER)]
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = {
            "main": pipeline | "Articles" >> beam.Create(articles),
            DUPLICATES: pipeline | "None" >> beam.Create([]),
        } | DeduplicateNear()
        assert_that(result["main"] | beam.Map(lambda a: a.url), equal_to([a.url for a in articles]), label="kept")
        assert_that(result[DUPLICATES], equal_to([]), label="dups")


def test_sketch_ignores_everything_but_the_body() -> None:
    a = make_article("https://a.example/1", ARTICLE, title="One title")
    b = dataclasses.replace(a, title="Another title", url="https://b.example/2")
    assert np.array_equal(article_sketch(a).sig, article_sketch(b).sig)


def test_state_rows_rebuild_the_index_and_drop_what_left_the_horizon() -> None:
    old = make_article("https://o.example/old", OTHER, published=EARLY - timedelta(days=20))
    recent = make_article("https://a.example/kelmport", ARTICLE, published=EARLY)
    rows = [state_row(old), state_row(recent)]
    assert len(rows[1]["signature"]) == 512 and rows[1]["indexed_at"] == EARLY
    index = index_from_state(rows)
    assert len(index) == 1
    (found,) = index.query(article_sketch(recent).sig)
    assert (found.id, found.url, found.jaccard) == (recent.article_id, recent.canonical_url, 1.0)


def test_copies_of_earlier_runs_collapse_into_them_with_their_exact_copies() -> None:
    earlier = make_article("https://a.example/kelmport", ARTICLE, published=EARLY)
    load = functools.partial(index_from_state, [state_row(earlier)])
    copy = make_article("https://b.example/port", edited(ARTICLE, 0.03, 7), published=EARLY + timedelta(days=1))
    frost = make_article("https://d.example/frost", OTHER, published=EARLY + timedelta(days=1))
    amp = as_duplicate(make_article("https://b.example/port?amp", copy.text), copy, "exact_url")
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = {
            "main": pipeline | "Articles" >> beam.Create([copy, frost]),
            DUPLICATES: pipeline | "Exact" >> beam.Create([amp]),
        } | CollapseNearIntoEarlierRuns(load)
        assert_that(result["main"] | "Kept" >> beam.Map(lambda a: a.url), equal_to([frost.url]), label="kept")
        assert_that(
            result[DUPLICATES] | "Dups" >> beam.Map(lambda d: (d.url, d.kind, d.canonical_article_id, d.canonical_url)),
            equal_to(
                [
                    (copy.url, "near", earlier.article_id, earlier.canonical_url),
                    (amp.url, "exact_url", earlier.article_id, earlier.canonical_url),
                ]
            ),
            label="duplicates",
        )


def test_carried_sketch_is_the_computed_one_and_takes_no_part_in_equality() -> None:
    article = make_article("https://a.example/kelmport", ARTICLE, published=EARLY)
    carried = with_sketch(article)
    assert carried.minhash is not None and carried == article
    assert np.array_equal(article_sketch(carried).sig, article_sketch(article).sig)
    assert article_sketch(carried).size == article_sketch(article).size
    assert state_row(carried) == state_row(article)
    assert with_sketch(carried) is carried


def test_candidate_pairs_are_those_of_a_group_by_band_key() -> None:
    texts = [ARTICLE, OTHER, *(edited(ARTICLE, share, seed) for share, seed in ((0.02, 1), (0.05, 2), (0.1, 3)))]
    texts += [truncated(ARTICLE, 0.6), edited(OTHER, 0.03, 4), "", "too short"]
    sketches = [sk(f"id{i}", text) for i, text in enumerate(texts)] + [sk("same", ARTICLE)] * 2
    buckets: dict[str, list[str]] = {}
    for s in sketches:
        for key in band_keys(s.sig):
            buckets.setdefault(key, []).append(s.id)
    expected = sorted({pair for ids in buckets.values() for pair in bucket_pairs(ids)})
    assert expected, "the texts share buckets"
    combine = CandidatePairs()
    accumulators = []
    for part in (sketches[:4], sketches[4:], []):
        acc = combine.create_accumulator()
        for s in part:
            acc = combine.add_input(acc, (s.id, to_record(s)))
        accumulators.append(combine.compact(acc))
    assert combine.extract_output(combine.merge_accumulators(accumulators)) == expected
    assert combine.extract_output(combine.create_accumulator()) == []

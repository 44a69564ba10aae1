"""The stream's stateful steps: their pure cores, and the keyed DoFns themselves on Prism with TestStream."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from factories import FETCHED, make_article

from bench.livesite import article_text
from newsbeam.pipeline import lake_sql, runners
from newsbeam.schemas.records import Article, DeadLetter, Duplicate, FeedEntry, FeedSpec, FeedState
from newsbeam.transforms.dedup.exact import DUPLICATES
from newsbeam.transforms.dedup.minhash import LshIndex
from newsbeam.transforms.dedup.near import article_sketch
from newsbeam.transforms.errors import HTTPStatusError
from newsbeam.transforms.fetch.http import HttpResponse
from newsbeam.transforms.lake.state import SeenState
from newsbeam.transforms.stories.index import StoryIndex
from newsbeam.transforms.stream.commit import CommitConfig, commit_window, window_end, window_rows
from newsbeam.transforms.stream.first import FirstArticle, FirstEntry, entry_key, text_key, too_old
from newsbeam.transforms.stream.near import NearDuplicates, decision
from newsbeam.transforms.stream.near_messages import (
    Member,
    Question,
    Signature,
    admitted,
    earlier,
    later,
    reply,
)
from newsbeam.transforms.stream.poll import by_shard, is_stale
from newsbeam.transforms.stream.schedules import (
    REPORT_EVERY,
    FeedSchedule,
    PollConfig,
    after_poll,
    reconcile,
    worth_reporting,
)

needs_prism = pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint())
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron sigma tau upsilon".split()


def prose(seed: int, words: int = 200) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(40)) for _ in range(words))


def edited(text: str, every: int = 50) -> str:
    """``text`` with one word in ``every`` changed: a near copy (Jaccard about 0.8)."""
    words = text.split()
    return " ".join("changed" if i % every == 0 else w for i, w in enumerate(words))


# -- pure cores -------------------------------------------------------------------------------------


def member(article_id: str, stamp: float, when: datetime = FETCHED) -> Member:
    return (article_id, stamp, when.timestamp())


def test_a_bucket_answers_only_with_members_that_arrived_earlier() -> None:
    early, late = member("a", 1.0), member("b", 2.0)
    assert earlier(late, [early]) == ("a",)
    assert earlier(early, [late]) == (), "a later member is never an original"
    assert later(early, [late]) == ("b",), "a member that came first but was fetched later hears of the original"
    assert later(late, [early]) == ()


def test_a_bucket_keeps_the_horizon_and_at_most_its_cap() -> None:
    old = member("old", 1.0, FETCHED - timedelta(days=8))
    members = [old] + [member(f"m{i}", 2.0 + i) for i in range(70)]
    kept = admitted(members, member("new", 100.0), timedelta(days=7))
    assert len(kept) == 64 and kept[-1][0] == "new" and "old" not in {m[0] for m in kept}


def test_a_signature_answers_with_the_estimated_jaccard() -> None:
    text = prose(1)
    original, copy = (
        article_sketch(make_article(f"https://x.example/{n}", t)) for n, t in (("o", text), ("c", edited(text)))
    )
    stored = Signature(original.sig.astype("<u4").tobytes(), original.size, FETCHED, "https://x.example/o")
    asker, answer = reply(Question("copy", copy.sig.astype("<u4").tobytes()), "orig", stored)
    assert asker == "copy" and answer.candidate is not None
    assert answer.candidate.id == "orig" and answer.candidate.jaccard > 0.6 and answer.candidate.url == stored.url
    other = article_sketch(make_article("https://x.example/n", prose(2)))
    _, unrelated = reply(Question("other", other.sig.astype("<u4").tobytes()), "orig", stored)
    assert unrelated.candidate is not None and unrelated.candidate.jaccard < 0.3


def test_decision_prefers_the_lake_original_and_keeps_what_matches_nothing() -> None:
    text = prose(5)
    lake = LshIndex()
    original = make_article("https://lake.example/orig", text, published=FETCHED - timedelta(hours=1))
    s = article_sketch(original)
    lake.add(original.article_id, s.sig, original.published, s.size, original.canonical_url)
    copy = make_article("https://x.example/copy", edited(text))
    (duplicate,) = list(decision(copy, [], lake))
    assert duplicate.tag == DUPLICATES and duplicate.value.canonical_article_id == original.article_id
    other = make_article("https://x.example/other", prose(6))
    assert list(decision(other, [], lake)) == [other]


def test_reconcile_starts_new_feeds_now_without_lake_validators_and_forgets_removed_ones() -> None:
    known = {"https://a/feed": FeedState("https://a/feed", etag='"1"', consecutive_failures=2)}
    earlier = {"https://gone/feed": FeedSchedule(FeedState("https://gone/feed"), 0.0)}
    schedules = reconcile(earlier, [FeedSpec("https://a/feed"), FeedSpec("https://b/feed")], known, 50.0)
    assert set(schedules) == {"https://a/feed", "https://b/feed"}
    assert schedules["https://a/feed"].due == 50.0 and schedules["https://a/feed"].state.etag is None
    assert schedules["https://a/feed"].state.consecutive_failures == 2, "health carries over"


def response(status: int, headers: dict[str, str], body: bytes = b"") -> HttpResponse:
    return HttpResponse("https://a/feed", "https://a/feed", status, headers, body, FETCHED)


def test_after_poll_keeps_validators_on_304_and_backs_off_on_failures() -> None:
    config = PollConfig(min_interval=10, max_interval=600)
    start = FeedSchedule(FeedState("https://a/feed"), 0.0)
    ok = after_poll(start, response(200, {"etag": '"7"', "cache-control": "max-age=120"}), None, config, 1000.0)
    # No dated entries to learn a rate from: max_interval (the max-age hint is only a floor).
    assert ok.state.etag == '"7"' and 1000 + 0.9 * 600 <= ok.due <= 1000 + 1.1 * 600
    same = after_poll(ok, response(304, {}), None, config, 2000.0)
    assert same.state.etag == '"7"' and same.signals == ok.signals
    failed = after_poll(same, HTTPStatusError("HTTP 503", 503, retry_after=3600), None, config, 3000.0)
    assert failed.state.consecutive_failures == 1 and failed.due >= 3000 + 0.9 * 3600, "Retry-After honoured"
    assert failed.state.etag == '"7"', "a failure keeps the validators"


def test_the_feed_list_is_sharded_stably() -> None:
    specs = [FeedSpec(f"https://h{i}.example/feed") for i in range(100)]
    shards = by_shard(specs, 8)
    assert sorted(s.url for _, group in shards for s in group) == sorted(s.url for s in specs)
    assert by_shard(list(reversed(specs)), 8)[0][0] == shards[0][0]


def test_a_window_becomes_rows_with_stories_and_the_newest_feed_state(tmp_path: Path) -> None:
    config = CommitConfig(str(tmp_path), "s")
    a = make_article("https://x.example/a", article_text(1, 1), published=FETCHED)
    dup = Duplicate("https://x.example/a2", a.article_id, a.url, "exact_url", 1.0, None, FETCHED)
    old, new = (FeedState("https://f/", last_attempt_at=FETCHED + timedelta(seconds=s)) for s in (1, 2))
    letter = DeadLetter("feeds", "HTTP 500", "HTTPStatusError", "https://f/", FETCHED)
    rows = window_rows([a, dup, old, new, letter, a], StoryIndex(), "r1", config, snapshot=False)
    tables = sorted(r.table for r in rows)
    assert tables.count("articles") == 1, "an article delivered twice is one row"
    assert {"articles", "seen", "near_state", "stories", "duplicates", "dead_letter", "feed_state"} <= set(tables)
    assert "story_state" not in tables
    (feed,) = [r for r in rows if r.table == "feed_state"]
    assert feed.row["last_attempt_at"] == new.last_attempt_at
    (article,) = [r for r in rows if r.table == "articles"]
    assert article.row["story_id"] == a.article_id and article.row["run_id"] == "r1"
    snap = window_rows([a], StoryIndex(), "r2", config, snapshot=True)
    assert any(r.table == "story_state" for r in snap)


def test_a_window_published_twice_is_committed_once(tmp_path: Path) -> None:
    rows = window_rows(
        [make_article("https://x.example/a", article_text(2, 2))],
        StoryIndex(),
        "w1",
        CommitConfig(str(tmp_path), "s"),
        False,
    )
    assert commit_window(str(tmp_path), "w1", rows, {}) > 0
    assert commit_window(str(tmp_path), "w1", rows, {}) == 0, "a retried window is a no-op"
    count = lake_sql.connect(str(tmp_path)).execute("SELECT count(*) FROM articles").fetchall()
    assert count == [(1,)]


# -- the keyed DoFns, on Prism ------------------------------------------------------------------------


def streaming_options() -> PipelineOptions:
    options = runners.pipeline_options(["--runner", "PrismRunner"])
    options.view_as(StandardOptions).streaming = True
    return options


@needs_prism
def test_first_entry_passes_each_url_once_and_skips_what_the_lake_holds() -> None:
    entry = FeedEntry("https://f/", "https://x.example/one?utm_source=rss")
    again = FeedEntry("https://f/", "https://x.example/one")
    in_lake = FeedEntry("https://f/", "https://x.example/lake")
    entries = (
        TestStream()
        .add_elements([entry, in_lake])
        .advance_processing_time(1)
        .add_elements([again])
        .advance_watermark_to_infinity()
    )
    lake_urls = frozenset({"https://x.example/lake"})
    with beam.Pipeline(options=streaming_options()) as pipeline:
        new = (
            pipeline
            | "Entries" >> entries.with_output_types(FeedEntry)
            | beam.Map(entry_key)
            | "FirstEntry" >> beam.ParDo(FirstEntry(lambda: lake_urls))
            | "EntryLinks" >> beam.Map(lambda e: e.link)
        )
        assert_that(new, equal_to([entry.link]), label="OneEntryPerUrl")


@needs_prism
def test_keyed_exact_and_near_dedup_on_prism_with_test_stream() -> None:
    text = prose(8)
    first = make_article("https://x.example/p", text)
    same_text = make_article("https://y.example/q", text)
    # The copy reaches the pipeline first but was fetched later: "earlier" is fetch order, whatever
    # order the runner delivers them in (the original's bucket entries come after the copy's, and
    # the copy's decision waits for them).
    # Fetched now: the copy's decision waits until --settle seconds after its fetch.
    now = datetime.now(timezone.utc)
    original = make_article("https://x.example/orig", prose(9), fetched_at=now - timedelta(minutes=1))
    near_copy = make_article("https://z.example/copy", edited(prose(9)), fetched_at=now)
    unrelated = make_article("https://z.example/other", prose(10))
    articles = (
        TestStream()
        .add_elements([first, near_copy])
        .advance_processing_time(1)
        .add_elements([same_text, original, unrelated])
        .advance_processing_time(5)
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=streaming_options()) as pipeline:
        by_text = (
            pipeline
            | "Articles" >> articles.with_output_types(Article)
            | beam.Map(text_key)
            | "FirstByText" >> beam.ParDo(FirstArticle("exact_text", SeenState)).with_outputs(DUPLICATES, main="main")
        )
        near = by_text["main"] | NearDuplicates(LshIndex, settle=2.0)  # the batches arrive within 2 s
        kept = near["main"] | "KeptUrls" >> beam.Map(lambda a: a.url)
        assert_that(kept, equal_to([first.url, original.url, unrelated.url]), label="Kept")
        copies = (
            (by_text[DUPLICATES], near[DUPLICATES])
            | "AllDuplicates" >> beam.Flatten()
            | beam.Map(lambda d: (d.url, d.kind, d.canonical_url))
        )
        expected = [(same_text.url, "exact_text", first.url), (near_copy.url, "near", original.canonical_url)]
        assert_that(copies, equal_to(expected), label="Copies")


def test_a_304_is_reported_only_when_it_changes_something_or_every_five_minutes() -> None:
    before = FeedState("https://a/feed", etag='"1"', last_status=304, last_attempt_at=FETCHED)
    later = FeedState("https://a/feed", etag='"1"', last_status=304, last_attempt_at=FETCHED + timedelta(seconds=5))
    assert not worth_reporting(before, later, reported=1000.0, now=1010.0)
    assert worth_reporting(before, later, reported=1000.0, now=1000.0 + REPORT_EVERY)
    changed = FeedState("https://a/feed", etag='"2"', last_status=200, last_attempt_at=later.last_attempt_at)
    assert worth_reporting(before, changed, reported=1000.0, now=1010.0)


def test_commit_windows_are_aligned_and_late_ticks_are_stale() -> None:
    assert window_end(12.0, 5.0) == 15.0 and window_end(15.0, 5.0) == 20.0
    assert not is_stale(tick=100.0, now=104.0, interval=0.5)
    assert is_stale(tick=100.0, now=106.0, interval=0.5), "more than 5 s behind"


def test_an_entry_older_than_the_horizon_is_not_ingested_again() -> None:
    now = FETCHED.timestamp()
    old = FeedEntry("https://f/", "https://x.example/old", published=FETCHED - timedelta(days=8))
    fresh = FeedEntry("https://f/", "https://x.example/new", published=FETCHED - timedelta(days=1))
    undated = FeedEntry("https://f/", "https://x.example/undated")
    horizon = timedelta(days=7).total_seconds()
    assert too_old(old, now, horizon) and not too_old(fresh, now, horizon) and not too_old(undated, now, horizon)

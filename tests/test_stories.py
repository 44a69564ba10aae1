"""Stories: same event in different words shares a story, same people at another event does not,
ids survive across runs, and the B³ metric the evaluation reports."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.schemas.records import Article, EntityRef
from newsbeam.transforms.stories.features import (
    _SENTENCE_OPENERS,
    STOPWORDS,
    _sentence_start,
    article_features,
    lead_end,
    story_input,
    words,
)
from newsbeam.transforms.stories.index import Story, StoryConfig, StoryIndex, story_rows
from newsbeam.transforms.stories.metrics import bcubed
from newsbeam.transforms.stories.stage import STATE, STORIES, AssignStories, assign_run
from tests.factories import make_article
from tests.test_minhash import ARTICLE, OTHER

DAY = datetime(2024, 5, 6, 8, tzinfo=timezone.utc)

# All texts below were written for these tests; the town, people and outlets are fictional.
SAME_EVENT_OTHER_WORDS = """Kelmport will dig out its silted north channel after councillors backed the
harbour board's dredging scheme, Mayor Ilse Varga announced last night. Supporters argued that without a
deeper approach the port would keep losing container lines to southern competitors.

Varga called the decision historic. Opponents from two conservation groups had wanted the vote postponed
until researchers finish counting the seagrass meadows near the channel; in the end the board promised to
truck the dredged silt inland instead of dumping it offshore. The forty million dollars will come from a
regional fund and a loan, paid back through surcharges on the biggest ships. Herring fishermen said they
could live with the scheme as long as no dredging happens in the bay during the March season."""

SAME_PEOPLE_OTHER_EVENT = """Mayor Ilse Varga cut the ribbon on Kelmport's new ferry terminal on Tuesday,
a glass hall on the east quay that replaces the wooden sheds used by island passengers since the 1960s.
The terminal has a waiting room for three hundred people, covered bicycle parking and a ticket office run
by the island ferry company.

Varga said the building would make the crossing to Sull and Varra Island easier for commuters and
visitors, and thanked the harbour board for lending the quay. The ferry company plans a third daily
sailing from June. Passengers had complained for years about queuing outside in the rain."""

BACKGROUND = [
    OTHER,
    """Dorrach Rovers beat Millbrook 3-1 on Saturday to climb to fourth place in the league. Striker Teo
    Lund scored twice in the first half and the visitors' late penalty came too late to matter.""",
    """A software start-up in Brenna released a translation app for sign language that reads hand shapes
    through a phone camera. The company said schools for deaf children will test it this autumn.""",
    """The regional court in Oster sentenced a former bank clerk to four years in prison for moving
    savings from elderly customers' accounts into betting sites over six years.""",
    """Heavy rain closed the mountain pass between Vell and Dorrach for the second time this month.
    Road crews cleared two landslides and the pass reopened to cars on Sunday evening.""",
]

VARGA = EntityRef("nb:PER:ilse-varga", "Ilse Varga", "ilse-varga", "PER", 0.4, 3)
KELMPORT = EntityRef("nb:LOC:kelmport", "Kelmport", "kelmport", "LOC", 0.35, 4)


def article(slug: str, text: str, when: datetime, title: str | None = None, **fields: Any) -> Article:
    return make_article(f"https://{slug}.example/{slug}", text, title=title, published=when, **fields)


def background() -> list[Article]:
    return [article(f"bg{i}", text, DAY - timedelta(days=1)) for i, text in enumerate(BACKGROUND)]


def test_features_drop_function_words_and_boost_names() -> None:
    found, proper = words("Mayor Ilse Varga said on Tuesday that the port of Kelmport will grow.")
    assert "said" not in found and "the" not in found and "tuesday" not in found
    assert {"ilse", "varga", "kelmport"} <= proper and "port" not in proper
    assert "mayor" not in proper  # first word of the sentence: capitalised by grammar, not a name
    assert {"said", "according", "monday", "the"} <= STOPWORDS
    text = "First sentence here. Second one follows. " + "Body words " * 100
    assert lead_end(text) == 300  # two sentences are shorter than the 300-character minimum
    features = article_features(article("k", ARTICLE, DAY, title="Kelmport dredging", entities=(VARGA,)))
    assert features["e:nb:PER:ilse-varga"] == pytest.approx(2.0)  # salience 0.4 x 5
    assert features["kelmport"] > features["channel"] > 0


def test_same_event_in_other_words_shares_a_story_and_same_people_elsewhere_do_not() -> None:
    index = StoryIndex()
    for item in background():
        index.assign(item)
    first = article("courier", ARTICLE, DAY, "Kelmport council approves channel dredging", entities=(VARGA, KELMPORT))
    second = article(
        "gazette",
        SAME_EVENT_OTHER_WORDS,
        DAY + timedelta(hours=5),
        "Varga: dredging vote is historic",
        entities=(VARGA, KELMPORT),
    )
    ferry = article(
        "herald",
        SAME_PEOPLE_OTHER_EVENT,
        DAY + timedelta(days=8),
        "Varga opens Kelmport ferry terminal",
        entities=(VARGA, KELMPORT),
    )
    a, b, c = index.assign(first), index.assign(second), index.assign(ferry)
    assert a.new and a.story_id == first.article_id
    assert not b.new and b.story_id == first.article_id and b.score >= StoryConfig().threshold
    assert c.new and c.story_id == ferry.article_id


SAME_DAY_CASES = [
    pytest.param(StoryConfig(threshold=0.22), id="threshold-0.22"),
    pytest.param(
        StoryConfig(),
        id="default",
        marks=pytest.mark.xfail(
            strict=True,
            reason="known trade-off: the cross-validated default threshold 0.18 joins this pair (score 0.198 "
            "with a six-article background); no year is named, so the date test cannot split it",
        ),
    ),
]


@pytest.mark.parametrize("config", SAME_DAY_CASES)
def test_same_people_at_another_event_on_the_same_day_still_split_on_content(config: StoryConfig) -> None:
    index = StoryIndex(config)
    items = [*background(), article("courier", ARTICLE, DAY, entities=(VARGA, KELMPORT))]
    items.append(article("herald", SAME_PEOPLE_OTHER_EVENT, DAY + timedelta(hours=2), entities=(VARGA, KELMPORT)))
    stories = {a.article_id: a.story_id for a in index.assign_many(items)}
    assert stories[items[-1].article_id] != stories[items[-2].article_id]


def test_time_decays_and_the_horizon_closes_a_story() -> None:
    index = StoryIndex()
    story = article("courier", ARTICLE, DAY)
    index.assign(story)
    held = index.stories[story.article_id]
    assert index.time_factor(held, DAY + timedelta(hours=20)) == 1.0
    assert index.time_factor(held, DAY + timedelta(days=3)) == pytest.approx(0.5)
    assert index.time_factor(held, DAY - timedelta(days=3)) == pytest.approx(0.5)
    assert index.time_factor(held, DAY + timedelta(days=8)) == 0.0
    # the same text ten days later cannot join: the story is past its horizon
    late = index.assign(article("late", ARTICLE, DAY + timedelta(days=10)))
    assert late.new
    assert [s.story_id for s in index.expire(DAY + timedelta(days=9))] == [story.article_id]


def test_ids_are_stable_across_runs_through_persisted_state() -> None:
    run1 = StoryIndex()
    run1.assign_many([*background(), article("courier", ARTICLE, DAY, "Council approves dredging")])
    state = json.loads(json.dumps(run1.to_records()))  # what _state/ would hold between runs

    run2 = StoryIndex.from_records(state)
    follow_up = article("gazette", SAME_EVENT_OTHER_WORDS, DAY + timedelta(days=1), "Dredging vote is historic")
    ferry = article("herald", SAME_PEOPLE_OTHER_EVENT, DAY + timedelta(days=9), "Ferry terminal opens")
    results = {a.article_id: a for a in run2.assign_many([follow_up, ferry])}
    courier_id = article("courier", ARTICLE, DAY).article_id
    assert results[follow_up.article_id].story_id == courier_id
    assert results[ferry.article_id].story_id == ferry.article_id

    # assigning the same batch from the same state always gives the same ids
    again = StoryIndex.from_records(state).assign_many([ferry, follow_up])
    assert {a.article_id: a.story_id for a in again} == {k: v.story_id for k, v in results.items()}
    story = run2.stories[courier_id]
    assert story.article_count == 2 and story.title == "Council approves dredging"
    assert story.last_seen == DAY + timedelta(days=1)


def test_story_rows_describe_each_story() -> None:
    index = StoryIndex()
    index.assign(
        article("courier", ARTICLE, DAY, "Council approves dredging", source="Coast Courier", entities=(VARGA,))
    )
    index.assign(article("gazette", SAME_EVENT_OTHER_WORDS, DAY + timedelta(hours=3), source="Gazette"))
    (row,) = list(story_rows(index.stories.values(), "run-1"))
    assert row["article_count"] == 2 and row["sources"] == ["Coast Courier", "Gazette"]
    assert row["top_entities"] == ["Ilse Varga"] and row["title"] == "Council approves dredging"
    assert row["first_seen"] == DAY and row["date"] == "2024-05-06"


def test_bcubed() -> None:
    gold = {"a": "x", "b": "x", "c": "y", "d": "y"}
    assert bcubed({"a": "1", "b": "1", "c": "2", "d": "2"}, gold) == (1.0, 1.0, 1.0)
    assert bcubed({k: "1" for k in gold}, gold) == (0.5, 1.0, 0.6667)
    assert bcubed({}, gold) == (1.0, 0.5, 0.6667)  # missing items are singletons


def test_stage_core_and_beam_wrapper_carry_ids_across_runs() -> None:
    first = article("courier", ARTICLE, DAY, "Council approves dredging")
    placed, rows, state = assign_run([*background(), first], [], "run-1")
    assert {a.story_id for a in placed if a.url == first.url} == {first.article_id}
    assert [r["story_id"] for r in rows if r["title"]] == [first.article_id]

    follow_up = article("gazette", SAME_EVENT_OTHER_WORDS, DAY + timedelta(days=1), "Dredging vote is historic")
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = pipeline | beam.Create([follow_up]) | AssignStories("run-2", lambda: state)
        assert_that(result["main"] | beam.Map(lambda a: a.story_id), equal_to([first.article_id]), label="ids")
        assert_that(
            result[STORIES] | beam.Map(lambda r: (r["story_id"], r["article_count"])),
            equal_to([(first.article_id, 2)]),
            label="rows",
        )
        assert_that(
            result[STATE] | beam.Map(lambda r: r["kind"]) | beam.combiners.Count.PerElement(),
            equal_to([("story", len(BACKGROUND) + 1), ("vocabulary", 1)]),
            label="state",
        )


def test_a_run_without_articles_writes_no_story_state() -> None:
    """Nothing to assign: the stored state stays the newest (see test_scheduled_runs), nothing is rewritten."""
    _, _, state = assign_run([article("courier", ARTICLE, DAY)], [], "run-1")
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = pipeline | beam.Create([]) | AssignStories("run-2", lambda: state)
        assert_that(result[STATE] | beam.Map(lambda r: r["kind"]), equal_to([]))


DIFFERENT_EVENT = """Chinese Foreign Minister Wang Yi received Brazil's foreign minister in Beijing on
Thursday for talks on soybean exports, port investment and a planned satellite programme. The two ministers
signed a memorandum on agricultural inspections and agreed to resume a joint commission on infrastructure.

Wang said trade between the two countries had reached a record last year and praised Brazilian farmers for
supplying a growing share of China's grain imports. His guest invited Chinese companies to bid for railway
concessions linking soybean farms to Atlantic ports."""


@pytest.mark.shared
def test_seed_articles_share_a_story_and_wang_yi_elsewhere_does_not(shared_dir: Path) -> None:
    from newsbeam.transforms.entities.tagger import EntityTagger

    tagger = EntityTagger.load()
    first, second = sorted((shared_dir / "seeds").glob("*.txt"))
    index = StoryIndex()
    for item in background():
        index.observe(item)
    placed = []
    for slug, text, title, when in (
        ("daily", first.read_text(encoding="utf-8"), None, DAY),
        ("times", second.read_text(encoding="utf-8"), None, DAY + timedelta(hours=3)),
        ("wire", DIFFERENT_EVENT, "Wang Yi hosts Brazil's foreign minister", DAY + timedelta(days=10)),
    ):
        _, entities = tagger.tag(text, title)
        placed.append(index.assign(article(slug, text, when, title, entities=entities)))
    daily, times, wire = placed
    assert times.story_id == daily.story_id and not times.new
    assert wire.new and wire.story_id != daily.story_id


def test_fast_similarity_is_the_plain_cosine_bit_for_bit() -> None:
    index = StoryIndex()
    articles = [article("kelm", ARTICLE, DAY), article("varga", SAME_EVENT_OTHER_WORDS, DAY, entities=(VARGA,))]
    for item in articles:
        index.assign(item)
    story = next(iter(index.stories.values()))
    for item in [*articles, article("ferry", SAME_PEOPLE_OTHER_EVENT, DAY), *background()]:
        vector = index.vector(item)
        norm = math.sqrt(sum(v * v for v in story.centroid.values()))
        dot = sum(weight * story.centroid.get(name, 0.0) for name, weight in vector.items())
        assert index.similarity(vector, story, DAY) == index.time_factor(story, DAY) * dot / norm


def test_story_norm_follows_a_replaced_centroid() -> None:
    story = Story("s", DAY, DAY, centroid={"a": 3.0, "b": 4.0})
    assert story.norm() == 5.0
    story.centroid = {"a": 6.0, "b": 8.0}
    assert story.norm() == 10.0


@pytest.mark.parametrize("text", ["Kelmport said. Varga", "Kelmport said.\t  Varga", "  Varga", "Kelmport and Varga"])
def test_sentence_start_scans_back_over_spaces_and_tabs(text: str) -> None:
    position = text.index("Varga")
    before = text[:position].rstrip(" \t")
    assert _sentence_start(text, position) == (not before or before[-1] in _SENTENCE_OPENERS)


def test_story_input_carries_the_features_in_order_and_bit_for_bit() -> None:
    item = article("varga", SAME_EVENT_OTHER_WORDS, DAY, title="Kelmport backs dredging", entities=(VARGA, KELMPORT))
    features = article_features(item)
    carried = story_input(item)
    assert list(carried.features().items()) == list(features.items())
    assert carried.feature_keys() == list(features)
    assert carried.entity_names == (("nb:PER:ilse-varga", "Ilse Varga"), ("nb:LOC:kelmport", "Kelmport"))
    assert story_input(carried) is carried
    index, by_input = StoryIndex(), StoryIndex()
    assert index.assign(item) == by_input.assign(carried)


def test_loto_cv_chooses_on_the_other_topics_and_scores_the_held_out_one() -> None:
    from scripts.stories_cv import item_bcubed, loto_cv, subset_score

    gold = {"a1": "1_x", "a2": "1_x", "a3": "1_y", "b1": "2_x", "b2": "2_y", "b3": "2_y"}
    merged = {"a1": "s", "a2": "s", "a3": "s", "b1": "t", "b2": "t", "b3": "t"}  # one story per topic
    exact = dict(gold)
    scores = item_bcubed(merged, gold)
    assert subset_score(scores, sorted(gold)) == pytest.approx(bcubed(merged, gold), abs=1e-4)
    topic_of = {item: label.split("_")[0] for item, label in gold.items()}
    # "good" is exact on topic 1 and merges topic 2; "bad" the reverse: each fold chooses by the other topic
    good = {**exact, "b1": "t", "b2": "t", "b3": "t"}
    bad = {**merged, "b1": "1", "b2": "2", "b3": "2"}
    runs = {"good": [item_bcubed(good, gold)], "bad": [item_bcubed(bad, gold)]}
    report = loto_cv(runs, topic_of)
    folds = {f["held_out_topic"]: f for f in report["folds"]}
    assert folds["1"]["chosen"] == "bad" and folds["2"]["chosen"] == "good"
    # each held-out topic is scored under the config that is wrong for it: the honest, pessimistic figure
    assert folds["1"]["held_out_f1"] == pytest.approx(subset_score(runs["bad"][0], ["a1", "a2", "a3"])[2], abs=1e-4)
    assert report["held_out_f1_mean"] < 0.8
    assert report["spread_over_orders"]["stdev"] == 0.0


def test_years_are_read_from_the_title_and_lead_only() -> None:
    from newsbeam.transforms.stories.features import years_mentioned

    lead = "In 2012 the mayor opened the quay, at a cost of $2015 a metre and 2010% overruns, 1,2011 or 3.2013 units. "
    body = "x " * 400 + "Back in 1998 the old quay flooded."
    assert years_mentioned("Quay opens (1999)", lead + body) == (1999, 2012)
    assert years_mentioned(None, "Founded 1949, rebuilt 2050.") == ()


def test_a_lead_naming_another_year_halves_the_score_and_years_persist() -> None:
    index = StoryIndex()
    first = article("courier", "In 2008 " + ARTICLE, DAY, entities=(VARGA, KELMPORT))
    second = article("gazette", "In 2012 " + SAME_EVENT_OTHER_WORDS, DAY, entities=(VARGA, KELMPORT))
    for item in [*background(), first, second]:
        index.observe(item)
    story = index.stories[index.assign(first).story_id]
    assert story.years == {2008}
    vector, years = index.vector(second), story_input(second).years
    assert years == (2012,)
    plain = index.similarity(vector, story, DAY)
    assert plain > 0.4
    assert index.similarity(vector, story, DAY, years) == pytest.approx(plain * StoryConfig().date_conflict)
    assert index.similarity(vector, story, DAY, (2008, 2012)) == pytest.approx(plain)
    joined = index.assign(second)  # half a strong match still passes: a conflict lowers, never forbids
    assert not joined.new and joined.score == round(plain * StoryConfig().date_conflict, 4)
    assert story.years == {2008, 2012}
    again = StoryIndex.from_records(json.loads(json.dumps(index.to_records())))
    assert again.stories[story.story_id].years == {2008, 2012}
    assert again.date_factor(again.stories[story.story_id], (1999,)) == StoryConfig().date_conflict
    # state written before years were kept loads with none: no conflict, as before
    old = [{k: v for k, v in r.items() if k != "years"} for r in index.to_records()]
    assert StoryIndex.from_records(old).stories[story.story_id].years == set()

"""Beam wrapper for story assignment: one run's articles placed against the previous runs' stories.

Batch: the run's articles meet in one call (grouped under one key) and are assigned by a
``StoryIndex`` loaded from the state records of the previous run, in (time, article_id) order, so
the ids do not depend on the runner. Assignment costs well under a millisecond per article (sparse
dot products with the stories sharing a top feature), so one worker handles a day of news; it
is the one global step of the graph, like the near-dup union-find. That step only sees each
article's ``StoryInput`` (its features, extracted beforehand in parallel, and a few fields) and
returns story ids, which are then set on the full articles: the whole run is never held in
memory as full articles at once.

Stream (later): the same ``StoryIndex`` logic as stateful processing keyed by feature (entity id
or top term, the inverted index of ``StoryIndex._postings``): an article is fanned out to its top
features, each key's state returns the stories posted under it, a second keyed step (by article)
scores the candidates and picks the best, and story centroids live in state keyed by story id
with an expiry timer at ``last_seen + horizon``.

Outputs: ``main`` articles with ``story_id``; ``stories`` rows for every story that received an
article in this run (for ``DIR/stories/date=.../``); ``state`` the records to persist in
``_state/stories/`` for the next run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from newsbeam.schemas.records import Article
from newsbeam.transforms.base import TaggedTransform, counter
from newsbeam.transforms.stories.features import FeatureWeights, StoryInput, story_input
from newsbeam.transforms.stories.index import StoryConfig, StoryIndex, story_rows

STORIES: Final = "stories"
STATE: Final = "state"
StoryRowOutput = TaggedOutput[Literal["stories"], dict[str, Any]]
StoryStateOutput = TaggedOutput[Literal["state"], dict[str, Any]]


def assign_ids(
    articles: Iterable[Article | StoryInput],
    state: Sequence[Mapping[str, Any]],
    run_id: str,
    config: StoryConfig | None = None,
) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Pure core of the stage: ({article_id: story_id}, story rows touched by this run, new state)."""
    config = config or StoryConfig()
    index = StoryIndex.from_records(state, config)
    batch = [story_input(article, config.weights) for article in articles]
    assignments = index.assign_many(batch)
    story_of = {a.article_id: a.story_id for a in assignments}
    touched = {a.story_id for a in assignments}
    # Rows first: a story this run touched gets its row even if it is old enough to expire below.
    rows = list(story_rows((index.stories[s] for s in sorted(touched) if s in index.stories), run_id))
    if batch:
        index.expire(max(a.time for a in batch))
    return story_of, rows, index.to_records()


def assign_run(
    articles: Iterable[Article], state: Sequence[Mapping[str, Any]], run_id: str, config: StoryConfig | None = None
) -> tuple[list[Article], list[dict[str, Any]], list[dict[str, Any]]]:
    """``assign_ids`` with the story ids set on the articles: (placed articles, story rows, new state)."""
    batch = list(articles)
    story_of, rows, records = assign_ids(batch, state, run_id, config)
    placed = [dataclasses.replace(a, story_id=story_of[a.article_id]) for a in batch]
    return placed, rows, records


def _one_group(article: Article, weights: FeatureWeights) -> tuple[None, StoryInput]:
    """Every article under one key: assignment is sequential over the whole run (batch)."""
    return None, story_input(article, weights)


def with_story_id(article: Article, story_ids: Mapping[str, str]) -> Article:
    return dataclasses.replace(article, story_id=story_ids[article.article_id])


class _Assign(beam.DoFn):  # type: ignore[misc]
    def __init__(self, run_id: str, config: StoryConfig, load_state: Callable[[], Sequence[Mapping[str, Any]]]) -> None:
        self.run_id = run_id
        self.config = config
        self.load_state = load_state

    def process(
        self, grouped: tuple[None, Iterable[StoryInput]]
    ) -> Iterator[tuple[str, str] | StoryRowOutput | StoryStateOutput]:
        batch = list(grouped[1])
        story_of, rows, records = assign_ids(batch, self.load_state(), self.run_id, self.config)
        counter("stories_touched").inc(len(rows))
        counter("stories_new").inc(sum(1 for a in batch if story_of[a.article_id] == a.article_id))
        yield from story_of.items()
        story_outputs: list[StoryRowOutput] = [TaggedOutput(STORIES, row) for row in rows]
        state_outputs: list[StoryStateOutput] = [TaggedOutput(STATE, record) for record in records]
        yield from story_outputs
        yield from state_outputs


class AssignStories(TaggedTransform):
    """Tagged articles in; ``main`` articles with ``story_id``, ``stories`` rows and ``state`` out.

    ``load_state`` returns the records the previous run persisted (``StoryIndex.to_records``;
    e.g. ``functools.partial(load_story_records, output)``), read where the stories are assigned,
    not pickled into the graph; the default, no records, starts from nothing. Articles are
    grouped globally: batch only (see module). A run without articles assigns nothing and
    writes nothing: the stored state stays current.
    """

    def __init__(
        self,
        run_id: str,
        load_state: Callable[[], Sequence[Mapping[str, Any]]] = tuple,
        config: StoryConfig | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.load_state = load_state
        self.config = config or StoryConfig()

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        weights = self.config.weights
        result = (
            articles
            | "StoryInputs" >> beam.Map(_one_group, weights)
            | "AllArticles" >> beam.GroupByKey()
            | "Assign"
            >> beam.ParDo(_Assign(self.run_id, self.config, self.load_state)).with_outputs(
                STORIES, STATE, main="story_ids"
            )
        )
        placed = articles | "WithStoryIds" >> beam.Map(with_story_id, story_ids=beam.pvalue.AsDict(result["story_ids"]))
        return {"main": placed, STORIES: result[STORIES], STATE: result[STATE]}

"""Beam wrapper for story assignment: one run's articles placed against the previous runs' stories.

Batch: the run's articles meet in one call (a side-input list) and are assigned by a
``StoryIndex`` loaded from the state records of the previous run, in (time, article_id) order, so
the ids do not depend on the runner. Assignment costs well under a millisecond per article (sparse
dot products with the stories sharing a top feature), so one worker handles a day of news; it
is the one global step of the graph, like the near-dup union-find.

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam

from schemas.records import Article
from transforms.base import counter
from transforms.stories.index import StoryConfig, StoryIndex, story_rows

STORIES = "stories"
STATE = "state"


def assign_run(
    articles: Iterable[Article], state: Sequence[Mapping[str, Any]], run_id: str, config: StoryConfig | None = None
) -> tuple[list[Article], list[dict[str, Any]], list[dict[str, Any]]]:
    """Pure core of the stage: (articles with story ids, story rows touched by this run, new state)."""
    index = StoryIndex.from_records(state, config or StoryConfig())
    batch = list(articles)
    assignments = index.assign_many(batch)
    story_of = {a.article_id: a.story_id for a in assignments}
    touched = {a.story_id for a in assignments}
    # Rows first: a story this run touched gets its row even if it is old enough to expire below.
    rows = list(story_rows((index.stories[s] for s in sorted(touched) if s in index.stories), run_id))
    if batch:
        index.expire(max(a.published or a.fetched_at for a in batch))
    placed = [dataclasses.replace(a, story_id=story_of[a.article_id]) for a in batch]
    return placed, rows, index.to_records()


class _Assign(beam.DoFn):  # type: ignore[misc]
    def __init__(self, run_id: str, config: StoryConfig) -> None:
        self.run_id = run_id
        self.config = config

    def process(self, _: None, articles_in: Iterable[Article], state: Sequence[Mapping[str, Any]]) -> Iterator[Any]:
        articles, rows, records = assign_run(articles_in, state, self.run_id, self.config)
        if not articles:
            return  # nothing assigned: the stored state stays current, and a quiet run writes nothing
        counter("stories_touched").inc(len(rows))
        counter("stories_new").inc(sum(1 for a in articles if a.story_id == a.article_id))
        yield from articles
        for row in rows:
            yield beam.pvalue.TaggedOutput(STORIES, row)
        for record in records:
            yield beam.pvalue.TaggedOutput(STATE, record)


class AssignStories(beam.PTransform):  # type: ignore[misc]
    """Tagged articles in; ``main`` articles with ``story_id``, ``stories`` rows and ``state`` out.

    ``state`` is the list of records the previous run persisted (``StoryIndex.to_records``); an
    empty list starts from nothing. Articles are grouped globally: batch only (see module).
    """

    def __init__(self, run_id: str, state: Sequence[Mapping[str, Any]] = (), config: StoryConfig | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.state = list(state)
        self.config = config or StoryConfig()

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        # one element drives one call that sees every article (side input), so a run without
        # articles still carries the state forward
        state = articles.pipeline | "StoryState" >> beam.Create([self.state])
        result = (
            articles.pipeline
            | "Once" >> beam.Create([None])
            | "Assign"
            >> beam.ParDo(
                _Assign(self.run_id, self.config),
                articles_in=beam.pvalue.AsList(articles),
                state=beam.pvalue.AsSingleton(state),
            ).with_outputs(STORIES, STATE, main="main")
        )
        return {"main": result["main"], STORIES: result[STORIES], STATE: result[STATE]}

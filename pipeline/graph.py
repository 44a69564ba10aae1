"""The newsbeam pipeline graph: named steps, in data-flow order.

Read (feeds, JSONL or WARC) -> SkipSeen -> FetchPages -> Clean -> Deduplicate (exact) ->
AgainstEarlierRuns -> NearEarlierRuns -> DeduplicateNear -> TagEntities -> AssignStories ->
Revisions -> WriteLake, with every stage's dead letters flattened into one ``_dead_letter`` table,
and the run's new state (feeds, seen URLs, MinHash signatures, stories) written beside the data.
A known URL whose feed entry is updated passes SkipSeen; if its text changed, AgainstEarlierRuns
marks it ``revised`` and the run's commit replaces the article's row (``transforms/lake/supersede.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.feedlist import rejected_dead_letter
from newsbeam.schemas.records import FeedSpec, FeedState
from newsbeam.transforms.base import DEAD_LETTER, MAIN
from newsbeam.transforms.clean.stage import CleanPages
from newsbeam.transforms.dedup.exact import DUPLICATES, CollapseIntoEarlierRuns, DeduplicateExact
from newsbeam.transforms.dedup.minhash import LshIndex
from newsbeam.transforms.dedup.near import CollapseNearIntoEarlierRuns, DeduplicateNear, index_from_state
from newsbeam.transforms.entities.stage import TagEntities
from newsbeam.transforms.fetch.pages import FetchPages
from newsbeam.transforms.lake.articles import article_rows
from newsbeam.transforms.lake.revisions import REVISIONS, Revise
from newsbeam.transforms.lake.rows import (
    dead_letter_row,
    duplicate_row,
    feed_state_row,
    seen_duplicate_row,
    story_row,
    story_state_row,
)
from newsbeam.transforms.lake.state import (
    load_near_rows,
    load_seen,
    load_seen_changes,
    load_seen_urls,
    load_story_records,
)
from newsbeam.transforms.lake.write import WriteLake
from newsbeam.transforms.read.feeds import FEED_STATE, ReadFeeds
from newsbeam.transforms.read.jsonl import ReadInputPages
from newsbeam.transforms.read.seen import SkipSeen
from newsbeam.transforms.read.warc import ReadWarcPages
from newsbeam.transforms.stories.stage import STATE as STORY_STATE
from newsbeam.transforms.stories.stage import STORIES, AssignStories
from newsbeam.transforms.stream.dedup import KeyedDeduplicate


def near_index(output: str) -> LshIndex:
    """The MinHash index of recent earlier runs, built on the worker from ``_state/near``."""
    return index_from_state(load_near_rows(output))


def one_worker(pipeline: beam.Pipeline) -> bool:
    """True when the run executes in a single in-process worker (newsbeam's default runner)."""
    workers = pipeline.options.view_as(DirectOptions).direct_num_workers
    return isinstance(pipeline.runner, FnApiRunner) and workers == 1


def build(
    pipeline: beam.Pipeline, config: RunConfig, feed_states: Mapping[str, FeedState] | None = None
) -> beam.PCollection:
    """Add the whole run to ``pipeline``; returns the staged files it will write.

    ``feed_states`` (from ``load_feed_states``) go into the graph with the feed list; everything
    else earlier runs left (seen URLs and texts, MinHash signatures, stories) is read from the
    lake by the stage that needs it, on its worker.
    """
    feed_states = feed_states or {}
    output = config.output
    dead_letters = []
    state_rows = []
    if config.warc_pattern or config.input_pattern:
        if config.warc_pattern:
            pages = pipeline | "ReadWarc" >> ReadWarcPages(config.warc_pattern, spread=not one_worker(pipeline))
        else:
            pages = pipeline | "ReadInput" >> ReadInputPages(
                str(config.input_pattern), spread=not one_worker(pipeline), slices=config.input_slices
            )
        if not config.refetch:
            pages = {**pages, MAIN: pages[MAIN] | "SkipSeen" >> SkipSeen(functools.partial(load_seen_urls, output))}
    else:
        specs = [spec if spec.state else _with_state(spec, feed_states) for spec in config.feeds]
        read = pipeline | "FeedList" >> beam.Create(specs) | "ReadFeeds" >> ReadFeeds(config.http, known=feed_states)
        entries = read[MAIN]
        if not config.refetch:
            entries = entries | "SkipSeen" >> SkipSeen(functools.partial(load_seen_changes, output))
        pages = entries | "FetchPages" >> FetchPages(config.http)
        dead_letters.append(read[DEAD_LETTER])
        if config.feed_rejects:
            rejected = (
                pipeline
                | "RejectedFeedLines" >> beam.Create(list(config.feed_rejects))
                | "FeedLineDeadLetters" >> beam.Map(rejected_dead_letter)
            )
            dead_letters.append(rejected)
        state_rows.append(read[FEED_STATE] | "FeedStateRows" >> beam.Map(feed_state_row, config.run_id))
    dead_letters.append(pages[DEAD_LETTER])

    cleaned = pages[MAIN] | "Clean" >> CleanPages()
    near = _deduplicate(cleaned[MAIN], config)
    tagged = near[MAIN] | "TagEntities" >> TagEntities(config.ner_model)
    storied = tagged[MAIN] | "AssignStories" >> AssignStories(
        config.run_id, functools.partial(load_story_records, output)
    )
    revised = storied[MAIN] | "Revisions" >> Revise(output, config.run_id)
    dead_letters += [cleaned[DEAD_LETTER], tagged[DEAD_LETTER]]
    duplicates = near[DUPLICATES]

    run_id = config.run_id
    rows = (
        revised[MAIN]
        | "ArticleRows"
        >> beam.FlatMap(article_rows, run_id, top_k=config.top_entities, threshold=config.salience_threshold),
        revised[REVISIONS],
        duplicates | "DuplicateRows" >> beam.Map(duplicate_row, run_id),
        duplicates | "SeenDuplicateRows" >> beam.Map(seen_duplicate_row, run_id),
        storied[STORIES] | "StoryRows" >> beam.Map(story_row, run_id),
        storied[STORY_STATE] | "StoryStateRows" >> beam.Map(story_state_row, run_id),
        tuple(dead_letters)
        | "AllDeadLetters" >> beam.Flatten()
        | "DeadLetterRows" >> beam.Map(dead_letter_row, run_id),
        *state_rows,
    ) | "AllRows" >> beam.Flatten()
    return rows | "WriteLake" >> WriteLake(config.output, run_id)


def _deduplicate(cleaned: beam.PCollection, config: RunConfig) -> dict[str, beam.PCollection]:
    """Exact then near copies, within the run and against earlier runs: ``{main, duplicates}``."""
    output = config.output
    if config.dedup == "keyed":
        return cleaned | "Deduplicate" >> KeyedDeduplicate(
            functools.partial(load_seen, output), functools.partial(near_index, output), settle=0.0
        )
    deduplicated = cleaned | "Deduplicate" >> DeduplicateExact()
    new = deduplicated[MAIN] | "AgainstEarlierRuns" >> CollapseIntoEarlierRuns(functools.partial(load_seen, output))
    exact = {
        MAIN: new[MAIN],
        DUPLICATES: (deduplicated[DUPLICATES], new[DUPLICATES]) | "ExactDuplicates" >> beam.Flatten(),
    }
    near = exact | "NearEarlierRuns" >> CollapseNearIntoEarlierRuns(functools.partial(near_index, output))
    return near | "DeduplicateNear" >> DeduplicateNear()


def _with_state(spec: FeedSpec, feed_states: Mapping[str, FeedState]) -> FeedSpec:
    """The spec with what earlier runs learnt about its feed (validators for a conditional GET)."""
    return dataclasses.replace(spec, state=feed_states.get(spec.url))

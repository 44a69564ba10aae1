"""The stream's graph: named steps in data-flow order, every global step replaced by keyed state.

FeedTicks -> PollFeeds (keyed by shard) -> FirstEntry (keyed by URL) -> FetchPages -> Clean ->
Deduplicate (``KeyedDeduplicate``: FirstByUrl -> FirstByText -> NearDuplicates, LSH band buckets,
signatures and decisions, each keyed) -> TagEntities -> CommitWindows (stories, rows, one Delta commit per window).
Feed states, duplicates and every stage's dead letters go to the same commit as the articles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta

import apache_beam as beam

from newsbeam.pipeline.feedlist import usable_feeds
from newsbeam.pipeline.graph import near_index
from newsbeam.transforms.base import DEAD_LETTER, MAIN
from newsbeam.transforms.clean.stage import CleanPages
from newsbeam.transforms.dedup.exact import DUPLICATES
from newsbeam.transforms.entities.stage import TagEntities
from newsbeam.transforms.fetch.http import HttpConfig
from newsbeam.transforms.fetch.pages import FetchPages
from newsbeam.transforms.lake.state import load_feed_states, load_seen, load_seen_urls, load_story_records
from newsbeam.transforms.read.feeds import FEED_STATE
from newsbeam.transforms.stories.index import StoryConfig
from newsbeam.transforms.stream.commit import CommitConfig, CommitWindows, stop_path, to_window
from newsbeam.transforms.stream.dedup import KeyedDeduplicate
from newsbeam.transforms.stream.first import FirstEntry, entry_key
from newsbeam.transforms.stream.near_messages import DEFAULT_SETTLE
from newsbeam.transforms.stream.poll import FeedTicks, PollAllFeeds
from newsbeam.transforms.stream.schedules import PollConfig
from newsbeam.transforms.stream.websub import StreamWebSub
from newsbeam.transforms.websub.subscription import WebSubConfig


@dataclass(frozen=True)
class StreamConfig:
    output: str
    feed_list: str
    stream_id: str
    http: HttpConfig = field(default_factory=HttpConfig)
    poll: PollConfig = field(default_factory=PollConfig)
    commit_interval: float = 30.0
    state_interval: float = 600.0
    horizon: timedelta = timedelta(days=7)
    settle: float = DEFAULT_SETTLE
    top_entities: int = 10
    salience_threshold: float = 0.03
    ner_model: str | None = None
    status_interval: float = 10.0
    lock_stale_after: float = 6 * 3600.0
    websub: WebSubConfig | None = None
    """Subscribe to the hubs feeds advertise (the driver serves the callback); None: polling only."""
    websub_listen: tuple[str, int] | None = None
    """Address the driver's WebSub callback server listens on (``--websub-callback HOST:PORT``)."""


def build_stream(pipeline: beam.Pipeline, config: StreamConfig) -> beam.PCollection:
    """Add the whole stream to ``pipeline``; returns the run ids of the windows it commits."""
    output = config.output
    horizon = config.horizon.total_seconds()
    stop = stop_path(output, config.stream_id)
    websub = StreamWebSub(output, config.stream_id, config.websub) if config.websub else None
    pushes = websub.push_dir if websub else None
    ticks = pipeline | "FeedTicks" >> FeedTicks(config.feed_list, usable_feeds, config.poll, stop, pushes)
    polled = ticks | "PollFeeds" >> PollAllFeeds(
        config.http, config.poll, functools.partial(load_feed_states, output), websub=websub
    )
    new = (
        polled[MAIN]
        | "KeyByEntryUrl" >> beam.Map(entry_key)
        | "FirstEntry" >> beam.ParDo(FirstEntry(functools.partial(load_seen_urls, output), horizon))
    )
    pages = new | "FetchPages" >> FetchPages(config.http)
    cleaned = pages[MAIN] | "Clean" >> CleanPages()
    near = cleaned[MAIN] | "Deduplicate" >> KeyedDeduplicate(
        functools.partial(load_seen, output), functools.partial(near_index, output), config.horizon, config.settle
    )
    tagged = near[MAIN] | "TagEntities" >> TagEntities(config.ner_model)
    commit = CommitConfig(
        output,
        config.stream_id,
        config.commit_interval,
        config.state_interval,
        config.top_entities,
        config.salience_threshold,
        StoryConfig(horizon=config.horizon),
    )
    records = (
        tagged[MAIN],
        near[DUPLICATES],
        polled[FEED_STATE],
        polled[DEAD_LETTER],
        pages[DEAD_LETTER],
        cleaned[DEAD_LETTER],
        tagged[DEAD_LETTER],
    )
    return (
        records
        | "AllRecords" >> beam.Flatten()
        | "ToWindow" >> beam.Map(to_window)
        | "CommitWindows" >> beam.ParDo(CommitWindows(commit, functools.partial(load_story_records, output)))
    )

"""Windowed, exactly-once commits: everything a stream produced in one ``--commit-interval``, as one run.

One keyed step holds the window: articles ready for the lake and the rows that go with them
(duplicates, dead letters, feed states) are added to a ``BagState``; a processing-time timer
fires every ``commit_interval`` and publishes the bag as one run of the lake, ``<stream>-wNNNNNN``:

1. stories are assigned to the window's articles (the same ``StoryIndex`` as batch, in
   (time, id) order; the index lives in this key's state, loaded from the lake on first use);
2. the rows are written as uncommitted Parquet files (``transforms.lake.write``);
3. ``transforms.lake.publish`` commits them, data tables first and ``_state`` last, each Delta
   commit carrying the app transaction (writer id, sequence), from a journal.

The window sequence is in state and advances only after the publish, so a timer callback that
Beam retries publishes the same run id again, which is a no-op (``is_published``). After a crash
the next start's ``recover()`` finishes a journaled window or deletes an unjournaled one's files.
Nothing of a window is visible before its commit, and the seen URLs that make the next start skip
its entries are committed with it: that is the exactly-once contract.

Story state is a snapshot of the whole live index: it is written every ``state_interval`` and at
a clean stop, not every window (a week of stories is megabytes). A SIGKILL rewinds story
*assignment* to the last snapshot; no article is lost or written twice by it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Timestamp

from newsbeam.schemas.records import Article, DeadLetter, Duplicate, FeedState
from newsbeam.transforms.base import METRICS_NAMESPACE, counter
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.articles import article_rows
from newsbeam.transforms.lake.publish import begin_run, is_published, publish_run
from newsbeam.transforms.lake.rows import (
    LakeRow,
    dead_letter_row,
    duplicate_row,
    feed_state_row,
    seen_duplicate_row,
    story_row,
    story_state_row,
)
from newsbeam.transforms.lake.write import write_partitions
from newsbeam.transforms.stories.features import story_input
from newsbeam.transforms.stories.index import StoryConfig, StoryIndex, story_rows

logger = logging.getLogger("newsbeam")

WINDOW_KEY = "window"
Pending = Article | Duplicate | DeadLetter | FeedState
"""What a window holds: the records that become its rows once the window has a run id."""


@dataclass(frozen=True)
class CommitConfig:
    output: str
    stream_id: str
    commit_interval: float = 30.0
    state_interval: float = 600.0
    """Seconds between snapshots of the story index (also written at a clean stop)."""
    top_entities: int = 10
    salience_threshold: float = 0.03
    stories: StoryConfig = field(default_factory=StoryConfig)


def to_window(record: Pending) -> tuple[str, Pending]:
    """Every record under the one key of the committer."""
    return WINDOW_KEY, record


def window_end(now: float, interval: float) -> float:
    """The end of the commit window ``now`` falls in (windows aligned to multiples of ``interval``)."""
    return (math.floor(now / interval) + 1) * interval


def window_run_id(stream_id: str, sequence: int) -> str:
    """The lake run id of a stream's window: sortable after the stream's start, unique per window."""
    return f"{stream_id}-w{sequence:06d}"


def window_rows(
    pending: Iterable[Pending], index: StoryIndex, run_id: str, config: CommitConfig, snapshot: bool
) -> list[LakeRow]:
    """Pure core of a commit: stories placed, every row of the window, the index snapshot if due."""
    articles: list[Article] = []
    rows: list[LakeRow] = []
    for item in pending:
        if isinstance(item, Article):
            articles.append(item)
        elif isinstance(item, Duplicate):
            rows += [duplicate_row(item, run_id), seen_duplicate_row(item, run_id)]
        elif isinstance(item, DeadLetter):
            rows.append(dead_letter_row(item, run_id))
        else:
            rows.append(feed_state_row(item, run_id))
    articles = _first_per_id(articles)
    inputs = [story_input(article, index.config.weights) for article in articles]
    assignments = index.assign_many(inputs)
    story_of = {a.article_id: a.story_id for a in assignments}
    touched = sorted({a.story_id for a in assignments})
    for article in sorted(articles, key=lambda a: a.article_id):
        placed = _with_story(article, story_of[article.article_id])
        rows.extend(article_rows(placed, run_id, config.top_entities, config.salience_threshold))
    stories = (index.stories[s] for s in touched if s in index.stories)
    rows.extend(story_row(row, run_id) for row in story_rows(stories, run_id))
    if assignments:
        index.expire(max(i.time for i in inputs))
    if snapshot:
        rows.extend(story_state_row(record, run_id) for record in index.to_records())
    return _latest_feed_states(rows)


def _first_per_id(articles: Sequence[Article]) -> list[Article]:
    """One article per id: a retried upstream bundle may deliver an article twice."""
    seen: dict[str, Article] = {}
    for article in articles:
        seen.setdefault(article.article_id, article)
    return list(seen.values())


def _with_story(article: Article, story_id: str) -> Article:
    return dataclasses.replace(article, story_id=story_id)


def _latest_feed_states(rows: list[LakeRow]) -> list[LakeRow]:
    """A feed polled several times in one window keeps only its newest state row."""
    newest: dict[str, LakeRow] = {}
    others: list[LakeRow] = []
    for row in rows:
        if row.table != "feed_state":
            others.append(row)
            continue
        url = str(row.row["feed_url"])
        kept = newest.get(url)
        if kept is None or (row.row["last_attempt_at"] or datetime.min.replace(tzinfo=timezone.utc)) >= (
            kept.row["last_attempt_at"] or datetime.min.replace(tzinfo=timezone.utc)
        ):
            newest[url] = row
    return others + [newest[url] for url in sorted(newest)]


def commit_window(output: str, run_id: str, rows: Sequence[LakeRow], manifest: dict[str, Any]) -> int:
    """Write and publish one window's rows as run ``run_id``; a window already published is skipped.

    Returns the number of files committed (0 for an empty window or a replay).
    """
    if not rows or is_published(output, run_id):
        return 0
    begin_run(output, run_id)
    by_table: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for row in rows:
        by_table.setdefault(row.table, []).append((row.partition, row.row))
    files = [f for table in sorted(by_table) for f in write_partitions(output, run_id, table, by_table[table])]
    publish_run(output, run_id, manifest, files)
    return len(files)


def stop_path(output: str, stream_id: str) -> str:
    """Marker the driver writes on SIGTERM: polling stops, the committer drains."""
    return storage.join(output, "_stream", stream_id, "stop")


def drained_path(output: str, stream_id: str) -> str:
    """Marker the committer writes once, after a stop, a window closed with nothing left to commit."""
    return storage.join(output, "_stream", stream_id, "drained")


def mark(path: str) -> None:
    """Write a marker holding the time it was set."""
    storage.write_bytes(path, str(time.time()).encode())


def marked_at(path: str) -> float | None:
    """When the marker at ``path`` was set, or None if it is not."""
    if not storage.exists(path):
        return None
    try:
        return float(storage.read_bytes(path).decode())
    except (ValueError, FileNotFoundError):
        return 0.0


class CommitWindows(beam.DoFn):  # type: ignore[misc]
    """``(WINDOW_KEY, record)`` in; one lake commit per ``commit_interval``, its run id out."""

    PENDING = BagStateSpec("pending", PickleCoder())
    SEQUENCE = ReadModifyWriteStateSpec("sequence", VarIntCoder())
    STORIES = ReadModifyWriteStateSpec("stories", PickleCoder())
    SNAPSHOT_AT = ReadModifyWriteStateSpec("snapshot_at", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.REAL_TIME)

    def __init__(self, config: CommitConfig, load_story_records: Any) -> None:
        self.config = config
        self.load_story_records = load_story_records
        self.lag = Metrics.gauge(METRICS_NAMESPACE, "uncommitted_lag_ms")

    def process(
        self,
        element: tuple[str, Pending],
        pending: Any = beam.DoFn.StateParam(PENDING),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
    ) -> Iterator[str]:
        # Blind writes only: Prism gives no state cache, so every read is a round trip, and this one
        # key receives every record of the stream. The timer goes to the end of the current window
        # (aligned to the interval), so setting it again and again moves nothing.
        now = time.time()
        pending.add((now, element[1]))
        flush.set(Timestamp.of(window_end(now, self.config.commit_interval)))
        return iter(())

    @on_timer(FLUSH)
    def on_flush(
        self,
        pending: Any = beam.DoFn.StateParam(PENDING),
        sequence: Any = beam.DoFn.StateParam(SEQUENCE),
        stories: Any = beam.DoFn.StateParam(STORIES),
        snapshot_at: Any = beam.DoFn.StateParam(SNAPSHOT_AT),
        flush: Any = beam.DoFn.TimerParam(FLUSH),
    ) -> Iterator[str]:
        config = self.config
        now = time.time()
        arrived = list(pending.read())
        items = [record for _, record in arrived]
        stopping = marked_at(stop_path(config.output, config.stream_id))
        if items:
            seq = (sequence.read() or 0) + 1
            run_id = window_run_id(config.stream_id, seq)
            index = stories.read()
            if index is None:
                index = StoryIndex.from_records(self.load_story_records(), config.stories)
            last_snapshot = snapshot_at.read() or 0.0
            snapshot = stopping is not None or now - last_snapshot >= config.state_interval
            rows = window_rows(items, index, run_id, config, snapshot)
            manifest = {
                "started_at": datetime.fromtimestamp(min(t for t, _ in arrived), timezone.utc).isoformat(),
                "finished_at": datetime.now(timezone.utc).isoformat(),
                "inputs": {"stream": config.stream_id, "window": seq},
                "counters": {"rows": len(rows)},
                "recovered": [],
            }
            files = commit_window(config.output, run_id, rows, manifest)
            counter("windows_committed").inc()
            counter("articles_committed").inc(sum(1 for row in rows if row.table == "articles"))
            counter("files_committed").inc(files)
            # How long the oldest record of this window waited for its commit.
            self.lag.set(int((time.time() - min(t for t, _ in arrived)) * 1000))
            stories.write(index)
            if snapshot:
                snapshot_at.write(now)
            sequence.write(seq)
            pending.clear()
            yield run_id
        if stopping is not None and now >= stopping + 2:
            mark(drained_path(config.output, config.stream_id))
        # Re-armed even when empty: after a stop the drained marker needs a firing with nothing left.
        flush.set(Timestamp.of(window_end(now + config.commit_interval / 2, config.commit_interval)))

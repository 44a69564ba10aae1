"""The lake contract: one Arrow schema per table, and how each table is partitioned.

Partition columns (``date``, ``entity``, ``stage``) live only in the Hive folder names
(``entity=wang-yi/date=2023-09-18``), never inside the files, so DuckDB, Spark, Trino and
BigQuery all read them the same way with Hive partitioning switched on.

Bump ``SCHEMA_VERSION`` on any change a reader would notice; every row carries it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 1

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
"""The one fixed set of entity types used in every table."""

TEXT_SOURCES = ("page", "feed", "input")

_TS = pa.timestamp("us", tz="UTC")

ENTITY_STRUCT = pa.struct(
    [
        ("entity_id", pa.string()),
        ("name", pa.string()),
        ("slug", pa.string()),
        ("type", pa.string()),
        ("salience", pa.float64()),
        ("mention_count", pa.int32()),
    ]
)

MENTION_STRUCT = pa.struct(
    [
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("text", pa.string()),
        ("type", pa.string()),
        ("entity_id", pa.string()),
    ]
)

ARTICLES = pa.schema(
    [
        ("article_id", pa.string()),
        ("url", pa.string()),
        ("canonical_url", pa.string()),
        ("fetched_url", pa.string()),
        ("feed_url", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("published", _TS),
        ("fetched_at", _TS),
        ("language", pa.string()),
        ("description", pa.string()),
        ("sitename", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("image", pa.string()),
        ("text", pa.string()),
        ("text_source", pa.string()),
        ("content_hash", pa.string()),
        ("story_id", pa.string()),
        ("duplicate_urls", pa.list_(pa.string())),
        ("entities", pa.list_(ENTITY_STRUCT)),
        ("mentions", pa.list_(MENTION_STRUCT)),
        ("is_accessible_for_free", pa.bool_()),
        ("robots", pa.list_(pa.string())),
        ("tdm_reservation", pa.bool_()),
        ("tdm_policy", pa.string()),
        ("license", pa.string()),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)

ENTITIES = pa.schema(
    [
        ("article_id", pa.string()),
        ("entity_id", pa.string()),
        ("name", pa.string()),
        ("type", pa.string()),
        ("salience", pa.float64()),
        ("mention_count", pa.int32()),
        ("title", pa.string()),
        ("url", pa.string()),
        ("source", pa.string()),
        ("published", _TS),
        ("story_id", pa.string()),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)

DUPLICATES = pa.schema(
    [
        ("url", pa.string()),
        ("canonical_article_id", pa.string()),
        ("canonical_url", pa.string()),
        ("kind", pa.string()),
        ("similarity", pa.float64()),
        ("published", _TS),
        ("fetched_at", _TS),
        ("source", pa.string()),
        ("title", pa.string()),
        ("content_hash", pa.string()),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)

DEAD_LETTER = pa.schema(
    [
        ("input_id", pa.string()),
        ("reason", pa.string()),
        ("error_type", pa.string()),
        ("excerpt", pa.string()),
        ("details", pa.string()),
        ("occurred_at", _TS),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)


FEED_STATE = pa.schema(
    [
        ("feed_url", pa.string()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("last_status", pa.int32()),
        ("last_error", pa.string()),
        ("last_entries", pa.int32()),
        ("last_attempt_at", _TS),
        ("last_success_at", _TS),
        ("consecutive_failures", pa.int32()),
        ("last_fetch_ms", pa.int32()),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)
"""``_state/feeds``: one row per feed per run that tried it; the newest row per feed wins."""

SEEN = pa.schema(
    [
        ("canonical_url", pa.string()),
        ("article_id", pa.string()),
        ("article_url", pa.string()),
        ("content_hash", pa.string()),
        ("first_seen", _TS),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
        ("updated", _TS),
    ]
)
"""``_state/seen``: every URL already ingested, so it is not fetched again: ``article_id`` and
``article_url`` name the kept article it is (or was collapsed into). A URL has one row per fetch
that was kept (each revision, each unchanged refetch): ``first_seen`` is that fetch's time and
``updated`` the feed entry's ``updated`` stamp then, which a later listing must pass to be fetched again."""

REVISIONS = pa.schema(
    [
        ("article_id", pa.string()),
        ("version", pa.int32()),
        ("fetched_at", _TS),
        ("title", pa.string()),
        ("text_hash", pa.string()),
        ("words_added", pa.int32()),
        ("words_removed", pa.int32()),
        ("title_changed", pa.bool_()),
        ("url", pa.string()),
        ("updated", _TS),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)
"""``revisions``: one row per version of an article (1 = first fetch). ``text_hash`` is the
``content_hash`` of that version; ``words_added``/``words_removed`` count words against the
previous version (multiset difference of word lists; version 1 counts all its words as added)."""


STORIES = pa.schema(
    [
        ("story_id", pa.string()),
        ("first_seen", _TS),
        ("last_seen", _TS),
        ("article_count", pa.int32()),
        ("sources", pa.list_(pa.string())),
        ("top_entities", pa.list_(pa.string())),
        ("title", pa.string()),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)
"""``stories``: one row per story per run that added to it; the newest ``last_seen`` row per story is current."""

NEAR_STATE = pa.schema(
    [
        ("article_id", pa.string()),
        ("canonical_url", pa.string()),
        ("indexed_at", _TS),
        ("shingles", pa.int32()),
        ("signature", pa.binary(512)),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)
"""``_state/near``: MinHash signatures of recent kept articles, so later copies collapse into them."""

STORY_STATE = pa.schema(
    [
        ("kind", pa.string()),
        ("story_id", pa.string()),
        ("record", pa.string()),
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
    ]
)
"""``_state/stories``: the live stories (centroids) and vocabulary after a run; the newest run's rows win."""


ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "articles": ("is_accessible_for_free", "robots", "tdm_reservation", "tdm_policy", "license"),
    "feed_state": ("last_fetch_ms",),
    "seen": ("updated",),
}
"""Columns added to a table after lakes were written: such a table gains them at its next commit
(``delta.with_new_columns``), and until then ``connect()`` shows them as nulls."""


@dataclass(frozen=True)
class TableSpec:
    """Where a table lives under the lake, how it is partitioned, and how big its files get."""

    name: str
    folder: str
    schema: pa.Schema
    partition_keys: tuple[str, ...]
    max_rows_per_file: int
    compression: str = "zstd"
    """Parquet codec. ``entities`` uses snappy: its files are small (one per entity per day) and
    zstd's per-column setup cost tripled the time per file (1.26 vs 0.41 ms measured)."""


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("articles", "articles", ARTICLES, ("date",), 20_000),
        TableSpec("entities", "entities", ENTITIES, ("entity", "date"), 250_000, "snappy"),
        TableSpec("duplicates", "duplicates", DUPLICATES, ("date",), 250_000),
        TableSpec("dead_letter", "_dead_letter", DEAD_LETTER, ("stage", "date"), 250_000),
        TableSpec("stories", "stories", STORIES, ("date",), 250_000),
        TableSpec("feed_state", "_state/feeds", FEED_STATE, (), 500_000),
        TableSpec("near_state", "_state/near", NEAR_STATE, ("date",), 1_000_000),
        TableSpec("story_state", "_state/stories", STORY_STATE, (), 500_000),
        TableSpec("seen", "_state/seen", SEEN, (), 1_000_000),
        TableSpec("revisions", "revisions", REVISIONS, (), 1_000_000),
    )
}

"""Turn records into lake rows: pure functions, one per table.

A ``LakeRow`` names its table and its Hive partition (``entity=wang-yi/date=2023-09-18``);
the writer groups rows by that pair so each partition gets few, well-sized files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from newsbeam.schemas.lake import SCHEMA_VERSION, TABLES
from newsbeam.schemas.records import Article, DeadLetter, Duplicate, EntityRef, FeedState, Mention
from newsbeam.transforms.dedup.keys import canonical_url


@dataclass(frozen=True)
class LakeRow:
    table: str
    partition: str
    """Hive path below the table folder, e.g. ``date=2024-05-03``."""
    row: dict[str, Any]


_ENTITY_FIELDS = tuple(f.name for f in fields(EntityRef))
_MENTION_FIELDS = tuple(f.name for f in fields(Mention))


def _flat(record: EntityRef | Mention, names: tuple[str, ...]) -> dict[str, Any]:
    """A flat record's fields as a dict: ``asdict`` deep-copies every value, ten times slower."""
    return {name: getattr(record, name) for name in names}


def partition_date(published: datetime | None, fetched_at: datetime) -> str:
    """``date`` partition: the published day in UTC, else the fetch day."""
    moment = published or fetched_at
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def hive_path(table: str, values: Sequence[str]) -> str:
    """``key=value/...`` for the table's partition keys, in their declared order."""
    keys = TABLES[table].partition_keys
    if len(keys) != len(values):
        raise ValueError(f"table {table} is partitioned by {keys}, got {values!r}")
    return "/".join(f"{key}={value}" for key, value in zip(keys, values, strict=True))


def article_row(article: Article, run_id: str) -> LakeRow:
    row = {
        "article_id": article.article_id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "fetched_url": article.fetched_url,
        "feed_url": article.feed_url,
        "source": article.source,
        "title": article.title,
        "authors": list(article.authors),
        "published": article.published,
        "fetched_at": article.fetched_at,
        "language": article.language,
        "description": article.description,
        "sitename": article.sitename,
        "tags": list(article.tags),
        "image": article.image,
        "text": article.text,
        "text_source": article.text_source,
        "content_hash": article.content_hash,
        "story_id": article.story_id or article.article_id,
        "duplicate_urls": list(article.duplicate_urls),
        "entities": [_flat(entity, _ENTITY_FIELDS) for entity in article.entities],
        "mentions": [_flat(mention, _MENTION_FIELDS) for mention in article.mentions],
        "is_accessible_for_free": article.is_accessible_for_free,
        "robots": list(article.robots) if article.robots is not None else None,
        "tdm_reservation": article.tdm_reservation,
        "tdm_policy": article.tdm_policy,
        "license": article.license,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
    }
    date = partition_date(article.published, article.fetched_at)
    return LakeRow("articles", hive_path("articles", [date]), row)


def entity_rows(article: Article, salient: Sequence[EntityRef], run_id: str) -> Iterator[LakeRow]:
    """One slim row per (article, salient entity): no body text, partitioned by entity slug."""
    date = partition_date(article.published, article.fetched_at)
    for entity in salient:
        yield LakeRow(
            "entities",
            hive_path("entities", [entity.slug, date]),
            {
                "article_id": article.article_id,
                "entity_id": entity.entity_id,
                "name": entity.name,
                "type": entity.type,
                "salience": entity.salience,
                "mention_count": entity.mention_count,
                "title": article.title,
                "url": article.url,
                "source": article.source,
                "published": article.published,
                "story_id": article.story_id or article.article_id,
                "schema_version": SCHEMA_VERSION,
                "run_id": run_id,
            },
        )


def duplicate_row(duplicate: Duplicate, run_id: str) -> LakeRow:
    row = asdict(duplicate)
    del row["updated"]  # kept in ``_state/seen`` only
    row.update(schema_version=SCHEMA_VERSION, run_id=run_id)
    date = partition_date(duplicate.published, duplicate.fetched_at)
    return LakeRow("duplicates", hive_path("duplicates", [date]), row)


def dead_letter_row(letter: DeadLetter, run_id: str) -> LakeRow:
    row = {
        "input_id": letter.input_id,
        "reason": letter.reason,
        "error_type": letter.error_type,
        "excerpt": letter.excerpt,
        "details": json.dumps(letter.details, default=str, sort_keys=True),
        "occurred_at": letter.occurred_at,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
    }
    date = partition_date(None, letter.occurred_at)
    return LakeRow("dead_letter", hive_path("dead_letter", [letter.stage, date]), row)


def feed_state_row(state: FeedState, run_id: str) -> LakeRow:
    row = asdict(state)
    row.update(schema_version=SCHEMA_VERSION, run_id=run_id)
    return LakeRow("feed_state", "", row)


def seen_row(article: Article, run_id: str) -> LakeRow:
    """The kept article, remembered so later runs neither fetch nor write it again."""
    return LakeRow(
        "seen",
        "",
        {
            "canonical_url": article.canonical_url,
            "article_id": article.article_id,
            "article_url": article.canonical_url,
            "content_hash": article.content_hash,
            "first_seen": article.fetched_at,
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "updated": article.updated,
        },
    )


def seen_duplicate_row(duplicate: Duplicate, run_id: str) -> LakeRow:
    """A collapsed copy's URL, remembered as belonging to the article it collapsed into."""
    return LakeRow(
        "seen",
        "",
        {
            "canonical_url": canonical_url(duplicate.url),
            "article_id": duplicate.canonical_article_id,
            "article_url": duplicate.canonical_url,
            "content_hash": None,
            "first_seen": duplicate.fetched_at,
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "updated": duplicate.updated,
        },
    )


def story_row(row: dict[str, Any], run_id: str) -> LakeRow:
    """A ``stories`` row (from ``transforms.stories``), partitioned by the day of ``last_seen``."""
    values = {key: value for key, value in row.items() if key != "date"}
    values.update(schema_version=SCHEMA_VERSION, run_id=run_id)
    return LakeRow("stories", hive_path("stories", [row["date"]]), values)


def near_state_row(row: dict[str, Any], run_id: str) -> LakeRow:
    """A ``_state/near`` row (signature of a kept article), partitioned by the day it was indexed."""
    values = {**row, "schema_version": SCHEMA_VERSION, "run_id": run_id}
    day = row["indexed_at"].astimezone(timezone.utc).strftime("%Y-%m-%d")
    return LakeRow("near_state", hive_path("near_state", [day]), values)


def story_state_row(record: dict[str, Any], run_id: str) -> LakeRow:
    values = {
        "kind": record.get("kind"),
        "story_id": record.get("story_id"),
        "record": json.dumps(record, sort_keys=True, default=str),
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
    }
    return LakeRow("story_state", "", values)

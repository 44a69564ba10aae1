"""Data contracts of newsbeam: in-flight records and the lake's Parquet schemas.

Declared once here so every stage, the writer, the tests and the docs agree.
"""

from newsbeam.schemas.lake import ENTITY_TYPES, SCHEMA_VERSION, TABLES, TableSpec
from newsbeam.schemas.records import (
    Article,
    DeadLetter,
    Duplicate,
    EntityRef,
    FeedEntry,
    FeedSpec,
    FeedState,
    Mention,
    Page,
)

__all__ = [
    "ENTITY_TYPES",
    "SCHEMA_VERSION",
    "TABLES",
    "Article",
    "DeadLetter",
    "Duplicate",
    "EntityRef",
    "FeedEntry",
    "FeedSpec",
    "FeedState",
    "Mention",
    "Page",
    "TableSpec",
]

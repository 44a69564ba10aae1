"""Data contracts of newsbeam: in-flight records and the lake's Parquet schemas.

Declared once here so every stage, the writer, the tests and the docs agree.
"""

from schemas.lake import SCHEMA_VERSION, TABLES, ENTITY_TYPES, TableSpec
from schemas.records import (
    Article,
    DeadLetter,
    Duplicate,
    EntityRef,
    FeedEntry,
    FeedSpec,
    Mention,
    Page,
)

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "ENTITY_TYPES",
    "TableSpec",
    "Article",
    "DeadLetter",
    "Duplicate",
    "EntityRef",
    "FeedEntry",
    "FeedSpec",
    "Mention",
    "Page",
]

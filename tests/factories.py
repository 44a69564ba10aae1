"""Small builders for records used across tests (real records, not mocks)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from newsbeam.schemas.records import Article
from newsbeam.transforms.dedup.keys import article_id, content_hash

FETCHED = datetime(2024, 5, 3, 12, 0, tzinfo=timezone.utc)


def make_article(url: str = "https://example.org/a", text: str = "Some article text.", **fields: Any) -> Article:
    canonical = fields.pop("canonical_url", url)
    values: dict[str, Any] = {
        "article_id": article_id(canonical),
        "url": url,
        "canonical_url": canonical,
        "fetched_url": url,
        "fetched_at": FETCHED,
        "text": text,
        "text_source": "page",
        "content_hash": content_hash(text),
    }
    values.update(fields)
    return Article(**values)

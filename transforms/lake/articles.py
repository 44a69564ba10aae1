"""Every lake row a kept article makes, for batch runs and stream windows alike.

Kept apart from ``rows`` because it needs the entity salience rule and the MinHash state row,
whose modules (spaCy, numpy) the lake writer itself does not need to import.
"""

from __future__ import annotations

from collections.abc import Iterator

from newsbeam.schemas.records import Article
from newsbeam.transforms.dedup.near import state_row
from newsbeam.transforms.entities.tagger import salient
from newsbeam.transforms.lake.rows import LakeRow, article_row, entity_rows, near_state_row, seen_row


def article_rows(article: Article, run_id: str, top_k: int, threshold: float) -> Iterator[LakeRow]:
    """The article's own row, one slim row per salient entity, its ``_state/seen`` and ``_state/near`` rows."""
    yield article_row(article, run_id)
    yield from entity_rows(article, salient(article.entities, top_k=top_k, threshold=threshold), run_id)
    yield seen_row(article, run_id)
    yield near_state_row(state_row(article), run_id)

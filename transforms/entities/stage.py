"""Stage 5, entities: tag each kept article with mentions and canonical entities.

Runs after deduplication, so the costly tagger only sees articles that are kept. The
tagger (a spaCy pipeline) is loaded once per worker in ``setup()``; articles are tagged in
batches through ``nlp.pipe``. Batching is per window, so streaming can reuse the stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam

from schemas.records import Article
from transforms.base import DEAD_LETTER, Stage, apply_stage, counter, dead_letter
from transforms.entities.tagger import EntityTagger


class TagBatch(Stage):
    stage = "entities"

    def __init__(self) -> None:
        self.tagger: EntityTagger | None = None

    def setup(self) -> None:
        self.tagger = EntityTagger.load()

    def input_id(self, element: Any) -> str:
        return " ".join(article.url for article in element)

    def handle(self, batch: Sequence[Article]) -> Iterator[Article]:
        assert self.tagger is not None
        try:
            results = self.tagger.tag_many([(article.text, article.title) for article in batch])
        except Exception:  # noqa: BLE001 - retried one by one so only the bad article is dead-lettered
            yield from self._one_by_one(batch)
            return
        for article, (mentions, entities) in zip(batch, results, strict=True):
            yield self._tagged(article, mentions, entities)

    def _one_by_one(self, batch: Sequence[Article]) -> Iterator[Any]:
        assert self.tagger is not None
        for article in batch:
            try:
                mentions, entities = self.tagger.tag(article.text, article.title)
            except Exception as error:  # noqa: BLE001 - routed to the dead-letter table
                counter("dead_letters").inc()
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(self.stage, error, article.url, article.title))
                continue
            yield self._tagged(article, mentions, entities)

    @staticmethod
    def _tagged(article: Article, mentions: Any, entities: Any) -> Article:
        counter("articles_tagged").inc()
        counter("mentions").inc(len(mentions))
        return dataclasses.replace(article, mentions=mentions, entities=entities)


class TagEntities(beam.PTransform):  # type: ignore[misc]
    """Kept articles in; ``main`` tagged articles and ``dead_letter`` out."""

    def __init__(self, max_batch_size: int = 64) -> None:
        super().__init__()
        self.max_batch_size = max_batch_size

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        batches = articles | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.max_batch_size)
        return apply_stage(batches, "TagBatch", TagBatch())

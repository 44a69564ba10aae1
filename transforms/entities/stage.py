"""Stage 5, entities: tag each kept article with mentions and canonical entities.

Runs after deduplication, so the costly tagger only sees articles that are kept. Tagging
goes through Beam's ``RunInference`` with a ``ModelHandler``: the spaCy pipeline is loaded
once per worker process and shared by its threads, and articles arrive in batches that go
through ``nlp.pipe``. Batching is per window, so streaming can reuse the stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from newsbeam.schemas.records import Article
from newsbeam.transforms.base import METRICS_NAMESPACE, Stage, TaggedTransform, apply_stage, counter
from newsbeam.transforms.entities.tagger import EntityTagger, Tagged


class EntityTaggerHandler(ModelHandler[Article, PredictionResult, EntityTagger]):  # type: ignore[misc]
    """``RunInference`` handler for the entity tagger (gazetteer ruler, plus a spaCy NER model).

    A batch that fails as a whole is retried one article at a time, and an article that
    still fails carries its exception as the inference, so only that article is dead-lettered.
    """

    def __init__(self, model: str | Path | None = None, max_batch_size: int = 64) -> None:
        super().__init__(min_batch_size=1, max_batch_size=max_batch_size)
        self.model = model

    def load_model(self) -> EntityTagger:
        return EntityTagger.load(model=self.model)

    def run_inference(
        self, batch: Sequence[Article], model: EntityTagger, inference_args: dict[str, Any] | None = None
    ) -> list[PredictionResult]:
        try:
            results: list[Tagged | Exception] = list(model.tag_many([(a.text, a.title) for a in batch]))
        except Exception:  # noqa: BLE001 - retried one by one so only the bad article fails
            results = [_tag_one(model, article) for article in batch]
        return [PredictionResult(article, result) for article, result in zip(batch, results, strict=True)]

    def get_num_bytes(self, batch: Sequence[Article]) -> int:
        return sum(len(article.text) for article in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


def _tag_one(model: EntityTagger, article: Article) -> Tagged | Exception:
    try:
        return model.tag(article.text, article.title)
    except Exception as error:  # noqa: BLE001 - carried to ApplyTags, which dead-letters it
        return error


class ApplyTags(Stage):
    """A tagger result in; the article with its mentions and entities out (or a dead letter)."""

    stage = "entities"

    def input_id(self, element: Any) -> str:
        return str(element.example.url)

    def input_excerpt(self, element: Any) -> str | None:
        return element.example.title

    def handle(self, result: PredictionResult) -> Iterator[Article]:
        article = cast(Article, result.example)
        inference = cast("Tagged | Exception", result.inference)
        if isinstance(inference, Exception):
            raise inference
        mentions, entities = inference
        counter("articles_tagged").inc()
        counter("mentions").inc(len(mentions))
        yield dataclasses.replace(article, mentions=mentions, entities=entities)


class TagEntities(TaggedTransform):
    """Kept articles in; ``main`` tagged articles and ``dead_letter`` out."""

    def __init__(self, model: str | Path | None = None, max_batch_size: int = 64) -> None:
        super().__init__()
        self.model = model
        self.max_batch_size = max_batch_size

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        inference = RunInference(EntityTaggerHandler(self.model, self.max_batch_size))
        # RunInference does not carry its handler's types through; they are declared here.
        results = articles | "RunInference" >> inference.with_input_types(Article).with_output_types(PredictionResult)
        return apply_stage(results, "ApplyTags", ApplyTags())

"""The newsbeam pipeline graph: named steps, in data-flow order.

Read (feeds or JSONL) -> FetchPages -> Clean -> Deduplicate -> TagEntities -> WriteLake,
with every stage's dead letters flattened into one ``_dead_letter`` table.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from pipeline.config import RunConfig
from schemas.records import Article
from transforms.base import DEAD_LETTER, MAIN
from transforms.clean.stage import CleanPages
from transforms.dedup.exact import DUPLICATES, DeduplicateExact
from transforms.entities.stage import TagEntities
from transforms.entities.tagger import salient
from transforms.fetch.pages import FetchPages
from transforms.lake.rows import LakeRow, article_row, dead_letter_row, duplicate_row, entity_rows
from transforms.lake.write import WriteLake
from transforms.read.feeds import ReadFeeds
from transforms.read.jsonl import ReadInputPages


def article_rows(article: Article, run_id: str, top_k: int, threshold: float) -> Iterator[LakeRow]:
    """The article's own row plus one slim row per salient entity."""
    yield article_row(article, run_id)
    yield from entity_rows(article, salient(article.entities, top_k=top_k, threshold=threshold), run_id)


def build(pipeline: beam.Pipeline, config: RunConfig) -> beam.PCollection:
    """Add the whole run to ``pipeline``; returns the staged files it will write."""
    dead_letters = []
    if config.input_pattern:
        read = pipeline | "ReadInput" >> ReadInputPages(config.input_pattern)
        pages = read
    else:
        read = pipeline | "FeedList" >> beam.Create(list(config.feeds)) | "ReadFeeds" >> ReadFeeds(config.http)
        pages = read[MAIN] | "FetchPages" >> FetchPages(config.http)
        dead_letters.append(read[DEAD_LETTER])
    dead_letters.append(pages[DEAD_LETTER])

    cleaned = pages[MAIN] | "Clean" >> CleanPages()
    deduplicated = cleaned[MAIN] | "Deduplicate" >> DeduplicateExact()
    tagged = deduplicated[MAIN] | "TagEntities" >> TagEntities(config.ner_model)
    dead_letters += [cleaned[DEAD_LETTER], tagged[DEAD_LETTER]]

    run_id = config.run_id
    rows = (
        tagged[MAIN]
        | "ArticleRows"
        >> beam.FlatMap(article_rows, run_id, top_k=config.top_entities, threshold=config.salience_threshold),
        deduplicated[DUPLICATES] | "DuplicateRows" >> beam.Map(duplicate_row, run_id),
        tuple(dead_letters)
        | "AllDeadLetters" >> beam.Flatten()
        | "DeadLetterRows" >> beam.Map(dead_letter_row, run_id),
    ) | "AllRows" >> beam.Flatten()
    return rows | "WriteLake" >> WriteLake(config.output, run_id)

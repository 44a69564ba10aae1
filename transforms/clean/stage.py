"""Stage 3, clean: HTML to article text and metadata (trafilatura), with feed fallback."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from newsbeam.schemas.records import Article, Page
from newsbeam.transforms.base import Stage, TaggedTransform, apply_stage, counter
from newsbeam.transforms.clean.extract import clean_page


class CleanPage(Stage):
    stage = "clean"

    def handle(self, page: Page) -> Iterator[Article]:
        article = clean_page(page)
        counter("extracted" if article.text_source == "page" else f"text_from_{article.text_source}").inc()
        yield article


class CleanPages(TaggedTransform):
    """``Page`` in; ``main`` articles and ``dead_letter`` out."""

    def expand(self, pages: beam.PCollection) -> dict[str, beam.PCollection]:
        return apply_stage(pages, "CleanPage", CleanPage())

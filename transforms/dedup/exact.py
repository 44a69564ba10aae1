"""Exact deduplication: one article per canonical URL, then one per normalised-text hash.

Copies are never dropped silently: each collapsed copy becomes a ``Duplicate`` record
(written to ``duplicates/``) and its URL is listed in the kept article's
``duplicate_urls``.

The kept article is chosen by one documented rule (``canonical_sort_key``): earliest
``published`` first (undated last), then the richest metadata, then the earliest fetch,
then the URL, so the choice is deterministic whatever order the runner delivers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Final, Literal

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from newsbeam.schemas.records import Article, Duplicate
from newsbeam.transforms.base import TaggedTransform, counter
from newsbeam.transforms.lake.state import SeenArticle, SeenState

DUPLICATES: Final = "duplicates"
DuplicateOutput = TaggedOutput[Literal["duplicates"], Duplicate]
"""The ``duplicates`` output in a return hint (Beam reads tagged types from it)."""


def duplicate_output(duplicate: Duplicate) -> DuplicateOutput:
    """``duplicate`` on the ``duplicates`` output."""
    return TaggedOutput(DUPLICATES, duplicate)


_FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)

# An article on its way through dedup, carrying the copies it has absorbed so far.
Absorbed = tuple[Article, tuple[Duplicate, ...]]


def richness(article: Article) -> int:
    """How much metadata an article carries; the richer copy wins a tie on ``published``."""
    fields = (
        article.title,
        article.published,
        article.language,
        article.description,
        article.sitename,
        article.image,
        article.feed_url,
    )
    score = sum(1 for value in fields if value)
    score += min(len(article.authors), 3) + min(len(article.tags), 3)
    score += 2 if article.text_source == "page" else 0
    return score


def canonical_sort_key(article: Article) -> tuple[object, ...]:
    """Sort key whose minimum is the article to keep (see module docstring)."""
    return (
        article.published is None,
        article.published or _FAR_FUTURE,
        -richness(article),
        -len(article.text),
        article.fetched_at,
        article.url,
    )


def as_duplicate(copy: Article, kept: Article, kind: str) -> Duplicate:
    """Record ``copy`` as collapsed into ``kept``."""
    return Duplicate(
        url=copy.url,
        canonical_article_id=kept.article_id,
        canonical_url=kept.canonical_url,
        kind=kind,
        similarity=1.0,
        published=copy.published,
        fetched_at=copy.fetched_at,
        source=copy.source,
        title=copy.title,
        content_hash=copy.content_hash,
        updated=copy.updated,
    )


def collapse(group: Iterable[Absorbed], kind: str) -> Absorbed:
    """Keep the best article of a group of exact copies and absorb the rest.

    Copies absorbed earlier (by another key) are re-pointed at the new keeper, so every
    ``Duplicate`` always names an article that is actually written.
    """
    members = sorted(group, key=lambda item: canonical_sort_key(item[0]))
    kept, _ = members[0]
    duplicates: list[Duplicate] = []
    for article, absorbed in members:
        if article is not kept:
            duplicates.append(as_duplicate(article, kept, kind))
        duplicates.extend(
            dataclasses.replace(d, canonical_article_id=kept.article_id, canonical_url=kept.canonical_url)
            for d in absorbed
        )
    urls = dict.fromkeys([*kept.duplicate_urls, *(d.url for d in duplicates if d.url != kept.url)])
    return dataclasses.replace(kept, duplicate_urls=tuple(urls)), tuple(duplicates)


class _Collapse(beam.DoFn):  # type: ignore[misc]
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def process(self, keyed: tuple[str, Iterable[Absorbed]]) -> Iterator[Absorbed]:
        kept, duplicates = collapse(keyed[1], self.kind)
        counter(f"duplicates_{self.kind}").inc(sum(1 for d in duplicates if d.kind == self.kind))
        yield kept, duplicates


def _start(article: Article) -> tuple[str, Absorbed]:
    """Keyed by canonical URL, with no copies absorbed yet."""
    return article.canonical_url, (article, ())


def _by_content_hash(item: Absorbed) -> tuple[str, Absorbed]:
    return item[0].content_hash, item


def _emit(item: Absorbed) -> Iterator[Article | DuplicateOutput]:
    article, duplicates = item
    counter("duplicates").inc(len(duplicates))
    yield article
    for duplicate in duplicates:
        yield duplicate_output(duplicate)


def against_earlier_runs(
    article: Article,
    seen_urls: Mapping[str, SeenArticle],
    seen_hashes: Mapping[str, SeenArticle],
    latest: Mapping[str, str] | None = None,
) -> Iterator[Article | DuplicateOutput]:
    """An article the lake already holds (same canonical URL or same text) becomes a duplicate of it.

    The earlier article was published by an earlier run and stays; this one is recorded in
    ``duplicates/`` pointing at it, so a re-run or ``--refetch`` never writes a second row.
    Except a revision: the URL of a kept article (``latest``) fetched again with another text
    goes on as ``revised``, the new version that replaces the lake's row.
    """
    known = (latest or {}).get(article.canonical_url)
    if known is not None and known != article.content_hash:
        counter("revisions").inc()
        yield dataclasses.replace(article, revised=True)
        return
    for kind, earlier in (
        ("exact_url", seen_urls.get(article.canonical_url)),
        ("exact_text", seen_hashes.get(article.content_hash)),
    ):
        if earlier is not None:
            counter("duplicates").inc()
            counter(f"duplicates_{kind}").inc()
            article_id, article_url = earlier
            duplicate = as_duplicate(article, article, kind)
            yield duplicate_output(
                dataclasses.replace(duplicate, canonical_article_id=article_id, canonical_url=article_url)
            )
            return
    yield article


class _AgainstEarlierRuns(beam.DoFn):  # type: ignore[misc]
    def __init__(self, load_seen: Callable[[], SeenState]) -> None:
        self.load_seen = load_seen
        self.seen = SeenState()

    def setup(self) -> None:
        self.seen = self.load_seen()

    def process(self, article: Article) -> Iterator[Article | DuplicateOutput]:
        return against_earlier_runs(article, self.seen.urls, self.seen.hashes, self.seen.latest)


class CollapseIntoEarlierRuns(TaggedTransform):
    """Kept articles in; ``main`` articles new to the lake and ``duplicates`` of earlier runs out.

    ``load_seen`` (e.g. ``functools.partial(load_seen, output)``) reads what the lake holds once
    per worker, in ``setup``, so the seen set is never pickled into the pipeline graph.
    """

    def __init__(self, load_seen: Callable[[], SeenState]) -> None:
        super().__init__()
        self.load_seen = load_seen

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        result = articles | "AgainstEarlierRuns" >> beam.ParDo(_AgainstEarlierRuns(self.load_seen)).with_outputs(
            DUPLICATES, main="main"
        )
        return {"main": result["main"], DUPLICATES: result[DUPLICATES]}


class DeduplicateExact(TaggedTransform):
    """Articles in; ``main`` kept articles and ``duplicates`` collapsed copies out.

    Grouping is per window, so the same transform serves batch and windowed streams.
    """

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        result = (
            articles
            | "KeyByCanonicalUrl" >> beam.Map(_start)
            | "GroupByUrl" >> beam.GroupByKey()
            | "CollapseSameUrl" >> beam.ParDo(_Collapse("exact_url"))
            | "KeyByContentHash" >> beam.Map(_by_content_hash)
            | "GroupByText" >> beam.GroupByKey()
            | "CollapseSameText" >> beam.ParDo(_Collapse("exact_text"))
            | "Emit" >> beam.FlatMap(_emit).with_outputs(DUPLICATES, main="main")
        )
        return {"main": result["main"], DUPLICATES: result[DUPLICATES]}

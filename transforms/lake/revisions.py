"""The ``revisions`` table: one row per version of an article, written with the article's own rows.

Version 1 is the first fetch. A ``revised`` article (its URL is a kept article the lake holds,
fetched again with another text: ``transforms/dedup/exact.py``) is compared with the lake's
current row for it, which the same run's commit then drops (``transforms/lake/supersede.py``).

Word changes are a multiset difference of the two versions' word lists (``\\w+`` tokens, case
kept): ``words_added`` counts words of the new text beyond the old one's, ``words_removed`` the
reverse. Order is ignored, so a moved paragraph counts as no change; it costs one pass per text,
where ``difflib`` on word lists is quadratic in the worst case on long articles.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.pvalue import TaggedOutput

from newsbeam.schemas.lake import SCHEMA_VERSION
from newsbeam.schemas.records import Article
from newsbeam.transforms.base import TaggedTransform, counter
from newsbeam.transforms.lake import storage
from newsbeam.transforms.lake.delta import live_files
from newsbeam.transforms.lake.rows import LakeRow

_WORD = re.compile(r"\w+")
REVISIONS: Final = "revisions"


@dataclass(frozen=True)
class Version:
    """What a revision row needs of one version of an article."""

    article_id: str
    url: str
    fetched_at: datetime
    title: str | None
    text: str
    content_hash: str
    updated: datetime | None = None


@dataclass(frozen=True)
class Previous:
    """The lake's current version of an article, and the highest ``version`` in ``revisions`` (None: none
    yet, the article was written before revisions were kept)."""

    current: Version
    version: int | None
    duplicate_urls: tuple[str, ...] = ()
    """Copies collapsed into the article by earlier runs: the new version's row keeps listing them."""


def words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text))


def word_changes(old: str, new: str) -> tuple[int, int]:
    """(words added, words removed) from ``old`` to ``new``: multiset difference of their words."""
    before, after = words(old), words(new)
    return sum((after - before).values()), sum((before - after).values())


def version_of(article: Article) -> Version:
    return Version(
        article.article_id,
        article.url,
        article.fetched_at,
        article.title,
        article.text,
        article.content_hash,
        article.updated,
    )


def revision_row(version: Version, number: int, previous: Version | None, run_id: str) -> LakeRow:
    """The ``revisions`` row of ``version`` as number ``number``, compared with ``previous`` (None: the first)."""
    added, removed = word_changes(previous.text if previous else "", version.text)
    row = {
        "article_id": version.article_id,
        "version": number,
        "fetched_at": version.fetched_at,
        "title": version.title,
        "text_hash": version.content_hash,
        "words_added": added,
        "words_removed": removed,
        "title_changed": previous is not None and previous.title != version.title,
        "url": version.url,
        "updated": version.updated,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
    }
    return LakeRow("revisions", "", row)


def revision_rows(article: Article, previous: Previous | None, run_id: str) -> Iterator[LakeRow]:
    """The rows a kept article adds to ``revisions``: version 1 for a new one; for a revision, the
    next version (and first a version 1 of the lake's row when it predates the ``revisions`` table)."""
    new = version_of(article)
    if not article.revised or previous is None:
        yield revision_row(new, 1, None, run_id)
        return
    last = previous.version
    if last is None:
        yield revision_row(previous.current, 1, None, run_id)
        last = 1
    yield revision_row(new, last + 1, previous.current, run_id)


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    """The ``columns`` of one Parquet file (those it has; all when None), local or in object storage."""
    source = path if storage.is_local(path) else pa.BufferReader(storage.read_bytes(path))
    parquet = pq.ParquetFile(source)
    wanted = None if columns is None else [c for c in columns if c in parquet.schema_arrow.names]
    return parquet.read(columns=wanted)


def rows_of(paths: list[str], article_id: str, columns: list[str]) -> list[dict[str, object]]:
    """The rows of ``article_id`` in ``paths`` (the id column is read first; whole files only where it matches).

    Matched in Python, not with an Arrow filter: a file another Delta writer rewrote may hold
    string views, which this pyarrow cannot filter.
    """
    found: list[dict[str, object]] = []
    for path in paths:
        ids = read_table(path, ["article_id"]).column("article_id").cast(pa.string())
        if not pc.any(pc.equal(ids, article_id)).as_py():
            continue
        found.extend(row for row in read_table(path, columns).to_pylist() if row["article_id"] == article_id)
    return found


def previous_version(files: Mapping[str, list[str]], article_id: str) -> Previous | None:
    """The lake's current row of ``article_id`` and its highest revision number (None: not in the lake).

    ``files``: the live files of ``articles`` and ``revisions`` (``delta.live_files``).
    """
    fields = ["article_id", "url", "fetched_at", "title", "text", "content_hash"]
    rows = rows_of(files.get("articles", []), article_id, [*fields, "duplicate_urls"])
    if not rows:
        return None
    row = max(rows, key=lambda r: r["fetched_at"])  # type: ignore[arg-type,return-value]
    current = Version(**{name: row[name] for name in fields})  # type: ignore[arg-type]
    versions = [r["version"] for r in rows_of(files.get("revisions", []), article_id, ["article_id", "version"])]
    last = max((int(v) for v in versions if v is not None), default=None)  # type: ignore[call-overload]
    return Previous(current, last, tuple(row["duplicate_urls"] or ()))  # type: ignore[arg-type]


def with_earlier_copies(article: Article, previous: Previous | None) -> Article:
    """The new version, still listing the copies earlier runs collapsed into the article."""
    if previous is None or not previous.duplicate_urls:
        return article
    urls = dict.fromkeys(u for u in (*previous.duplicate_urls, *article.duplicate_urls) if u != article.url)
    return dataclasses.replace(article, duplicate_urls=tuple(urls))


RevisionOutput = TaggedOutput[Literal["revisions"], LakeRow]


class _Revise(beam.DoFn):  # type: ignore[misc]
    def __init__(self, output: str, run_id: str) -> None:
        self.output = output
        self.run_id = run_id
        self.files: Mapping[str, list[str]] | None = None

    def process(self, article: Article) -> Iterator[Article | RevisionOutput]:
        previous = None
        if article.revised:
            if self.files is None:  # only a run with revisions reads the lake here
                self.files = live_files(self.output, ["articles", "revisions"])
            previous = previous_version(self.files, article.article_id)
            counter("revisions_written").inc()
        yield with_earlier_copies(article, previous)
        for row in revision_rows(article, previous, self.run_id):
            yield TaggedOutput(REVISIONS, row)


class Revise(TaggedTransform):
    """Kept articles in; ``main`` the articles to write, ``revisions`` their ``revisions`` rows out.

    A new article gets version 1. A revised one is compared with the lake's current row (read
    on the worker, only for revisions: a run without any does no extra I/O) and keeps its
    ``duplicate_urls``; the commit then drops that row (``transforms/lake/supersede.py``).
    """

    def __init__(self, output: str, run_id: str) -> None:
        super().__init__()
        self.output = output
        self.run_id = run_id

    def expand(self, articles: beam.PCollection) -> dict[str, beam.PCollection]:
        result = articles | "Revise" >> beam.ParDo(_Revise(self.output, self.run_id)).with_outputs(
            REVISIONS, main="main"
        )
        return {"main": result["main"], REVISIONS: result[REVISIONS]}

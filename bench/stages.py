"""Per-stage throughput on real pages: each stage's pure functions, called directly, no Beam.

These are the denominators of the plumbing overhead: the same pages go through the whole
pipeline in ``bench/e2e.py`` in the same benchmark run, and the ratio of the two times is what
Beam, pickling, grouping and publication cost on top of the work itself.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench import synthetic
from bench.common import REPO, TMP, rate, repeat, rounded, skipped
from bench.corpus import CorpusPage
from newsbeam.schemas.records import Article, Page

FETCHED_AT = datetime(2024, 6, 1, tzinfo=UTC)


def input_records(pages: Sequence[CorpusPage]) -> list[str]:
    """The ``--input`` JSONL lines for ``pages`` (what the end-to-end run reads)."""
    return [
        json.dumps({"url": p.url, "html": p.html, "fetched_at": FETCHED_AT.isoformat()}, ensure_ascii=False)
        for p in pages
    ]


def bench_read(lines: Sequence[str], repeats: int) -> dict[str, Any]:
    """JSONL records to ``Page`` (stage read, for ``--input`` runs)."""
    from newsbeam.transforms.read.jsonl import parse_record

    times, _ = repeat(lambda: [parse_record(line, FETCHED_AT) for line in lines], repeats)
    return {"unit": "records", **rate(len(lines), times)}


def bench_feeds(repeats: int) -> dict[str, Any]:
    """feed_parser.parse_feed on the corpus feeds, and on 50-item RSS 2.0 feeds shaped like real ones."""
    from bench.corpus import feed_documents
    from newsbeam.transforms.errors import FeedParseError
    from newsbeam.transforms.read.feed_parser import parse_feed

    def parse_all(documents: Sequence[tuple[str, bytes]]) -> tuple[int, int]:
        entries = failed = 0
        for name, body in documents:
            try:
                entries += len(parse_feed(body, feed_url=f"https://feeds.example/{name}").entries)
            except FeedParseError:
                failed += 1
        return entries, failed

    result: dict[str, Any] = {}
    documents = feed_documents()
    if documents:
        times, (entries, failed) = repeat(lambda: parse_all(documents), repeats)
        result["corpus"] = {
            "what": "feedparser test feeds + JSON Feeds of ../shared/corpora/feeds (mostly tiny, one feature each)",
            "unit": "feeds",
            **rate(len(documents), times),
            "entries": entries,
            "entries_per_second": rounded(entries / min(times)),
            "not_feeds": failed,
        }
    else:
        result["corpus"] = skipped("../shared/corpora/feeds not found")
    realistic = [(f"rss-{i}.xml", _rss_feed(i, 50)) for i in range(40)]
    times, (entries, _) = repeat(lambda: parse_all(realistic), repeats)
    result["rss_50_items"] = {
        "what": "generated RSS 2.0 feeds, 50 items each with title, link, guid, pubDate, author, 2 categories "
        "and a ~300-character HTML description (a typical outlet feed)",
        "unit": "feeds",
        **rate(len(realistic), times),
        "entries": entries,
        "entries_per_second": rounded(entries / sorted(times)[len(times) // 2]),
    }
    return result


def _rss_feed(seed: int, items: int) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>Outlet {seed}</title><link>https://outlet{seed}.example/</link><description>News</description>"
    ]
    for item in synthetic.articles(items, days=2, seed=seed):
        summary = escape(f"<p>{item.text[:300]}</p>")
        parts.append(
            f"<item><title>{escape(item.title)}</title><link>{item.url}</link>"
            f'<guid isPermaLink="true">{item.url}</guid><pubDate>{format_datetime(item.published)}</pubDate>'
            f"<author>desk@outlet{seed}.example (News desk)</author><category>World</category>"
            f"<category>{escape(item.entities[0].name)}</category><description>{summary}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def bench_clean(pages: Sequence[CorpusPage], repeats: int) -> tuple[dict[str, Any], list[Article]]:
    """clean_page (trafilatura + metadata + language) on every page; failures count as work done."""
    from newsbeam.transforms.clean.extract import clean_page, language_identifier
    from newsbeam.transforms.errors import ExtractError

    started = time.perf_counter()
    language_identifier.cache_clear()
    language_identifier()
    setup = time.perf_counter() - started
    inputs = [Page(url=p.url, fetched_url=p.url, fetched_at=FETCHED_AT, html=p.html) for p in pages]

    def clean_all() -> list[Article]:
        articles = []
        for page in inputs:
            try:
                articles.append(clean_page(page))
            except ExtractError:
                pass
        return articles

    times, articles = repeat(clean_all, repeats)
    html_bytes = sum(len(p.html.encode()) for p in pages)
    return {
        "unit": "pages",
        **rate(len(inputs), times),
        "articles": len(articles),
        "no_text": len(inputs) - len(articles),
        "mean_html_kib": rounded(html_bytes / max(1, len(pages)) / 1024, 1),
        "setup_seconds": rounded(setup),
        "extractors_ms_per_page": _extractor_ms(inputs),
    }, articles


def _extractor_ms(inputs: Sequence[Page]) -> dict[str, Any]:
    """Each body extractor alone, mean ms per page over one warm pass: the main call, the recall-mode fallback (run by
    cleaning only on pages whose body is not prose) and rs-trafilatura when installed (not a dependency:
    ``scripts/eval_extraction.py`` scores it and it lost to trafilatura)."""
    import importlib.util

    from trafilatura.utils import load_html

    from newsbeam.transforms.clean.body import recall_text, rs_text
    from newsbeam.transforms.clean.extract import read_page

    def median_ms(work: Any) -> float:
        times, _ = repeat(lambda: [work(page) for page in inputs], 1)  # one pass: keeps bench-quick short
        return rounded(times[0] / max(1, len(inputs)) * 1000, 2)

    result: dict[str, Any] = {
        "trafilatura_with_metadata": median_ms(read_page),
        "trafilatura_recall_mode": median_ms(lambda page: recall_text(load_html(page.html), page.fetched_url)),
    }
    if importlib.util.find_spec("rs_trafilatura") is not None:
        result["rs_trafilatura"] = median_ms(lambda page: rs_text(page.html or "", page.fetched_url))
    return result


def bench_dedup_keys(articles: Sequence[Article], repeats: int) -> dict[str, Any]:
    """Exact-dedup keys (canonical URL, normalised-text hash): computed in cleaning, timed on their own here."""
    from newsbeam.transforms.dedup.keys import canonical_url, content_hash

    times, _ = repeat(lambda: [(canonical_url(a.url), content_hash(a.text)) for a in articles], repeats)
    return {"unit": "articles", **rate(len(articles), times)}


def bench_minhash(texts: Sequence[str], repeats: int) -> dict[str, Any]:
    try:
        from newsbeam.transforms.dedup.minhash import signature
    except ImportError as error:
        return skipped(f"not available: transforms.dedup.minhash ({error})")
    signature(texts[0] if texts else "warm up")
    times, _ = repeat(lambda: [signature(text) for text in texts], repeats)
    return {"unit": "signatures", **rate(len(texts), times), "module": "newsbeam.transforms.dedup.minhash.signature"}


def bench_near(articles: Sequence[Article], repeats: int) -> dict[str, Any]:
    """Near-dup work per run: one sketch per article, a lookup in the (empty) earlier-runs index, and the
    in-batch LSH clustering (``find_near_duplicates``, the in-memory twin of the Beam steps)."""
    try:
        from newsbeam.transforms.dedup.minhash import LshIndex
        from newsbeam.transforms.dedup.near import article_sketch, find_near_duplicates
    except ImportError as error:
        return skipped(f"not available: transforms.dedup.near ({error})")

    def near_all() -> int:
        index = LshIndex()
        sketches = [article_sketch(a) for a in articles]
        for item in sketches:
            index.query(item.sig)
        roots, _ = find_near_duplicates(sketches)
        return len(roots)

    times, clustered = repeat(near_all, repeats)
    return {"unit": "articles", **rate(len(articles), times), "in_clusters": clustered}


def bench_stories(articles: Sequence[Article], repeats: int) -> dict[str, Any]:
    """Story assignment of the run's articles against an empty index (``assign_run``, the stage's pure core)."""
    try:
        from newsbeam.transforms.stories.stage import assign_run
    except ImportError as error:
        return skipped(f"not available: transforms.stories ({error})")
    times, (placed, _, _) = repeat(lambda: assign_run(articles, [], "bench"), repeats)
    return {"unit": "articles", **rate(len(articles), times), "stories": len({a.story_id for a in placed})}


def tagger_description() -> tuple[str, str | None]:
    """Which tagger ``EntityTagger.load()`` gives here: gazetteer only, or a spaCy model plus the gazetteer."""
    from newsbeam.transforms.entities.tagger import resolve_model

    model = resolve_model(None)
    if model is None:
        return "gazetteer only (entity ruler; no NER model packaged)", None
    shown = str(model)
    if Path(shown).is_absolute() and Path(shown).resolve().is_relative_to(REPO):
        shown = Path(shown).resolve().relative_to(REPO).as_posix()
    return f"spaCy model {shown} + gazetteer ruler", shown


def bench_ner(articles: Sequence[Article], repeats: int) -> tuple[dict[str, Any], list[Article]]:
    """EntityTagger.tag_many on (text, title), in the stage's batches of 64; tokens counted apart."""
    import dataclasses

    from newsbeam.transforms.entities.tagger import EntityTagger

    started = time.perf_counter()
    tagger = EntityTagger.load()
    setup = time.perf_counter() - started
    description, model = tagger_description()
    pairs = [(a.text, a.title) for a in articles]
    times, tagged = repeat(lambda: list(tagger.tag_many(pairs)), repeats)
    tokens = sum(len(tagger.nlp.make_doc(text)) for text, _ in pairs)  # after: the first pass stays cold
    out = [
        dataclasses.replace(a, mentions=mentions, entities=entities)
        for a, (mentions, entities) in zip(articles, tagged, strict=True)
    ]
    med = sorted(times)[len(times) // 2]
    return {
        "unit": "articles",
        **rate(len(pairs), times),
        "tokens": tokens,
        "tokens_per_second": rounded(tokens / med),
        "tagger": description,
        "model": model,
        "setup_seconds": rounded(setup),
    }, out


def bench_rows_and_parquet(articles: Sequence[Article], repeats: int) -> dict[str, Any]:
    """Lake rows (``pipeline.graph.article_rows``) and their Parquet files (``write_partition``), per table."""
    from newsbeam.pipeline.graph import article_rows
    from newsbeam.transforms.lake.write import write_partition

    run_id = "bench"
    rows_times, rows = repeat(lambda: [row for a in articles for row in article_rows(a, run_id, 10, 0.05)], repeats)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row.table, row.partition), []).append(row.row)
    per_table: dict[str, dict[str, int]] = {}
    for (table, _), group in groups.items():
        entry = per_table.setdefault(table, {"rows": 0, "files": 0})
        entry["rows"] += len(group)
        entry["files"] += 1
    TMP.mkdir(parents=True, exist_ok=True)

    def write_all() -> None:
        folder = tempfile.mkdtemp(prefix="parquet-", dir=TMP)
        try:
            for (table, partition), group in groups.items():
                write_partition(folder, run_id, table, partition, group)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    write_times, _ = repeat(write_all, repeats)
    return {
        "rows": {"unit": "articles", **rate(len(articles), rows_times)},
        "parquet": {"unit": "rows", **rate(len(rows), write_times), "tables": per_table},
    }

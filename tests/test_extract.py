"""Cleaning: golden pages, feed fallback, errors, and a quality floor on real pages."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from newsbeam.schemas.records import FeedEntry, Page
from newsbeam.transforms.clean.extract import MIN_PAGE_WORDS, clean_page, detect_language, word_count
from newsbeam.transforms.dedup.keys import article_id, canonical_url, content_hash
from newsbeam.transforms.errors import ExtractError

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
FETCHED = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
URL = "https://news.example.org/local/2024/05/03/market-hall?utm_source=rss"
CANONICAL = "https://news.example.org/local/2024/05/03/market-hall"

#: Pinned a few points below what was measured (mean 0.929, worst page 0.558 on 2025-01
#: code with trafilatura 2.3.1): a drop below means cleaning got worse, not noise.
NEWSPAPER4K_MEAN_F1_FLOOR = 0.90
NEWSPAPER4K_PAGE_F1_FLOOR = 0.50

PARAGRAPH = (
    "The market hall on Quay Street reopened on Friday after a renovation that took three years. "
    "Forty traders moved back in, and the council said the new roof would halve the heating bill."
)


def _load_golden_module() -> ModuleType:
    """Import the golden helper by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("extraction_golden", GOLDEN_DIR / "extraction_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _load_golden_module()
CASES = golden.load_cases(GOLDEN_DIR)


def entry(**fields: Any) -> FeedEntry:
    values: dict[str, Any] = {"feed_url": "https://news.example.org/feed.xml", "link": URL}
    values.update(fields)
    return FeedEntry(**values)


def page(**fields: Any) -> Page:
    values: dict[str, Any] = {"url": URL, "fetched_url": URL, "fetched_at": FETCHED}
    values.update(fields)
    return Page(**values)


def article_html(body: str, head: str = "") -> str:
    head = f"<head><title>Market hall reopens</title>{head}</head>"
    return f"<html>{head}<body><article>{body}</article></body></html>"


# --------------------------------------------------------------------------- goldens


def test_golden_set_covers_the_required_cases() -> None:
    names = {case.name for case in CASES}
    assert len(names) >= 6
    assert all(case.expected is not None for case in CASES), "run: python tests/golden/extraction_golden.py"
    sources = {case.expected.get("text_source") for case in CASES}
    assert {"page", "feed"} <= sources
    assert any("error" in case.expected for case in CASES)
    assert {"de", "fr"} & {case.expected.get("language") for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_golden_page(case: Any) -> None:
    assert golden.outcome(case.page) == case.expected


def test_golden_boilerplate_stays_out_of_the_text() -> None:
    typical = next(case for case in CASES if case.name == "typical_article")
    text = typical.expected["text"]
    for boilerplate in (
        "Advertisement",
        "Related stories",
        "Most read",
        "cookies",
        "Subscribe",
        "Share this",
    ):
        assert boilerplate not in text
    assert not text.startswith(typical.expected["title"])


# --------------------------------------------------------------------------- fallbacks and errors


def test_failed_fetch_falls_back_to_the_feed_summary() -> None:
    published = datetime(2024, 5, 3, 9, 30, tzinfo=UTC)
    result = clean_page(
        page(
            fetch_error="HTTP 503",
            entry=entry(title="Market hall reopens", summary=PARAGRAPH, published=published, authors=("Ana Ruiz",)),
        )
    )
    assert result.text_source == "feed"
    assert result.text == PARAGRAPH
    assert result.title == "Market hall reopens"
    assert result.published == published
    assert result.authors == ("Ana Ruiz",)
    assert result.language == "en"
    assert result.canonical_url == CANONICAL
    assert result.article_id == article_id(CANONICAL)
    assert result.content_hash == content_hash(PARAGRAPH)
    assert result.url == URL
    assert result.feed_url == "https://news.example.org/feed.xml"
    assert result.source == "news.example.org"


def test_feed_content_is_preferred_over_summary() -> None:
    result = clean_page(page(fetch_error="timeout", entry=entry(summary="Short teaser.", content=PARAGRAPH)))
    assert (result.text, result.text_source) == (PARAGRAPH, "feed")
    assert result.description == "Short teaser."


def test_page_with_too_little_text_falls_back_to_the_feed() -> None:
    html = article_html(
        "<p>Subscribe to read the rest of this story.</p>",
        '<meta property="og:site_name" content="Quay News">',
    )
    result = clean_page(page(html=html, entry=entry(summary=PARAGRAPH)))
    assert result.text_source == "feed"
    assert result.text == PARAGRAPH
    assert result.sitename == "Quay News"  # page metadata is still used


def test_nothing_to_clean_raises_an_actionable_extract_error() -> None:
    with pytest.raises(ExtractError) as error:
        clean_page(page(fetch_error="connect: connection refused", entry=entry(summary="  ")))
    reason = error.value.reason
    assert URL in reason
    assert "connection refused" in reason
    assert "feed entry has no summary/content" in reason


def test_page_without_text_and_without_entry_names_the_likely_causes() -> None:
    html = article_html("<ul><li><a href='/a'>One</a></li><li><a href='/b'>Two</a></li></ul>")
    with pytest.raises(ExtractError, match="index page, paywalled, or rendered by JavaScript"):
        clean_page(page(html=html))


def test_given_text_skips_extraction() -> None:
    html = article_html(f"<p>{PARAGRAPH}</p>")
    result = clean_page(page(html=html, text=" Given text, taken as is. ", title="Given title"))
    assert result.text_source == "input"
    assert result.text == "Given text, taken as is."
    assert result.title == "Given title"


def test_page_text_wins_over_feed_and_feed_published_wins_over_page() -> None:
    feed_time = datetime(2024, 5, 3, 7, 0, tzinfo=UTC)
    head = '<meta property="article:published_time" content="2024-05-02T10:00:00+00:00">'
    result = clean_page(
        page(
            html=article_html(f"<h1>Market hall reopens</h1><p>{PARAGRAPH}</p>", head),
            entry=entry(summary="Teaser.", published=feed_time),
        )
    )
    assert result.text_source == "page"
    assert result.text == PARAGRAPH  # the repeated headline is not part of the text
    assert result.published == feed_time


def test_page_date_is_used_when_the_feed_has_none_and_is_utc() -> None:
    head = '<meta property="article:published_time" content="2024-05-02T10:00:00+02:00">'
    result = clean_page(page(html=article_html(f"<p>{PARAGRAPH}</p>", head)))
    assert result.published == datetime(2024, 5, 2, 8, 0, tzinfo=UTC)


def test_naive_given_datetime_is_taken_as_utc() -> None:
    result = clean_page(page(text=PARAGRAPH, published=datetime(2024, 5, 3, 9, 0)))
    assert result.published == datetime(2024, 5, 3, 9, 0, tzinfo=UTC)


def test_canonical_link_is_used_unless_it_points_at_the_front_page() -> None:
    good = '<link rel="canonical" href="/local/market-hall-reopens?utm_campaign=x">'
    result = clean_page(page(html=article_html(f"<p>{PARAGRAPH}</p>", good)))
    assert result.canonical_url == "https://news.example.org/local/market-hall-reopens"
    assert result.article_id == article_id(result.canonical_url)

    front = '<link rel="canonical" href="https://news.example.org/">'
    result = clean_page(page(html=article_html(f"<p>{PARAGRAPH}</p>", front)))
    assert result.canonical_url == canonical_url(URL) == CANONICAL


def test_outlet_name_is_not_an_author() -> None:
    head = '<meta property="og:site_name" content="Quay News"><meta name="author" content="Quay News; Ana Ruiz">'
    result = clean_page(page(html=article_html(f"<p>{PARAGRAPH}</p>", head)))
    assert result.authors == ("Ana Ruiz",)


def test_language_detection_is_confident_or_absent() -> None:
    assert detect_language(PARAGRAPH) == "en"
    assert detect_language("Die Stadt hat am Montag den neuen Haushalt beschlossen.") == "de"
    assert detect_language("") is None
    assert detect_language("12345") is None


def test_word_count_counts_cjk_characters() -> None:
    assert word_count("three short words") == 3
    assert word_count("市场今天重新开放") == 8
    assert MIN_PAGE_WORDS == 25


# --------------------------------------------------------------------------- quality floor on real pages

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|\w+")


def token_f1(predicted: str, gold: str) -> float:
    """Bag-of-tokens F1 (CJK characters are tokens), the usual main-text extraction score."""
    ours = Counter(token.casefold() for token in _TOKEN.findall(predicted))
    theirs = Counter(token.casefold() for token in _TOKEN.findall(gold))
    overlap = sum((ours & theirs).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(ours.values()), overlap / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)


@pytest.mark.shared
def test_newspaper4k_fixtures_token_f1_floor(shared_dir: Path) -> None:
    root = shared_dir / "corpora" / "extraction" / "newspaper4k_fixtures"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    pages: list[tuple[str, Page, str]] = []
    for html_path in sorted((root / "html").glob("*.html.gz")):
        name = html_path.name.removesuffix(".html.gz")
        gold_path = root / "txt" / f"{name}.txt"
        if not gold_path.exists():
            continue
        meta_path = root / "metadata" / f"{name}.json"
        url = (json.loads(meta_path.read_text()).get("url") if meta_path.exists() else None) or (
            f"https://news.example.org/{name}"
        )
        html = gzip.decompress(html_path.read_bytes()).decode("utf-8", errors="replace")
        pages.append((name, page(url=url, fetched_url=url, html=html), gold_path.read_text(encoding="utf-8")))
    assert len(pages) >= 20

    started = time.perf_counter()
    scores = {name: token_f1(clean_page(p).text, gold) for name, p, gold in pages}
    elapsed = time.perf_counter() - started
    mean = sum(scores.values()) / len(scores)
    worst = min(scores, key=scores.__getitem__)
    print(
        f"\nnewspaper4k fixtures: mean token F1 {mean:.3f} over {len(scores)} pages, "
        f"worst {worst} {scores[worst]:.3f}, {len(scores) / elapsed:.1f} pages/s"
    )
    assert mean >= NEWSPAPER4K_MEAN_F1_FLOOR
    assert scores[worst] >= NEWSPAPER4K_PAGE_F1_FLOOR, worst

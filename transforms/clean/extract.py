"""Cleaning: turn a fetched (or given) page into an ``Article``.

Pure functions, no I/O: the Beam stage calls ``clean_page`` once per page. Main text and
metadata come from trafilatura (the body method in ``body.py``, chosen by cross-validation in
``scripts/eval_extraction.py``); when the page yields no article text the feed entry's own
content or summary is used instead, so a paywall or a failed fetch does not lose the item.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import trafilatura
from lxml import html as lxml_html
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from trafilatura.settings import Document
from trafilatura.utils import load_html

from newsbeam.schemas.records import Article, FeedEntry, Page
from newsbeam.transforms.clean.body import (
    DEFAULT_METHOD,
    BodyMethod,
    Candidates,
    PageFacts,
    choose_body,
    page_facts,
    recall_text,
    rs_text,
)
from newsbeam.transforms.clean.rights import Rights, tree_rights, with_headers
from newsbeam.transforms.dedup.keys import article_id, canonical_url, content_hash, normalise_text
from newsbeam.transforms.errors import ExtractError

#: Below this many words, what trafilatura found is a teaser, a paywall notice or the link
#: text of an index page rather than an article; a one-paragraph news brief still has ~40.
MIN_PAGE_WORDS = 25
PROSE_WORDS = 80
#: A page that says it is an article (og:type, JSON-LD type, or a headline with a publication
#: date) needs only this many words in one sentence: a breaking-news item can be two lines,
#: and those markers are what an index or gallery page does not carry.
MIN_ARTICLE_WORDS = 12

#: Below this probability py3langid's guess (on a headline-length text) is wrong more often
#: than right; no language is more useful downstream than a wrong one.
MIN_LANGUAGE_CONFIDENCE = 0.3
LANGUAGE_SAMPLE_CHARS = 1_000
"""py3langid reads only this many leading characters: its cost grows with the text (0.8 ms for
a median article, 0.3 ms for 1,000 characters), and on 1,014 real extracted pages in 19
languages the first 1,000 characters gave the whole text's answer for all but two (both
mixed-language pages)."""

#: Scripts written without spaces between words count one word per character (CJK) so
#: the length threshold means the same in every language.
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|\w+")


def word_count(text: str) -> int:
    """Words in ``text``; each CJK character counts as one word."""
    return len(_WORD.findall(text))


_SENTENCE_END = re.compile(r"[.!?。！？][\"'”’)\]]*(?:\s|$)")
#: A sentence end after a word of two or more letters: "7:00 p.m." or "J. Smith" do not end a
#: sentence, and a gallery's byline and date line must not pass for the one sentence of a brief.
_WORD_SENTENCE_END = re.compile(r"\w{2}[.!?。！？][\"'”’)\]]*(?:\s|$)")


def looks_like_prose(text: str, is_article: bool = False) -> bool:
    """Article text, not page furniture: enough words, and sentences unless it is long.

    A gallery or index page often leaves trafilatura ~30 words of headline, byline and
    share links with no sentence in them; a real news brief has at least two sentences.
    A page marked as an article (``PageFacts.is_article``) needs only ``MIN_ARTICLE_WORDS``
    and one sentence: short news items are real articles.
    """
    words = word_count(text)
    if is_article and words >= MIN_ARTICLE_WORDS and _WORD_SENTENCE_END.search(text):
        return True
    if words < MIN_PAGE_WORDS:
        return False
    return words >= PROSE_WORDS or len(_SENTENCE_END.findall(text)) >= 2


@functools.lru_cache(maxsize=1)
def language_identifier() -> LanguageIdentifier:
    """The py3langid model, loaded once per process (loading takes ~0.7 s; classifying ~ms)."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``, or None when py3langid is not confident."""
    sample = text.strip()[:LANGUAGE_SAMPLE_CHARS]
    if not sample:
        return None
    code, probability = language_identifier().classify(sample)
    if code == "zxx" or probability < MIN_LANGUAGE_CONFIDENCE:
        return None
    return str(code)


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken to be UTC (feeds and pages rarely say otherwise)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_date(value: str | None) -> datetime | None:
    """trafilatura's date string (ISO, from htmldate) as a UTC datetime."""
    if not value:
        return None
    try:
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class PageReading:
    """Everything read from one page's HTML: trafilatura's document (metadata and its text),
    the ``rel=canonical`` href, rights signals, the page's own article markers, and the
    body candidates."""

    doc: Document | None
    canonical: str | None
    rights: Rights
    facts: PageFacts
    candidates: Candidates


def read_page(page: Page, with_rs: bool = DEFAULT_METHOD.agreement) -> tuple[PageReading, lxml_html.HtmlElement | None]:
    """Parse ``page.html`` once and read it (see ``PageReading``); also returns the tree.

    The canonical href is read here because trafilatura drops relative canonical links unless
    the page also has og: metadata to resolve them with; rights and article markers are read
    before trafilatura strips the scripts and metas they live in.
    """
    tree = load_html(page.html)
    if tree is None:
        return PageReading(None, None, Rights(), PageFacts(), Candidates("")), None
    link = tree.find('.//head//link[@rel="canonical"]')
    canonical = link.get("href") if link is not None else None
    rights = tree_rights(tree)
    facts = page_facts(tree)
    url = page.fetched_url or page.url
    # An article cannot be published after we fetched it; bounding by the fetch time also
    # makes the result a function of the page, not of the day the pipeline runs. One day
    # of slack: htmldate compares timestamps with midnight of max_date, so a same-day
    # "06:00" would be rejected and replaced by a date-only guess.
    latest = _utc(page.fetched_at) + timedelta(days=1)
    result = trafilatura.bare_extraction(
        tree,
        url=url,
        date_extraction_params={
            "original_date": True,
            "extensive_search": True,
            "max_date": latest.strftime("%Y-%m-%d"),
            "outputformat": "%Y-%m-%dT%H:%M:%S%z",
            # a date in the URL has no time of day: prefer the page's full timestamps
            "deferred_url_extractor": True,
        },
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
    )
    doc = result if isinstance(result, Document) else None
    candidates = Candidates(
        trafilatura=(doc.text or "") if doc else "",
        rs=rs_text(page.html or "", url) if with_rs else None,
        json_ld=facts.json_ld_body,
    )
    return PageReading(doc, canonical, rights, facts, candidates), tree


def page_body(
    candidates: Candidates, facts: PageFacts, title: str | None, method: BodyMethod = DEFAULT_METHOD
) -> tuple[str, str]:
    """The article text of a read page and its source (``body.choose_body``), headline removed.

    With ``method.recall_fallback`` a body that does not look like prose is replaced by
    trafilatura's recall-mode text (``candidates.recall``) when that one is longer.
    """
    text, source = choose_body(candidates, method)
    text = _drop_headline(text, title)
    recall = candidates.recall
    if method.recall_fallback and recall and not looks_like_prose(text, facts.is_article):
        recall = _drop_headline(recall.strip(), title)
        if word_count(recall) > word_count(text):
            text, source = recall, "recall"
    return text, source


def _drop_headline(text: str, title: str | None) -> str:
    """Text without a first line that repeats the headline (trafilatura keeps the ``<h1>``).

    The title has its own field; left in the text it would make the page's copy hash
    differently from the same story taken from a feed or an ``--input`` record.
    """
    first, _, rest = text.partition("\n")
    if title and rest and normalise_text(first) == normalise_text(title):
        return rest.strip()
    return text


def _split_list(values: str | list[str] | None, separator: str) -> list[str]:
    """trafilatura joins authors with ';' and sometimes packs keywords into one ','-string."""
    if not values:
        return []
    items = [values] if isinstance(values, str) else values
    return [part.strip() for item in items for part in item.split(separator) if part.strip()]


def _unique(values: list[str], exclude: tuple[str | None, ...] = ()) -> tuple[str, ...]:
    """Distinct values in first-seen order, compared case-insensitively."""
    seen = {value.casefold() for value in exclude if value}
    result = []
    for value in values:
        key = value.casefold()
        if key not in seen:
            seen.add(key)
            result.append(value)
    return tuple(result)


def _host(url: str) -> str | None:
    """Host without ``www.``: the outlet name of last resort."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host or None


def _usable_canonical(link: str | None, fetched_url: str) -> str | None:
    """The page's ``rel=canonical`` link, when it can stand for the article.

    Relative links are resolved against the fetched URL. Cross-site links are accepted
    (syndicated copies point at the original, which is what dedup wants), but not links to
    a site's front page (a common template error that would merge every article of a site
    into one) nor to hosts that cannot be public (``localhost``, no dot).
    """
    if not link:
        return None
    absolute = urljoin(fetched_url, link.strip())
    parts = urlsplit(absolute)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or "." not in host or host.endswith(".localhost"):
        return None
    fetched_path = urlsplit(fetched_url).path
    if parts.path in ("", "/") and not parts.query and fetched_path not in ("", "/"):
        return None
    return absolute


def _title(page_title: str | None, given: str | None) -> str | None:
    """The page's title, unless it is the feed/input title plus a site suffix.

    Page metadata (og:title, JSON-LD headline) is usually the fullest headline; but when it
    came from ``<title>`` it often reads "Headline » Section » Site", and the given title
    is then the clean one.
    """
    if page_title and given:
        if len(given) < len(page_title) and normalise_text(given) in normalise_text(page_title):
            return given
        return page_title
    return page_title or given


def _feed_text(entry: FeedEntry | None) -> str | None:
    """The entry's full content, else its summary (both plain text by the read stage)."""
    if entry is None:
        return None
    for value in (entry.content, entry.summary):
        if value and value.strip():
            return value.strip()
    return None


def _no_text_reason(page: Page, why_page: str) -> str:
    """An actionable ``ExtractError`` reason: what was tried and what to look at."""
    url = page.fetched_url or page.url
    if page.html:
        hint = "the page may be an index page, paywalled, or rendered by JavaScript"
    elif page.fetch_error:
        hint = "fix the fetch or have the feed publish summaries"
    else:
        hint = "give --input records a 'text' or 'html' field"
    return f"no article text in {url} ({why_page}, feed entry has no summary/content): {hint}"


def clean_page(page: Page) -> Article:
    """Clean one page into an ``Article``; raise ``ExtractError`` when there is no text at all.

    Text: ``page.text`` when given (``text_source="input"``, trafilatura is skipped); else
    trafilatura's main text if it has at least ``MIN_PAGE_WORDS`` words (``"page"``); else
    the feed entry's content, then summary (``"feed"``).

    Metadata precedence, and why:

    * published: the input/feed value (machine-written, with time zone) over the page's
      (htmldate's best guess); always UTC.
    * title: the page's, unless the input/feed title is the same headline without the site
      suffix (see ``_title``); the input/feed title when the page has none.
    * authors: the page's byline (minus the outlet's own name), else the feed entry's.
    * tags: page categories and keywords, then the feed entry's tags, de-duplicated.
    * canonical URL: the page's ``rel=canonical`` when usable (``_usable_canonical``), else
      the fetched URL; always passed through ``canonical_url``.
    * language: trafilatura's when set, else py3langid on the article text.
    * source: the feed list's name for the outlet, else the page's site name, else the host.
    """
    entry = page.entry
    doc: Document | None = None
    canonical_link: str | None = None
    rights = Rights()
    why_page = ""
    text: str | None = None
    text_source = "page"

    if page.text and page.text.strip():
        text, text_source = page.text.strip(), "input"
    elif page.html:
        try:
            reading, tree = read_page(page)
            title = reading.doc.title if reading.doc else None
            page_text, body_source = page_body(reading.candidates, reading.facts, title)
            if tree is not None and DEFAULT_METHOD.recall_fallback and body_source != "recall":
                if not looks_like_prose(page_text, reading.facts.is_article):
                    url = page.fetched_url or page.url
                    candidates = replace(reading.candidates, recall=recall_text(tree, url))
                    page_text, _ = page_body(candidates, reading.facts, title)
        except Exception as error:  # noqa: BLE001 - a parser crash on one page falls back to the feed
            why_page = f"extraction failed: {type(error).__name__}: {error}"
        else:
            doc, canonical_link, rights = reading.doc, reading.canonical, reading.rights
            if looks_like_prose(page_text, reading.facts.is_article):
                text = page_text
            else:
                marked = "marked as an article" if reading.facts.is_article else "not marked as an article"
                why_page = (
                    f"trafilatura found {word_count(page_text)} words and no article prose (page {marked}; "
                    f"needs {MIN_PAGE_WORDS}+ words in 2+ sentences, or {PROSE_WORDS}+ words, or for a "
                    f"marked article {MIN_ARTICLE_WORDS}+ words in a sentence)"
                )
    elif page.fetch_error:
        why_page = f"page not fetched: {page.fetch_error}"
    else:
        why_page = "no HTML and no text"

    if text is None:
        text = _feed_text(entry)
        text_source = "feed"
        if text is None:
            raise ExtractError(_no_text_reason(page, why_page))

    fetched_url = page.fetched_url or page.url
    sitename = doc.sitename if doc else None
    source = page.source or (entry.source if entry else None) or sitename or _host(fetched_url)
    given_title = page.title or (entry.title if entry else None)
    given_published = page.published or (entry.published if entry else None)
    published = _utc(given_published) if given_published else _parse_date(doc.date if doc else None)

    authors = _unique(_split_list(doc.author if doc else None, ";"), exclude=(sitename, source))
    if not authors and entry:
        authors = _unique(list(entry.authors))
    tags = _unique(
        _split_list(doc.categories if doc else None, ",")
        + _split_list(doc.tags if doc else None, ",")
        + list(entry.tags if entry else ())
    )

    canonical = canonical_url(
        _usable_canonical(canonical_link, fetched_url)
        or _usable_canonical(doc.url if doc else None, fetched_url)
        or fetched_url
    )
    description = doc.description if doc else None
    if not description and entry and entry.summary and entry.summary.strip() != text:
        description = entry.summary.strip()
    image = urljoin(fetched_url, doc.image) if doc and doc.image else None

    return Article(
        article_id=article_id(canonical),
        url=page.url,
        canonical_url=canonical,
        fetched_url=fetched_url,
        fetched_at=page.fetched_at,
        text=text,
        text_source=text_source,
        content_hash=content_hash(text),
        feed_url=page.feed_url or (entry.feed_url if entry else None),
        source=source,
        title=_title(doc.title if doc else None, given_title),
        authors=authors,
        published=published,
        language=(doc.language if doc else None) or detect_language(text),
        description=description or None,
        sitename=sitename,
        tags=tags,
        image=image,
        updated=_utc(entry.updated) if entry and entry.updated else None,
        **_rights_fields(with_headers(rights, dict(page.rights_headers)), entry),
    )


def _rights_fields(rights: Rights, entry: FeedEntry | None) -> dict[str, Any]:
    """The article's rights columns: the page's signals plus the feed entry's licence."""
    return {
        "is_accessible_for_free": rights.is_accessible_for_free,
        "robots": rights.robots,
        "tdm_reservation": rights.tdm_reservation,
        "tdm_policy": rights.tdm_policy,
        "license": entry.license if entry else None,
    }

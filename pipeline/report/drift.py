"""Layout drift: the sites whose extraction started to look broken, judged against their own past.

A site that changes its template rarely fails loudly: trafilatura still returns *something*. So
each page gets signals that its extraction went wrong, each relative to what is normal for that
site (a site that never shows dates is not broken for lacking one):

* ``short``: text under ``short_ratio`` of the site's usual (median) length;
* ``no_title``: no title, where the site's earlier pages mostly had one;
* ``no_date``: no publication date, where its earlier pages mostly had one;
* ``feed_text``: the page gave nothing and the feed's summary was used instead;
* ``language``: a language other than the site's usual one.

A site's newest pages (``recent_pages``, at most half of what it has) are compared with its
earlier ones: it has drifted when at least ``min_share`` of the recent pages look broken and that
is ``min_rise`` more than the earlier share.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import duckdb

SIGNALS = ("short", "no_title", "no_date", "feed_text", "language")


@dataclass(frozen=True)
class DriftRule:
    recent_pages: int = 10
    min_recent: int = 3
    min_history: int = 5
    short_ratio: float = 0.3
    usual: float = 0.8
    """How often the earlier pages had a title (or date) for its absence to count."""
    min_share: float = 0.5
    min_rise: float = 0.3


Page = tuple[int, bool, bool, str, str | None]
"""(text length, has title, has date, text source, language)."""


@dataclass(frozen=True)
class SiteNorm:
    """What is usual for a site, from its earlier pages: computed once, then each page is compared."""

    median_length: float
    titles_usual: bool
    dates_usual: bool
    language: str | None

    @classmethod
    def of(cls, history: list[Page], rule: DriftRule) -> SiteNorm:
        languages = Counter(p[4] for p in history if p[4])
        return cls(
            median_length=statistics.median(p[0] for p in history) if history else 0.0,
            titles_usual=bool(history) and sum(p[1] for p in history) >= rule.usual * len(history),
            dates_usual=bool(history) and sum(p[2] for p in history) >= rule.usual * len(history),
            language=languages.most_common(1)[0][0] if languages else None,
        )


def page_signals(page: Page, norm: SiteNorm, rule: DriftRule) -> set[str]:
    """The broken-extraction signals of ``page``, against what is usual for its site (pure)."""
    length, has_title, has_date, text_source, language = page
    signals = set()
    if length < rule.short_ratio * norm.median_length:
        signals.add("short")
    if not has_title and norm.titles_usual:
        signals.add("no_title")
    if not has_date and norm.dates_usual:
        signals.add("no_date")
    if language and norm.language and language != norm.language:
        signals.add("language")
    if text_source == "feed":
        signals.add("feed_text")
    return signals


def judge_site(pages: list[Page], rule: DriftRule) -> dict[str, Any] | None:
    """One site's verdict from its pages in fetch order, or ``None`` when it has too few (pure)."""
    recent_count = min(rule.recent_pages, len(pages) // 2)
    history, recent = pages[: len(pages) - recent_count], pages[len(pages) - recent_count :]
    if len(recent) < rule.min_recent or len(history) < rule.min_history:
        return None
    # Earlier pages are judged against the whole history too, so both shares use the same yardstick.
    norm = SiteNorm.of(history, rule)
    earlier = [page_signals(p, norm, rule) for p in history]
    latest = [page_signals(p, norm, rule) for p in recent]
    earlier_share = sum(bool(s) for s in earlier) / len(earlier)
    recent_share = sum(bool(s) for s in latest) / len(latest)
    counts = Counter(signal for s in latest for signal in s)
    return {
        "pages": len(pages),
        "recent_pages": len(recent),
        "recent_broken_share": round(recent_share, 3),
        "earlier_broken_share": round(earlier_share, 3),
        "recent_signals": {signal: counts.get(signal, 0) for signal in SIGNALS},
        "median_length_recent": int(statistics.median(p[0] for p in recent)),
        "median_length_earlier": int(statistics.median(p[0] for p in history)),
        "drifted": recent_share >= rule.min_share and recent_share - earlier_share >= rule.min_rise,
    }


def site_drift(con: duckdb.DuckDBPyConnection, rule: DriftRule) -> list[dict[str, Any]]:
    """Every site (its ``source``, else its host) with enough pages, drifted ones first."""
    rows = con.execute(
        """
        SELECT coalesce(nullif(source, ''),
                        regexp_replace(regexp_extract(url, '^[A-Za-z]+://([^/:?#]+)', 1), '^www\\.', '')) AS site,
               length(coalesce(text, '')), coalesce(title, '') <> '', published IS NOT NULL,
               coalesce(text_source, ''), language
        FROM articles ORDER BY site, fetched_at, article_id
        """
    ).fetchall()
    verdicts = []
    for site, group in groupby(rows, key=lambda row: row[0]):
        pages: list[Page] = [(int(r[1]), bool(r[2]), bool(r[3]), str(r[4]), r[5]) for r in group]
        verdict = judge_site(pages, rule)
        if verdict is not None:
            verdicts.append({"site": site, **verdict})
    verdicts.sort(key=lambda v: (not v["drifted"], -v["recent_broken_share"], v["site"]))
    return verdicts

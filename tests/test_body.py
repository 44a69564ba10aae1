"""Body choice: the agreement rule, the page's own markers and JSON-LD body, short news items.

The short item below was written for this test (a ~70-word breaking-news brief, one sentence and
a credit line): under the old minimum-prose rule it was dead-lettered; a page that says it is an
article now keeps it, and the same text on a page with no such marker still does not pass.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from httpserver import LoopbackServer
from lxml import html as lxml_html

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.feedlist import load_feed_list
from newsbeam.pipeline.run import run
from newsbeam.schemas.records import Page
from newsbeam.transforms.clean.body import (
    AGREEMENT_METHOD,
    TRAFILATURA,
    BodyMethod,
    Candidates,
    agreed_text,
    choose_body,
    page_facts,
    paragraphs,
)
from newsbeam.transforms.clean.extract import (
    MIN_ARTICLE_WORDS,
    clean_page,
    looks_like_prose,
    page_body,
    word_count,
)
from newsbeam.transforms.errors import ExtractError
from newsbeam.transforms.fetch.http import HttpConfig

FETCHED = datetime(2024, 5, 8, 18, 0, tzinfo=UTC)
URL = "https://news.example.org/2024/05/08/rail-bridge-fire"

HEADLINE = "Fire halts trains on the Lowmere rail bridge"
BRIEF = (
    "All trains between Lowmere and Port Ancel were halted on Wednesday afternoon after a fire broke out "
    "beneath the old rail bridge over the Esk, the regional operator said, adding that crews from three "
    "stations were at the scene, that no injuries had been reported and that replacement buses would run "
    "for evening commuters until engineers have inspected the span."
)
CREDIT = "Reporting by Mara Quint, editing by Tobias Hale"


def news_item(head: str, body_extra: str = "") -> str:
    return (
        f"<html><head><title>{HEADLINE} | Lowmere Gazette</title>{head}</head><body>"
        "<nav><a href='/'>Home</a> <a href='/local'>Local</a> <a href='/sport'>Sport</a></nav>"
        f"<article><h1>{HEADLINE}</h1><p>{BRIEF}</p><p>{CREDIT}</p>{body_extra}</article>"
        "<footer><p>Copyright Lowmere Gazette</p></footer></body></html>"
    )


OG_ARTICLE = (
    '<meta property="og:type" content="article">'
    '<meta property="article:published_time" content="2024-05-08T15:42:00+00:00">'
)
JSON_LD = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "WebSite", "name": "Lowmere Gazette"},
        {"@type": ["NewsArticle"], "headline": HEADLINE, "datePublished": "2024-05-08T15:42:00Z"},
    ],
}


def page(html: str, **fields: Any) -> Page:
    return Page(url=URL, fetched_url=URL, fetched_at=FETCHED, html=html, **fields)


def facts(html: str) -> Any:
    return page_facts(lxml_html.fromstring(html))


# --------------------------------------------------------------------------- short news items


def test_the_brief_is_short_and_was_refused_by_the_old_rule() -> None:
    text = f"{BRIEF}\n{CREDIT}"
    assert 65 <= word_count(text) <= 75
    assert not looks_like_prose(text)  # the old rule: < 80 words and one sentence
    assert looks_like_prose(text, is_article=True)


@pytest.mark.parametrize(
    "head",
    [OG_ARTICLE, f'<script type="application/ld+json">{json.dumps(JSON_LD)}</script>'],
    ids=["og-type-article", "json-ld-newsarticle-in-graph"],
)
def test_short_news_item_on_a_marked_article_page_is_kept(head: str) -> None:
    article = clean_page(page(news_item(head)))
    assert article.text_source == "page"
    assert "halted on Wednesday afternoon" in article.text
    assert "replacement buses" in article.text
    assert "Copyright" not in article.text and "Sport" not in article.text
    assert article.title == HEADLINE


def test_the_same_text_on_an_unmarked_page_is_still_a_dead_letter() -> None:
    with pytest.raises(ExtractError) as error:
        clean_page(page(news_item("")))
    reason = error.value.reason
    assert URL in reason
    assert "not marked as an article" in reason


def test_a_marked_gallery_with_byline_date_and_share_links_is_not_a_brief() -> None:
    furniture = (
        "Photos In pictures: Tall ships arrive for the harbour festival Photos by Lena Okafor "
        "May 13, 2024, 7:00 p.m. All galleries Next gallery Share this story: Facebook X Email Print"
    )
    assert word_count(furniture) >= MIN_ARTICLE_WORDS
    assert not looks_like_prose(furniture, is_article=True)  # "p.m." does not end a sentence
    assert looks_like_prose(furniture.replace("Print", "Print the photos for the festival."), is_article=True)


def test_marked_page_with_a_few_words_only_is_still_refused() -> None:
    html = (
        f"<html><head>{OG_ARTICLE}</head><body><article><h1>{HEADLINE}</h1>"
        "<p>Subscribe to read this story.</p></article></body></html>"
    )
    with pytest.raises(ExtractError, match="marked as an article"):
        clean_page(page(html))
    assert MIN_ARTICLE_WORDS > word_count("Subscribe to read this story.")


# --------------------------------------------------------------------------- page facts


def test_page_facts_read_og_type_json_ld_and_headline_with_date() -> None:
    assert facts(news_item(OG_ARTICLE)).declared_article
    assert facts(news_item(OG_ARTICLE)).has_headline_and_date
    ld = facts(news_item(f'<script type="application/ld+json">{json.dumps(JSON_LD)}</script>'))
    assert ld.declared_article and ld.is_article and ld.json_ld_body is None
    dated_only = news_item('<meta property="article:published_time" content="2024-05-08T15:42:00Z">')
    assert facts(dated_only).is_article and not facts(dated_only).declared_article
    plain = facts(news_item(""))
    assert not plain.is_article and plain.json_ld_body is None


def test_page_facts_take_the_longest_article_body_and_skip_broken_blocks() -> None:
    blocks = [
        "{not json",
        json.dumps({"@type": "WebPage", "articleBody": "a web page is not an article " * 20}),
        json.dumps([{"@type": "NewsArticle", "articleBody": "Short body."}]),
        json.dumps({"@type": "http://schema.org/ReportageNews", "articleBody": f"{BRIEF}\n{CREDIT}"}),
    ]
    scripts = "".join(f'<script type="application/ld+json">{b}</script>' for b in blocks)
    found = facts(news_item(scripts))
    assert found.declared_article
    assert found.json_ld_body == f"{BRIEF}\n{CREDIT}"


# --------------------------------------------------------------------------- the agreement rule

NAV = "Home News Sport Weather Subscribe Sign in"
P1 = "The council approved the new budget on Monday after a long debate about road repairs."
P2 = "Opposition members said the plan left too little for the libraries in the north of the city."


def test_agreement_keeps_paragraphs_the_reference_shares_and_drops_furniture() -> None:
    rs = f"{NAV}\n{P1}\n{P2}\nRelated: ten photos of the harbour at dusk"
    reference = f"{P1}\n{P2}"
    assert paragraphs(agreed_text(rs, reference)) == [P1, P2]


def test_agreement_threshold_is_a_share_of_the_paragraphs_words() -> None:
    half = "council approved budget Monday zebra yak walrus okapi"  # 4 of 8 words in P1
    assert agreed_text(f"{half}\n{P2}", P1 + " " + P2, threshold=0.5).splitlines() == [half, P2]
    assert agreed_text(f"{half}\n{P2}", P1 + " " + P2, threshold=0.7).splitlines() == [P2]


def test_agreement_falls_back_to_the_whole_text_when_nothing_is_kept() -> None:
    rs = f"{P1}\n{P2}"
    assert agreed_text(rs, "") == rs
    assert agreed_text(rs, "entirely different words here") == rs


def test_choose_body_sources() -> None:
    both = Candidates(trafilatura=P1, rs=f"{NAV}\n{P1}\n{P2}")
    assert choose_body(both) == (P1, "trafilatura")  # the product's method: trafilatura's text
    assert choose_body(both, TRAFILATURA) == (P1, "trafilatura")
    assert choose_body(both, AGREEMENT_METHOD) == (P1, "agreement")
    assert choose_body(Candidates(trafilatura="", rs=P2), AGREEMENT_METHOD) == (P2, "rs")
    assert choose_body(Candidates(trafilatura=P1, rs=None), AGREEMENT_METHOD) == (P1, "trafilatura")
    with_ld = Candidates(trafilatura=P1, json_ld=f"{P1}\n{P2}")
    assert choose_body(with_ld, BodyMethod(json_ld=True)) == (f"{P1}\n{P2}", "json_ld")
    assert choose_body(with_ld) == (P1, "trafilatura")
    shorter_ld = Candidates(trafilatura=f"{P1}\n{P2}", json_ld=P1)
    assert choose_body(shorter_ld, BodyMethod(json_ld=True))[1] == "trafilatura"


def test_recall_fallback_replaces_a_body_that_is_not_prose() -> None:
    furniture = "Share Tweet Email Print"
    marked = facts(news_item(OG_ARTICLE))
    candidates = Candidates(trafilatura=furniture, recall=f"{BRIEF}\n{CREDIT}")
    assert page_body(candidates, marked, HEADLINE) == (f"{BRIEF}\n{CREDIT}", "recall")
    assert page_body(candidates, marked, HEADLINE, TRAFILATURA) == (furniture, "trafilatura")
    prose = Candidates(trafilatura=f"{BRIEF}\n{CREDIT}", recall=f"{BRIEF}\n{CREDIT}\n{NAV}")
    assert page_body(prose, marked, HEADLINE)[1] == "trafilatura"  # prose already: recall is not consulted


# --------------------------------------------------------------------------- end to end


def test_short_news_item_reaches_the_lake_through_a_run(tmp_path: Path, http_server: LoopbackServer) -> None:
    """Served over loopback HTTP from a feed with no summary: the brief is an article, the nav page a dead letter."""
    s = http_server
    s.add("/news/brief.html", news_item(OG_ARTICLE))
    s.add("/news/unmarked.html", news_item(""))
    items = "".join(
        f"<item><title>{title}</title><link>{s.url(path)}</link><guid>{path}</guid>"
        "<pubDate>Wed, 08 May 2024 15:42:00 +0000</pubDate></item>"
        for title, path in ((HEADLINE, "/news/brief.html"), ("Unmarked copy", "/news/unmarked.html"))
    )
    s.add(
        "/feed.xml",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Lowmere Gazette</title>'
        f"<link>{s.url('/')}</link><description>d</description>{items}</channel></rss>",
        content_type="application/rss+xml",
    )
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(s.url("/feed.xml") + "\n")
    output = tmp_path / "lake"
    config = RunConfig(
        output=str(output),
        feeds=tuple(load_feed_list(feeds)),
        http=HttpConfig(total_timeout=10, allow_private_networks=True, min_delay=0),
    )
    run(config)
    con = lake_sql.connect(str(output))
    articles = {
        url: (source, text)
        for url, source, text in con.execute("SELECT url, text_source, text FROM articles").fetchall()
    }
    letters = {
        i: (stage, reason)
        for i, stage, reason in con.execute("SELECT input_id, stage, reason FROM dead_letters").fetchall()
    }
    source, text = articles[s.url("/news/brief.html")]
    assert source == "page" and "replacement buses" in text
    assert s.url("/news/brief.html") not in letters
    assert s.url("/news/unmarked.html") not in articles
    stage, reason = letters[s.url("/news/unmarked.html")]
    assert stage == "clean" and "not marked as an article" in reason

"""The motivating example: two outlets' articles about one event, served and ingested for real.

Skips when ``../shared`` is absent. The article texts are read from ``../shared/seeds`` at test
time and never copied into the repository.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from httpserver import LoopbackServer

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.feedlist import load_feed_list
from newsbeam.pipeline.run import run
from newsbeam.transforms.entities.encoder import ACCURATE_MODEL
from newsbeam.transforms.entities.neural import ACCURATE
from newsbeam.transforms.entities.tagger import resolve_model
from newsbeam.transforms.fetch.http import HttpConfig


def page(title: str, body: str, outlet: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p.strip())}</p>" for p in body.split("\n") if p.strip())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} | {outlet}</title></head>"
        f"<body><header><a href='/'>{outlet}</a> <a href='/world'>World</a></header>"
        f"<article><h1>{html.escape(title)}</h1><p class='byline'>By Staff</p>{paragraphs}</article>"
        "<footer>All rights reserved.</footer></body></html>"
    )


@pytest.fixture(scope="module", params=[None, ACCURATE])
def seeds_lake(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The two seed articles served as pages of two outlets with feeds, ingested once per NER model
    (the packaged fast model, and ``accurate`` when ``make model-accurate`` has built it)."""
    shared = Path(__file__).resolve().parents[1].parent / "shared"
    if not (shared / "seeds").is_dir():
        pytest.skip("../shared not present")
    if request.param == ACCURATE and not (ACCURATE_MODEL / "weights.npz").is_file():
        pytest.skip("accurate NER model not built (make model-accurate)")
    first, second = sorted((shared / "seeds").glob("*.txt"))
    tmp_path = tmp_path_factory.mktemp("seeds")
    with LoopbackServer() as s:
        s.add("/daily/world/wang-russia.html", page("Top diplomat heads to Moscow", first.read_text(), "Daily"))
        s.add("/times/asia/wang-visit.html", page("Foreign minister begins visit", second.read_text(), "Times"))
        s.add(
            "/daily/rss.xml",
            "<?xml version='1.0'?><rss version='2.0'><channel><title>The Daily</title><link>x</link>"
            f"<description>d</description><item><title>Top diplomat heads to Moscow</title>"
            f"<link>{s.url('/daily/world/wang-russia.html')}</link>"
            "<pubDate>Mon, 18 Sep 2023 06:00:00 +0000</pubDate></item></channel></rss>",
            content_type="application/rss+xml",
        )
        s.add(
            "/times/atom.xml",
            "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>The Times</title>"
            "<id>urn:times</id><updated>2023-09-18T09:00:00Z</updated><entry><title>Foreign minister begins visit"
            f"</title><link href='{s.url('/times/asia/wang-visit.html')}'/><id>urn:times:1</id>"
            "<updated>2023-09-18T09:00:00Z</updated></entry></feed>",
            content_type="application/atom+xml",
        )
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(f"{s.url('/daily/rss.xml')}\n{s.url('/times/atom.xml')}\n")
        output = tmp_path / "lake"
        loopback = HttpConfig(allow_private_networks=True, min_delay=0)
        config = RunConfig(
            output=str(output), feeds=tuple(load_feed_list(feeds)), http=loopback, ner_model=request.param
        )
        result = run(config)
    assert result.dead_letters == 0
    return output


def test_seed_articles_land_with_their_entities(seeds_lake: Path) -> None:
    con = lake_sql.connect(str(seeds_lake))
    assert con.execute("SELECT count(*), count(DISTINCT source) FROM articles").fetchall() == [(2, 2)]
    assert con.execute("SELECT DISTINCT text_source FROM articles").fetchall() == [("page",)]
    for slug in ("russia", "china", "ukraine"):  # every entity stays in the article rows
        found = con.execute(
            f"SELECT count(*) FROM articles WHERE list_contains(list_transform(entities, lambda e: e.slug), '{slug}')"
        ).fetchall()
        assert found == [(2,)], slug
    for slug in ("russia", "china"):  # the salient ones also get entities/ partitions
        found = con.execute(
            f"SELECT count(DISTINCT article_id), count(DISTINCT source) FROM entities WHERE entity = '{slug}'"
        ).fetchall()
        assert found == [(2, 2)], slug
    us = con.execute("SELECT source FROM entities WHERE entity = 'united-states'").fetchall()
    assert us == [("The Daily",)]  # only the first article names the US


def test_seed_articles_share_one_story(seeds_lake: Path) -> None:
    con = lake_sql.connect(str(seeds_lake))
    assert con.execute("SELECT count(DISTINCT story_id) FROM articles").fetchall() == [(1,)]


EXPECTED = {
    "The Daily": {
        "wang-yi", "jake-sullivan", "joe-biden", "qin-gang", "li-shangfu",
        "china", "russia", "united-states", "ukraine", "malta", "brazil", "india", "south-africa",
        "north-atlantic-treaty-organisation", "brics",
    },
    "The Times": {
        "wang-yi", "sergei-lavrov", "nikolai-patrushev", "li-shangfu", "vladimir-putin", "xi-jinping",
        "china", "russia", "ukraine", "belarus", "south-korea", "moscow",
    },
}  # fmt: skip


@pytest.mark.skipif(resolve_model(None) is None, reason="no packaged NER model (make model)")
def test_canonical_entities_with_the_trained_model(seeds_lake: Path) -> None:
    """ "Mr Wang" and "Wang" are Wang Yi; "Chinese" points to China; no partition from a title-only form."""
    con = lake_sql.connect(str(seeds_lake))
    for source, expected in EXPECTED.items():
        (slugs,) = con.execute(
            f"SELECT list_transform(entities, lambda e: e.slug) FROM articles WHERE source = '{source}'"
        ).fetchone()
        assert expected <= set(slugs), (source, expected - set(slugs))
    wang = con.execute("SELECT count(DISTINCT source) FROM entities WHERE entity = 'wang-yi'").fetchall()
    assert wang == [(2,)]
    partitions = {p for (p,) in con.execute("SELECT DISTINCT entity FROM entities").fetchall()}
    assert not {p for p in partitions if p in {"wang", "mr", "yi"} or p.startswith(("mr-", "mrs-", "ms-"))}
    titled = con.execute(
        "SELECT m.text, m.entity_id FROM (SELECT unnest(mentions) AS m FROM articles) "
        "WHERE m.text IN ('Mr Wang', 'Wang')"
    ).fetchall()
    assert titled and {entity_id for _, entity_id in titled} == {"nb:PER:wang-yi"}
    chinese = con.execute(
        "SELECT DISTINCT m.entity_id, m.type FROM (SELECT unnest(mentions) AS m FROM articles) WHERE m.text = 'Chinese'"
    ).fetchall()
    assert chinese == [("nb:LOC:china", "MISC")]

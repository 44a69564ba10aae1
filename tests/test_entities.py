"""Gazetteer entity tagging: canonical ids and slugs, exact offsets, demonyms, salience, the data file."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from newsbeam.schemas.lake import ENTITY_TYPES
from newsbeam.schemas.records import EntityRef, Mention
from newsbeam.transforms.entities.gazetteer import (
    SLUG_RE,
    Gazetteer,
    default_gazetteer,
    slugify,
    stable_entity_id,
)
from newsbeam.transforms.entities.tagger import EntityTagger, build_pipeline, salience, salient, truncate

REPO = Path(__file__).resolve().parents[1]
DATA_FILE = REPO / "transforms" / "entities" / "data" / "gazetteer.jsonl.gz"

US = "nb:LOC:united-states"
CHINA = "nb:LOC:china"
GERMANY = "nb:LOC:germany"
NATO = "Q7184"
BIDEN = "Q6279"

TITLE = "Biden presses Germany on defence spending"
TEXT = (
    "Officials in the United States said on Tuesday that the US would host the next round. "
    "U.S. diplomats and Chinese officials met after China's envoy arrived, and China\u2019s "
    "ministry confirmed the date. Joe Biden told Nato allies that NATO must stay united, "
    "and Germany agreed. Some of us expected a longer meeting."
)


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    """The gazetteer ruler alone: these tests pin its matching rules (the model has its own tests)."""
    return EntityTagger.load(model="gazetteer")


@pytest.fixture(scope="module")
def tagged(tagger: EntityTagger) -> tuple[tuple[Mention, ...], tuple[EntityRef, ...]]:
    return tagger.tag(TEXT, title=TITLE)


def _by_id(entities: tuple[EntityRef, ...]) -> dict[str, EntityRef]:
    return {e.entity_id: e for e in entities}


def test_aliases_link_to_canonical_entities(
    tagged: tuple[tuple[Mention, ...], tuple[EntityRef, ...]],
) -> None:
    mentions, entities = tagged
    linked = {(m.text, m.entity_id) for m in mentions}
    assert {("United States", US), ("US", US), ("U.S.", US)} <= linked
    assert {("China", CHINA), ("Chinese", CHINA)} <= linked
    assert {("Nato", NATO), ("NATO", NATO), ("Joe Biden", BIDEN), ("Germany", GERMANY)} <= linked

    refs = _by_id(entities)
    assert (refs[US].name, refs[US].slug, refs[US].type, refs[US].mention_count) == (
        "United States",
        "united-states",
        "LOC",
        3,
    )
    assert (refs[CHINA].name, refs[CHINA].slug) == ("China", "china")
    assert refs[NATO].name == "North Atlantic Treaty Organisation"  # the source's canonical spelling
    assert refs[NATO].slug == "north-atlantic-treaty-organisation"
    assert refs[NATO].mention_count == 2
    assert (refs[BIDEN].slug, refs[BIDEN].type) == ("joe-biden", "PER")
    assert all(SLUG_RE.match(e.slug) and e.type in ENTITY_TYPES for e in entities)


def test_offsets_are_exact_sorted_and_disjoint(
    tagged: tuple[tuple[Mention, ...], tuple[EntityRef, ...]],
) -> None:
    mentions, _ = tagged
    assert mentions
    for mention in mentions:
        assert TEXT[mention.start : mention.end] == mention.text
    for before, after in pairwise(mentions):
        assert before.end <= after.start


def test_possessives_both_apostrophes(tagged: tuple[tuple[Mention, ...], tuple[EntityRef, ...]]) -> None:
    mentions, _ = tagged
    china_starts = {m.start for m in mentions if m.entity_id == CHINA and m.text == "China"}
    assert china_starts == {TEXT.index("China's"), TEXT.index("China\u2019s")}


def test_lowercase_us_is_never_the_country(tagged: tuple[tuple[Mention, ...], tuple[EntityRef, ...]]) -> None:
    mentions, _ = tagged
    us_word = TEXT.index("of us") + 3
    assert not [m for m in mentions if m.start <= us_word < m.end]
    assert "us" not in {m.text for m in mentions}


def test_demonym_is_misc_mention_of_the_country(
    tagged: tuple[tuple[Mention, ...], tuple[EntityRef, ...]],
) -> None:
    mentions, entities = tagged
    (chinese,) = [m for m in mentions if m.text == "Chinese"]
    assert (chinese.type, chinese.entity_id) == ("MISC", CHINA)
    china = _by_id(entities)[CHINA]
    assert china.type == "LOC"
    assert china.mention_count == 3  # "Chinese" and both possessives


def test_title_surname_and_title_bonus(tagged: tuple[tuple[Mention, ...], tuple[EntityRef, ...]]) -> None:
    mentions, entities = tagged
    refs = _by_id(entities)
    total = len(mentions)
    # "Biden" in the title counts because the text names Joe Biden in full.
    assert refs[BIDEN].salience == round(0.6 * 1 / total + 0.25 + 0.15, 4)
    assert refs[GERMANY].salience == round(0.6 * 1 / total + 0.25 + 0.15, 4)
    assert refs[NATO].salience == round(0.6 * 2 / total + 0.15, 4)
    assert all(m.end <= len(TEXT) for m in mentions)  # titles never add mentions
    assert [e.salience for e in entities] == sorted((e.salience for e in entities), reverse=True)


def test_title_entity_outranks_an_equal_one(tagger: EntityTagger) -> None:
    filler = "The committee met again and nothing new was agreed at the meeting. " * 12
    text = filler + "Delegates from France and Italy attended."
    _, entities = tagger.tag(text, title="Italy signs on")
    refs = {e.slug: e for e in entities}
    assert refs["italy"].mention_count == refs["france"].mention_count == 1
    assert refs["italy"].salience == 0.55 and refs["france"].salience == 0.3
    assert [e.slug for e in entities] == ["italy", "france"]


def test_title_only_entity_has_no_mentions(tagger: EntityTagger) -> None:
    mentions, entities = tagger.tag("Markets were calm on Monday.", title="Japan holds rates")
    assert mentions == ()
    assert [(e.slug, e.mention_count, e.salience) for e in entities] == [("japan", 0, 0.25)]


def test_surnames_only_for_people_named_in_full(tagger: EntityTagger) -> None:
    text = "Biden spoke first. Joe Biden then met Hunter Biden. President Biden left."
    mentions, _ = tagger.tag(text)
    linked = [(m.start, m.text) for m in mentions if m.entity_id == BIDEN]
    assert linked == [
        (0, "Biden"),
        (text.index("Joe Biden"), "Joe Biden"),
        (text.index("President Biden") + 10, "Biden"),
    ]
    assert tagger.tag("Biden spoke first.")[0] == ()  # a bare surname alone is too ambiguous


def test_hyphenated_and_dotted_forms(tagger: EntityTagger) -> None:
    text = "The U.S.-led coalition and the US-backed plan worried China-Russia planners."
    mentions, _ = tagger.tag(text)
    assert [(m.text, m.entity_id) for m in mentions] == [
        ("U.S.", US),
        ("US", US),
        ("China", CHINA),
        ("Russia", "nb:LOC:russia"),
    ]


def test_unlinked_model_spans_get_stable_ids() -> None:
    """The seam for a statistical model: spans with no gazetteer id still become entities."""
    gazetteer = default_gazetteer()
    nlp = build_pipeline(gazetteer)
    stand_in = nlp.add_pipe("entity_ruler", name="model_stand_in", before="entity_ruler")
    stand_in.add_patterns([{"label": "PERSON", "pattern": "Wang Yi"}, {"label": "DATE", "pattern": "Monday"}])  # type: ignore[attr-defined]
    mentions, entities = EntityTagger(nlp, gazetteer).tag("Wang Yi flew to Russia on Monday.")
    assert [(m.text, m.type, m.entity_id) for m in mentions] == [
        ("Wang Yi", "PER", "nb:PER:wang-yi"),
        ("Russia", "LOC", "nb:LOC:russia"),
    ]
    wang = _by_id(entities)["nb:PER:wang-yi"]
    assert (wang.name, wang.slug, wang.type) == ("Wang Yi", "wang-yi", "PER")


def test_tag_many_matches_tag(tagger: EntityTagger) -> None:
    items: list[str | tuple[str, str | None]] = [
        TEXT,
        (TEXT, TITLE),
        ("", None),
        ("Nothing to see here.", "Nato"),
        ("Germany and France.", None),
    ]
    expected = [tagger.tag(i) if isinstance(i, str) else tagger.tag(*i) for i in items]
    assert list(tagger.tag_many(items, batch_size=2)) == expected


def test_truncate_cuts_at_whitespace() -> None:
    assert truncate("short text", limit=100) == "short text"
    assert truncate("United States of America", limit=15) == "United States"
    assert truncate("x" * 20, limit=5) == "xxxxx"


def test_salience_formula() -> None:
    assert salience(2, 4, in_title=True, in_lead=False) == 0.55
    assert salience(4, 4, in_title=True, in_lead=True) == 1.0
    assert salience(1, 3, in_title=False, in_lead=False) == 0.2
    assert salience(0, 0, in_title=False, in_lead=False) == 0.0


def _ref(slug: str, value: float) -> EntityRef:
    return EntityRef(f"nb:LOC:{slug}", slug.title(), slug, "LOC", value, 1)


def test_salient_top_k_and_threshold() -> None:
    entities = [_ref("b", 0.3), _ref("a", 0.3), _ref("c", 0.9), _ref("d", 0.02), _ref("e", 0.03)]
    assert [e.slug for e in salient(entities)] == ["c", "a", "b", "e"]
    assert [e.slug for e in salient(entities, top_k=2)] == ["c", "a"]
    assert [e.slug for e in salient(entities, threshold=0.5)] == ["c"]
    assert salient(entities, top_k=0) == ()
    with pytest.raises(ValueError):
        salient(entities, top_k=-1)


def test_slugify_and_stable_ids() -> None:
    assert slugify("Côte d'Ivoire") == "cote-d-ivoire"
    assert slugify("  São Tomé & Príncipe ") == "sao-tome-principe"
    assert slugify("U.S.--led") == "u-s-led"
    assert re.fullmatch(r"x-[0-9a-f]{10}", slugify("王毅"))
    assert slugify("王毅") == slugify("王毅") != slugify("李尚福")
    assert stable_entity_id("Wang Yi", "PER") == "nb:PER:wang-yi"
    assert stable_entity_id("China", "LOC") == CHINA  # same id space as the gazetteer's countries
    with pytest.raises(ValueError):
        stable_entity_id("Wang Yi", "PERSON")


def test_packaged_gazetteer() -> None:
    gazetteer = Gazetteer.load()
    counts = gazetteer.counts()
    assert counts["LOC"] > 200 and counts["PER"] > 500 and counts["ORG"] > 400
    assert DATA_FILE.stat().st_size < 2_000_000
    assert len({e.slug for e in gazetteer}) == len(gazetteer)
    assert all(SLUG_RE.match(e.slug) for e in gazetteer)
    assert all(re.fullmatch(r"Q\d+|nb:(PER|ORG|LOC|MISC):[a-z0-9-]+", e.entity_id) for e in gazetteer)

    assert [gazetteer[i].name for i in (US, CHINA, "nb:LOC:russia", "nb:LOC:south-korea")] == [
        "United States",
        "China",
        "Russia",
        "South Korea",
    ]
    assert gazetteer.by_slug("united-kingdom") is gazetteer.get("nb:LOC:united-kingdom")
    assert {"US", "U.S.", "USA"} <= set(gazetteer[US].aliases)
    assert {"NATO", "Nato"} <= set(gazetteer[NATO].aliases)
    assert {"Joe Biden", "Joseph R. Biden Jr."} <= set(gazetteer[BIDEN].aliases)
    every_alias = [a for e in gazetteer for a in (*e.aliases, *e.demonyms)]
    assert len(every_alias) == len(set(every_alias))  # ambiguous aliases were dropped
    assert not [a for a in every_alias if a == a.lower() or len(a) < 2]

    patterns = gazetteer.patterns()
    assert {"label": "MISC", "pattern": "Chinese", "id": CHINA} in patterns
    assert {"label": "LOC", "pattern": "U.S.", "id": US} in patterns


@pytest.mark.shared
def test_rebuild_is_deterministic(shared_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "gazetteer.jsonl.gz"
    command = [sys.executable, str(REPO / "scripts" / "build_gazetteer.py")]
    command += ["--source", str(shared_dir / "corpora" / "gazetteer"), "--output", str(output)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    assert gzip.decompress(output.read_bytes()) == gzip.decompress(DATA_FILE.read_bytes())


@pytest.mark.shared
def test_seed_articles(shared_dir: Path, tagger: EntityTagger) -> None:
    seeds = sorted((shared_dir / "seeds").glob("*.txt"))
    assert len(seeds) >= 2
    texts = [path.read_text(encoding="utf-8") for path in seeds]
    for text, (mentions, entities) in zip(texts, tagger.tag_many(texts), strict=True):
        assert all(text[m.start : m.end] == m.text for m in mentions)
        found = {e.slug for e in entities}
        assert {"russia", "china", "ukraine"} <= found
        if re.search(r"\b(US|U\.S\.|United States)\b", text):
            assert "united-states" in found
        top = {e.slug for e in salient(entities, top_k=2)}
        assert top == {"russia", "china"}  # the story: China's foreign minister visits Russia

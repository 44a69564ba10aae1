"""Golden files for coreference, demonyms and acronyms (see ``tests/golden/entities_golden.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from newsbeam.transforms.entities.tagger import EntityTagger, resolve_model

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
from entities_golden import EXPECTED_SUFFIX, cases, outcome  # noqa: E402

pytestmark = pytest.mark.skipif(resolve_model(None) is None, reason="goldens pin the packaged NER model")


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger.load()


@pytest.mark.parametrize("path", cases(GOLDEN), ids=lambda p: p.stem)
def test_entities_golden(tagger: EntityTagger, path: Path) -> None:
    expected = json.loads(path.with_suffix(EXPECTED_SUFFIX).read_text(encoding="utf-8"))
    assert outcome(tagger, path) == expected


def test_goldens_show_the_linking_rules(tagger: EntityTagger) -> None:
    """The behaviours the goldens exist for, stated outright."""
    by_text = {}
    for path in cases(GOLDEN):
        for text, type_, entity_id in outcome(tagger, path)["mentions"]:
            by_text.setdefault(text, set()).add((type_, entity_id))
    assert by_text["Okonjo"] == {("PER", "nb:PER:amara-okonjo")}
    assert by_text["Feldmann"] == {("PER", "nb:PER:jonas-feldmann")}  # "Mr Feldmann" without the title
    assert not any(text.startswith(("Mr ", "Foreign Minister ")) for text in by_text)
    assert by_text["French"] == {("MISC", "nb:LOC:france")} and by_text["Kenyan"] == {("MISC", "nb:LOC:kenya")}
    assert {entity_id for _, entity_id in by_text["PASC"]} == {"nb:ORG:pan-african-shipping-council"}

"""``--ner-model accurate`` end to end: the MiniLM spans go through the gazetteer ruler and linking.

Skips when the packaged weights are absent (``make model-accurate``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import run
from newsbeam.transforms.entities.encoder import ACCURATE_MODEL
from newsbeam.transforms.entities.linking import unlinked_id
from newsbeam.transforms.entities.tagger import EntityTagger

pytestmark = pytest.mark.skipif(
    not (ACCURATE_MODEL / "weights.npz").is_file(), reason="accurate NER model not built (make model-accurate)"
)

TEXT = (
    "Chinese Foreign Minister Wang Yi met Sergei Lavrov in Moscow on Monday. "
    "Wang said the talks with Lavrov were frank. Executives of Zorvex Industries, "
    "a company based in Kilbrannock, attended as guests of Maria Tarsellini."
)


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger.load(model="accurate")


def test_pipeline_is_encoder_then_ruler(tagger: EntityTagger) -> None:
    assert tagger.nlp.pipe_names == ["ner", "entity_ruler"]


def test_gazetteer_ids_hold_and_new_names_are_found(tagger: EntityTagger) -> None:
    mentions, entities = tagger.tag(TEXT, "Wang Yi in Moscow")
    by_text = {m.text: m for m in mentions}
    assert by_text["Wang Yi"].entity_id == "nb:PER:wang-yi"
    assert by_text["Wang"].entity_id == "nb:PER:wang-yi"  # surname linked to the full name
    assert by_text["Moscow"].entity_id == "nb:LOC:moscow"
    assert by_text["Chinese"].entity_id == "nb:LOC:china" and by_text["Chinese"].type == "MISC"
    assert by_text["Maria Tarsellini"].entity_id == unlinked_id("Maria Tarsellini", "PER")  # not in the gazetteer
    assert by_text["Maria Tarsellini"].type == "PER"
    assert {"Zorvex Industries", "Kilbrannock"} <= set(by_text)
    assert entities[0].entity_id == "nb:PER:wang-yi"
    for mention in mentions:
        assert TEXT[mention.start : mention.end] == mention.text


def test_run_with_the_accurate_model_writes_mentions(tmp_path: Path) -> None:
    records = tmp_path / "in.jsonl"
    rows = [
        {"url": "https://e.example/a", "title": "Wang Yi in Moscow", "text": TEXT, "published": "2024-05-02T10:00:00Z"},
        {"url": "https://e.example/b", "text": "", "published": "2024-05-02T10:00:00Z"},  # bad: a dead letter
    ]
    records.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    result = run(RunConfig(output=str(tmp_path / "lake"), input_pattern=str(records), ner_model="accurate"))
    con = lake_sql.connect(str(tmp_path / "lake"))
    mentions = con.execute(
        "SELECT m.text, m.type, m.entity_id FROM (SELECT unnest(mentions) AS m FROM articles)"
    ).fetchall()
    assert ("Wang Yi", "PER", "nb:PER:wang-yi") in mentions
    assert ("Maria Tarsellini", "PER", unlinked_id("Maria Tarsellini", "PER")) in mentions
    assert con.execute("SELECT count(*) FROM entities WHERE entity = 'wang-yi'").fetchall() == [(1,)]
    assert result.dead_letters == 1

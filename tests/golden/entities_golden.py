"""Golden files for entity tagging and linking: texts written for this project, expected JSON.

Each ``entities/<name>.txt`` is tagged by the packaged model + gazetteer + linking, and the
mentions (text, type, entity id) and entities (slug, type, mention count) are compared with
``<name>.expected.json``. Regenerate with ``make golden`` after an intended change, then review
the diff: these files pin coreference ("Ms Okonjo", "Okonjo" -> Amara Okonjo), demonyms
("French" -> France as a MISC mention) and defined acronyms ("PASC").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from newsbeam.transforms.entities.tagger import EntityTagger

EXPECTED_SUFFIX = ".expected.json"


def cases(root: Path) -> list[Path]:
    return sorted((root / "entities").glob("*.txt"))


def outcome(tagger: EntityTagger, path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    mentions, entities = tagger.tag(text)
    return {
        "mentions": [[m.text, m.type, m.entity_id] for m in mentions],
        "entities": sorted([[e.slug, e.type, e.mention_count] for e in entities]),
    }


def regenerate_entities(root: Path) -> list[Path]:
    tagger = EntityTagger.load()
    written = []
    for path in cases(root):
        target = path.with_suffix(EXPECTED_SUFFIX)
        target.write_text(json.dumps(outcome(tagger, path), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written

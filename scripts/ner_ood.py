"""The out-of-domain NER check set: how a labelled text is assembled, the label file, the scorer.

The set is English publisher pages from ``../shared/corpora/publishers`` (Fundus test data, not
Reuters), labelled by hand with the CoNLL-2003 types. The repository keeps only the labels
(``eval/data/ner_ood_labels.jsonl``: document id, sha256 of the assembled text, character spans);
the text is rebuilt from the corpus by ``assemble`` every time, and the sha256 says whether it is
still the text that was labelled. The labelling helper and the eval both go through this module,
so the rule that builds the text exists once.

Labelling conventions (the CoNLL-2003 guidelines; where they are unclear, what its training data
does):

* Titles and honorifics stay outside a PER span: "Harry" in "Prince Harry", "Anwar Ibrahim" in
  "Datuk Seri Anwar Ibrahim", "Starmer" in "Lady Starmer".
* A body named with its country is one ORG ("US Supreme Court", "U.S. Air Force"), as most of
  CoNLL's "U.S. ..." bodies are. "Parliament" alone is not labelled (CoNLL tags it O).
* MISC: nationalities and demonyms, party adjectives ("Democratic"), named events including
  holidays ("Labor Day", as CoNLL), military operations and exercises, works, products, laws and
  treaties ("Fourteenth Amendment"), AIDS (as CoNLL). A hyphen compound holding a name is one
  MISC span ("pro-Israel", "Russian-occupied"), as CoNLL's "U.S.-led".
* ORG: companies, online platforms (Telegram, Reddit), publications, parties, sports clubs.
  LOC: places, facilities (stadiums, theatres, streets), a place naming a treaty ("Paris" climate
  treaty, as CoNLL's "Dayton" accord), a country as a national team.
* "The" is inside a span only where it is part of the printed name mid-sentence ("The Hague",
  "The Intercept", "The Tempest").
* Not labelled: dates and numbers, currencies (bitcoin), plant and grape varieties, user names,
  generic capitalised offices ("Federal Government", "MEC"), column names, slogans.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "publishers"
LABELS = ROOT / "eval" / "data" / "ner_ood_labels.jsonl"

TYPES = ("PER", "ORG", "LOC", "MISC")
SEPARATOR = "\n\n"
MAX_CHARS = 2_500
"""Texts stop at the last whole paragraph within this many characters: enough for ~15-25 names
per page while keeping hand labelling feasible."""

Span = tuple[int, int, str]


@dataclass(frozen=True)
class LabelledDoc:
    """One labelled page: its id (the ``html_path`` in ``pages.jsonl``), text hash and gold spans."""

    doc: str
    sha256: str
    entities: tuple[Span, ...]


def paragraphs(expected: dict[str, Any]) -> list[str]:
    """Title, summary paragraphs, then section paragraphs, in order (section headlines left out)."""
    body = expected.get("body") or {}
    parts = [expected.get("title") or "", *body.get("summary", [])]
    for section in body.get("sections", []):
        parts.extend(section.get("paragraphs", []))
    return [part.strip() for part in parts if part and part.strip()]


def assemble(expected: dict[str, Any], max_chars: int = MAX_CHARS) -> str:
    """The labelled text of one page: ``paragraphs`` joined by a blank line, cut at the last whole
    paragraph that ends within ``max_chars`` (the title and first paragraph are always kept)."""
    text = ""
    for index, part in enumerate(paragraphs(expected)):
        candidate = part if not text else text + SEPARATOR + part
        if index >= 2 and len(candidate) > max_chars:
            break
        text = candidate
    return text


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pages(corpus: Path = CORPUS) -> dict[str, dict[str, Any]]:
    """``pages.jsonl`` rows keyed by ``html_path`` (the document id the labels use)."""
    with (corpus / "pages.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {row["html_path"]: row for row in rows}


def page_text(doc: str, corpus: Path = CORPUS, rows: dict[str, dict[str, Any]] | None = None) -> str:
    """The assembled text of document ``doc``, read from the corpus's expected JSON."""
    row = (rows or pages(corpus))[doc]
    expected = json.loads((corpus / row["expected_path"]).read_text(encoding="utf-8"))
    return assemble(expected[row["expected_version"]])


def current_texts(docs: Iterable[LabelledDoc], corpus: Path = CORPUS) -> tuple[list[LabelledDoc], list[str], list[str]]:
    """(documents still as labelled, their texts, ids of the others): a page that is gone or whose
    text no longer hashes to the labelled sha256 is set aside, not scored with misplaced spans."""
    rows = pages(corpus)
    kept, texts, changed = [], [], []
    for doc in docs:
        text = page_text(doc.doc, corpus=corpus, rows=rows) if doc.doc in rows else None
        if text is None or sha256(text) != doc.sha256:
            changed.append(doc.doc)
            continue
        kept.append(doc)
        texts.append(text)
    return kept, texts, changed


def read_labels(path: Path = LABELS) -> list[LabelledDoc]:
    docs = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                spans = tuple((int(s), int(e), str(t)) for s, e, t in record["entities"])
                docs.append(LabelledDoc(record["doc"], record["sha256"], spans))
    return docs


def write_labels(docs: Iterable[LabelledDoc], path: Path = LABELS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"doc": d.doc, "sha256": d.sha256, "entities": [list(s) for s in sorted(d.entities)]}) for d in docs
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def problems(text: str, spans: Sequence[Span]) -> list[str]:
    """What is wrong with a document's gold spans: outside the text, empty, padded with space,
    an unknown type, or overlapping another span. Empty when the labels are sound."""
    found = []
    ordered = sorted(spans)
    for start, end, type_ in ordered:
        if not 0 <= start < end <= len(text):
            found.append(f"span {start}-{end} lies outside the text (length {len(text)})")
        elif text[start:end] != text[start:end].strip():
            found.append(f"span {start}-{end} starts or ends with whitespace")
        if type_ not in TYPES:
            found.append(f"span {start}-{end} has type {type_!r}, not one of {TYPES}")
    reach = 0  # the furthest end of the spans before this one
    for start, end, _ in ordered:
        if start < reach:
            found.append(f"span {start}-{end} overlaps a span that ends at {reach}")
        reach = max(reach, end)
    return found


def counts(gold: Iterable[Span], predicted: Iterable[Span]) -> Counter[str]:
    """``gold:T``, ``predicted:T`` and ``correct:T`` per type and for ``all``: a predicted span is
    correct when start, end and type all equal a gold span's."""
    gold, predicted = set(gold), set(predicted)
    tally: Counter[str] = Counter()
    for name, spans in (("gold", gold), ("predicted", predicted), ("correct", gold & predicted)):
        tally[f"{name}:all"] += len(spans)
        tally.update(f"{name}:{type_}" for _, _, type_ in spans)
    return tally


def prf(tally: Counter[str], key: str = "all") -> dict[str, float]:
    """Precision, recall and F1 of one key (``all`` or a type) from a ``counts`` tally."""
    correct, predicted, gold = tally[f"correct:{key}"], tally[f"predicted:{key}"], tally[f"gold:{key}"]
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def bootstrap(
    per_doc: Sequence[Counter[str]], keys: Sequence[str], resamples: int = 1_000, seed: int = 12
) -> dict[str, dict[str, float]]:
    """2.5 and 97.5 percentiles of F1 per key, resampling documents with replacement.

    Documents, not mentions, are the unit: names cluster within a page, so resampling mentions
    would understate the spread of a 30-page set.
    """
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {key: [] for key in keys}
    for _ in range(resamples):
        tally: Counter[str] = Counter()
        for index in (rng.randrange(len(per_doc)) for _ in per_doc):
            tally.update(per_doc[index])
        for key in keys:
            samples[key].append(prf(tally, key)["f1"])
    return {key: {"f1_p2.5": _percentile(v, 2.5), "f1_p97.5": _percentile(v, 97.5)} for key, v in samples.items()}


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default rule) of a non-empty list."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

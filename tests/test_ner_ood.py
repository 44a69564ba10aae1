"""The out-of-domain NER check set: sound labels, no stored text, and a scorer that counts right."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from scripts.ner_ood import (
    LABELS,
    TYPES,
    LabelledDoc,
    assemble,
    bootstrap,
    counts,
    current_texts,
    page_text,
    pages,
    prf,
    problems,
    read_labels,
    sha256,
)


def test_label_file_holds_only_ids_hashes_and_spans() -> None:
    lines = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert 30 <= len(lines) <= 50
    assert len({line["doc"] for line in lines}) == len(lines)
    for line in lines:
        assert set(line) == {"doc", "sha256", "entities"}
        assert len(line["sha256"]) == 64 and int(line["sha256"], 16) >= 0
        assert line["entities"], line["doc"]
        for start, end, type_ in line["entities"]:
            assert isinstance(start, int) and isinstance(end, int) and type_ in TYPES


def test_every_label_lies_inside_its_text_and_the_text_is_the_labelled_one(shared_dir: Path) -> None:
    corpus = shared_dir / "corpora" / "publishers"
    if not (corpus / "pages.jsonl").is_file():
        pytest.skip("../shared/corpora/publishers not present")
    rows = pages(corpus)
    docs = read_labels()
    for doc in docs:
        text = page_text(doc.doc, corpus=corpus, rows=rows)
        assert sha256(text) == doc.sha256, f"{doc.doc}: the corpus text changed since it was labelled"
        assert problems(text, doc.entities) == [], doc.doc
        for start, end, _ in doc.entities:  # a name starts with a letter, digit or quote, not mid-word
            assert not text[start - 1 : start].isalnum() and not text[end : end + 1].isalnum(), (doc.doc, start)
    assert len({rows[d.doc]["group"] for d in docs}) >= 5  # several countries, not one publisher's style


def test_a_changed_or_missing_page_is_set_aside_not_scored(tmp_path: Path) -> None:
    (tmp_path / "us").mkdir()
    expected = {"V1": {"title": "Old title", "body": {"sections": [{"paragraphs": ["Joe Biden spoke."]}]}}}
    (tmp_path / "us" / "Site.json").write_text(json.dumps(expected))
    row = {"html_path": "us/Site_2024.html.gz", "expected_path": "us/Site.json", "expected_version": "V1"}
    (tmp_path / "pages.jsonl").write_text(json.dumps(row) + "\n")
    text = "Old title\n\nJoe Biden spoke."
    labelled = LabelledDoc("us/Site_2024.html.gz", sha256(text), ((11, 20, "PER"),))
    gone = LabelledDoc("us/Gone_2024.html.gz", sha256(text), ())
    assert current_texts([labelled, gone], tmp_path) == ([labelled], [text], ["us/Gone_2024.html.gz"])
    expected["V1"]["title"] = "New title"  # the corpus was edited after labelling
    (tmp_path / "us" / "Site.json").write_text(json.dumps(expected))
    assert current_texts([labelled], tmp_path) == ([], [], ["us/Site_2024.html.gz"])


def test_problems_finds_spans_outside_overlapping_padded_or_mistyped() -> None:
    text = "Joe Biden met Xi Jinping."
    assert problems(text, [(0, 9, "PER"), (14, 24, "PER")]) == []
    assert problems(text, [(0, 9, "PER"), (4, 9, "PER")]) == ["span 4-9 overlaps a span that ends at 9"]
    assert problems(text, [(0, 12, "PER"), (10, 24, "PER")]) == ["span 10-24 overlaps a span that ends at 12"]
    assert problems(text, [(14, 99, "PER")]) == ["span 14-99 lies outside the text (length 25)"]
    assert problems(text, [(3, 9, "PER")]) == ["span 3-9 starts or ends with whitespace"]
    assert problems(text, [(0, 9, "PERSON")]) == [f"span 0-9 has type 'PERSON', not one of {TYPES}"]


def test_assemble_joins_title_summary_and_paragraphs_and_stops_at_a_whole_paragraph() -> None:
    expected = {
        "title": "Title ",
        "body": {
            "summary": ["Lead."],
            "sections": [
                {"headline": ["Left out"], "paragraphs": ["One.", "  ", "Two two."]},
                {"paragraphs": ["Three."]},
            ],
        },
    }
    assert assemble(expected) == "Title\n\nLead.\n\nOne.\n\nTwo two.\n\nThree."
    assert (
        assemble(expected, max_chars=len("Title\n\nLead.\n\nOne.\n\nTwo two.")) == "Title\n\nLead.\n\nOne.\n\nTwo two."
    )
    assert assemble(expected, max_chars=len("Title\n\nLead.\n\nOne.\n\nTwo two.") - 1) == "Title\n\nLead.\n\nOne."
    assert assemble(expected, max_chars=3) == "Title\n\nLead."  # the title and first paragraph always stay


def test_scorer_gives_exact_precision_recall_and_f1_on_a_hand_made_case() -> None:
    gold = [(0, 9, "PER"), (14, 24, "PER"), (30, 36, "LOC"), (40, 45, "ORG")]
    predicted = [(0, 9, "PER"), (14, 24, "ORG"), (30, 36, "LOC"), (50, 55, "MISC"), (60, 62, "PER")]
    tally = counts(gold, predicted)
    assert prf(tally) == pytest.approx({"precision": 2 / 5, "recall": 2 / 4, "f1": 2 * 0.4 * 0.5 / 0.9})
    assert prf(tally, "PER") == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2})
    assert prf(tally, "LOC") == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert prf(tally, "ORG") == {"precision": 0.0, "recall": 0.0, "f1": 0.0}  # wrong type is no match
    assert prf(tally, "MISC") == {"precision": 0.0, "recall": 0.0, "f1": 0.0}  # nothing gold, one spurious
    assert tally["gold:MISC"] == 0 and tally["predicted:MISC"] == 1


def test_bootstrap_spread_brackets_the_figure_and_is_repeatable() -> None:
    perfect = counts([(0, 3, "PER")], [(0, 3, "PER")])
    wrong = counts([(0, 3, "PER")], [(0, 3, "ORG")])
    same = bootstrap([perfect] * 5, ("all",), resamples=50)
    assert same == {"all": {"f1_p2.5": 1.0, "f1_p97.5": 1.0}}
    mixed = [perfect, perfect, wrong, wrong]
    spread = bootstrap(mixed, ("all", "PER"), resamples=400)
    total: Counter[str] = Counter()
    for doc in mixed:
        total.update(doc)
    assert spread["all"]["f1_p2.5"] < prf(total)["f1"] < spread["all"]["f1_p97.5"]
    assert spread == bootstrap(mixed, ("all", "PER"), resamples=400)  # fixed seed

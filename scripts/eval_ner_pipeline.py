"""NER span F1 on the CoNLL-2003 dev set *through the real pipeline* (issue: entities).

Each dev document becomes one ``--input`` record whose ``text`` is its tokens joined by single
spaces (sentences by newlines): raw text, as the pipeline would receive it. ``newsbeam run
--input`` tags it end to end (NER model, gazetteer ruler, linking), and the lake's
``articles.mentions`` character offsets are compared with the gold spans: a mention counts when
start, end and type all match. Documents collapsed as copies (CoNLL has repeated tables) are
left out and counted in the report. The spread is a bootstrap over documents (1,000 resamples, the
2.5 and 97.5 percentiles of F1), as for the out-of-domain set (``scripts/ner_ood.py``).

Usage: ``python scripts/eval_ner_pipeline.py [--ner-model NAME_OR_PATH] [--limit N] [--output PATH]``;
writes ``eval/ner_pipeline.json``; ``make eval`` also writes ``eval/ner_pipeline_accurate.json``
(``--ner-model accurate``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsbeam.pipeline import lake_sql  # noqa: E402
from scripts.ner_ood import bootstrap, counts, prf  # noqa: E402

DEV = ROOT.parent / "shared" / "corpora" / "ner" / "conll2003" / "valid.txt.gz"
TYPES = ("PER", "ORG", "LOC", "MISC")
Span = tuple[int, int, str]


def documents(path: Path) -> list[tuple[str, set[Span]]]:
    """(raw text, gold spans) per ``-DOCSTART-`` document of an IOB2 CoNLL file."""
    docs: list[tuple[str, set[Span]]] = []
    sentences: list[list[tuple[str, str]]] = []
    sentence: list[tuple[str, str]] = []

    def close_document() -> None:
        if sentence:
            sentences.append(list(sentence))
            sentence.clear()
        if sentences:
            docs.append(render(sentences))
            sentences.clear()

    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if not parts:
                if sentence:
                    sentences.append(list(sentence))
                    sentence.clear()
                continue
            if parts[0] == "-DOCSTART-":
                close_document()
                continue
            sentence.append((parts[0], parts[-1]))
    close_document()
    return docs


def render(sentences: list[list[tuple[str, str]]]) -> tuple[str, set[Span]]:
    """Join tokens with spaces and sentences with newlines, keeping gold character spans."""
    text, spans = "", set()
    for sentence in sentences:
        if text:
            text += "\n"
        open_span: tuple[int, str] | None = None  # (start, type) of the entity being read
        end = len(text)
        for index, (token, tag) in enumerate(sentence):
            if index:
                text += " "
            continues = tag.startswith("I-") and open_span is not None and open_span[1] == tag[2:]
            if not continues:
                if open_span is not None:
                    spans.add((open_span[0], end, open_span[1]))
                open_span = (len(text), tag[2:]) if tag != "O" else None
            text += token
            end = len(text)
        if open_span is not None:
            spans.add((open_span[0], end, open_span[1]))
    return text, spans


def score(tally: Counter[str], key: str) -> dict[str, float]:
    return {**{name: round(value, 4) for name, value in prf(tally, key).items()}, "gold": tally[f"gold:{key}"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ner-model", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--output", type=Path, default=ROOT / "eval" / "ner_pipeline.json")
    args = parser.parse_args(argv)
    if not DEV.is_file():
        print(f"skipped: {DEV} not found")
        return 0
    docs = documents(DEV)[: args.limit]
    gold_by_url = {f"https://conll.example/dev/{i}": spans for i, (_, spans) in enumerate(docs)}
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "dev.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for i, (text, _) in enumerate(docs):
                record = {"url": f"https://conll.example/dev/{i}", "text": text, "published": "1996-08-30T12:00:00Z"}
                out.write(json.dumps(record) + "\n")
        lake = Path(scratch) / "lake"
        command = [sys.executable, "-m", "newsbeam", "run", "--input", str(source), "--output", str(lake)]
        if args.ner_model:
            command += ["--ner-model", args.ner_model]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode not in (0, 3):
            print(done.stderr[-3000:])
            return 1
        rows = lake_sql.connect(str(lake)).execute("SELECT url, mentions FROM articles").fetchall()
    per_doc = [counts(gold_by_url[url], ((m["start"], m["end"], m["type"]) for m in found)) for url, found in rows]
    tally: Counter[str] = sum(per_doc, Counter())
    spread = {k: {n: round(v, 4) for n, v in band.items()} for k, band in bootstrap(per_doc, ("all", *TYPES)).items()}
    report = {
        "documents": len(docs),
        "documents_scored": len(rows),
        "documents_collapsed_as_copies": len(docs) - len(rows),
        "ner_model": args.ner_model or "default (packaged model if present, else gazetteer)",
        "seconds": round(seconds, 1),
        "overall": {**score(tally, "all"), **spread["all"]},
        "per_type": {t: {**score(tally, t), **spread[t]} for t in TYPES},
        "spread": "bootstrap over documents: 1,000 resamples, seed 12, 2.5/97.5 percentiles of F1",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""NER span F1 on the out-of-domain check set: hand-labelled English publisher pages, not Reuters.

The labels (``eval/data/ner_ood_labels.jsonl``) hold only document ids, the sha256 of each
assembled text and character spans; the text is rebuilt from ``../shared/corpora/publishers`` by
``scripts/ner_ood.assemble``. A document whose text no longer hashes to the labelled sha256 is not
scored (its spans would be misplaced) and is listed under ``changed``.

Like ``eval_ner_pipeline.py`` (CoNLL dev), every text goes through ``newsbeam run --input`` as one
record and the lake's ``articles.mentions`` are compared with the gold spans: a mention counts
when start, end and type all match. The spread is a bootstrap over documents (1,000 resamples,
seed 12, 2.5/97.5 percentiles of F1). A page the run does not write scores as all missed.

Usage: ``python scripts/eval_ner_ood.py [--ner-model NAME_OR_PATH]``; writes ``eval/ner_ood.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsbeam.pipeline import lake_sql  # noqa: E402
from scripts.ner_ood import CORPUS, LABELS, TYPES, Span, bootstrap, counts, current_texts, prf, read_labels  # noqa: E402

URL = "https://ner-ood.example/{index}"


def tag_through_pipeline(
    texts: list[str], ner_model: str | None
) -> tuple[list[list[tuple[int, int, str]] | None], float]:
    """Mentions per text from a real ``newsbeam run --input`` (None for a text the run did not
    write), and the run's wall time in seconds."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "ood.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for index, text in enumerate(texts):
                record = {"url": URL.format(index=index), "text": text, "published": "2025-01-01T12:00:00Z"}
                out.write(json.dumps(record) + "\n")
        lake = Path(scratch) / "lake"
        command = [sys.executable, "-m", "newsbeam", "run", "--input", str(source), "--output", str(lake)]
        if ner_model:
            command += ["--ner-model", ner_model]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode not in (0, 3):
            raise SystemExit(f"newsbeam run failed ({done.returncode}):\n{done.stderr[-3000:]}")
        rows = lake_sql.connect(str(lake)).execute("SELECT url, text, mentions FROM articles").fetchall()
    found: list[list[Span] | None] = [None] * len(texts)
    for url, text, mentions in rows:
        index = int(url.rsplit("/", 1)[-1])
        if text != texts[index]:  # offsets would point elsewhere: say so rather than misscore
            raise SystemExit(f"{url}: the lake's text differs from the input text; offsets are not comparable")
        found[index] = [(m["start"], m["end"], m["type"]) for m in mentions]
    return found, seconds


def print_errors(doc: str, text: str, gold: set[Span], found: set[Span]) -> None:
    """Missed and spurious spans of one page with their words (stdout only, never stored)."""
    for label, spans in (("missed", gold - found), ("spurious", found - gold)):
        for start, end, type_ in sorted(spans):
            print(f"{doc}\t{label}\t{type_}\t{text[start:end]!r}\t{start}")


def evaluate(ner_model: str | None = None, resamples: int = 1_000, errors: bool = False) -> dict[str, Any]:
    """The report: overall and per-type P/R/F1, bootstrap spread, documents changed or unscored."""
    labelled, texts, changed = current_texts(read_labels(LABELS), CORPUS)
    found, seconds = tag_through_pipeline(texts, ner_model)
    per_doc = [counts(doc.entities, spans or []) for doc, spans in zip(labelled, found, strict=True)]
    if errors:
        for doc, text, spans in zip(labelled, texts, found, strict=True):
            print_errors(doc.doc, text, set(doc.entities), set(spans or []))
    tally: Counter[str] = Counter()
    for doc_counts in per_doc:
        tally.update(doc_counts)
    keys = ("all", *TYPES)
    spread = bootstrap(per_doc, keys, resamples=resamples)

    def figures(key: str) -> dict[str, float | int]:
        scores = {name: round(value, 4) for name, value in prf(tally, key).items()}
        return {**scores, **{k: round(v, 4) for k, v in spread[key].items()}, "gold": tally[f"gold:{key}"]}

    return {
        "set": "hand-labelled English publisher pages (../shared/corpora/publishers), CoNLL-2003 types",
        "documents": len(labelled),
        "documents_not_written": [labelled[i].doc for i, spans in enumerate(found) if spans is None],
        "changed": changed,
        "ner_model": ner_model or "default (packaged model if present, else gazetteer)",
        "method": "exact span match (start, end, type) against lake articles.mentions after newsbeam run --input",
        "spread": f"bootstrap over documents, {resamples} resamples, seed 12, 2.5/97.5 percentiles of F1",
        "seconds": round(seconds, 1),
        "overall": figures("all"),
        "per_type": {t: figures(t) for t in TYPES},
    }


def summary(report: dict[str, Any]) -> str:
    """The one-line summary ``make eval`` prints."""
    overall, per_type = report["overall"], report["per_type"]
    return (
        f"NER out-of-domain ({report['documents']} docs, {overall['gold']} spans, {report['ner_model']}): "
        f"F1 {overall['f1']:.3f} [{overall['f1_p2.5']:.3f}-{overall['f1_p97.5']:.3f}] "
        f"P {overall['precision']:.3f} R {overall['recall']:.3f}; "
        + " ".join(f"{t} {per_type[t]['f1']:.3f}" for t in TYPES)
        + (f"; {len(report['changed'])} changed docs not scored" if report["changed"] else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ner-model", default=None, help="passed to newsbeam run --ner-model")
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--errors", action="store_true", help="print each missed and spurious span")
    parser.add_argument("--output", type=Path, default=ROOT / "eval" / "ner_ood.json")
    args = parser.parse_args(argv)
    if not (CORPUS / "pages.jsonl").is_file():
        print(f"skipped: {CORPUS} not found")
        return 0
    report = evaluate(args.ner_model, args.resamples, args.errors)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Turn hand-written labels (surface string, type, occurrence) into the stored character spans.

The source file stays out of the repository (it holds the corpus's words): one ``## <doc id>``
line per page, then one label per line, fields separated by ``|``::

    ## fundus_test_data/us/APNews_2024_09_03.html.gz
    Kamala Harris | PER
    Harris | PER
    Apple | ORG | 2,3

A label without an occurrence marks every whole-word occurrence (no letter, digit or hyphen
touching either end: the "Israel" inside "pro-Israel" is left alone; CoNLL-2003's data tags such a
compound whole as MISC, "U.S.-led", "pro-Baghdad", so it gets a label of its own) of the surface string that is
not already inside a longer label of the page (longer surfaces are placed first); ``2,3`` marks
only those occurrences (1-based, counted over all whole-word occurrences). A surface that is
never found, or an occurrence that does not exist, stops the build: every label has to land.

Usage::

    python scripts/label_ner_ood.py show SRC [--out DIR]   # write each page's assembled text
    python scripts/label_ner_ood.py build SRC              # write eval/data/ner_ood_labels.jsonl
    python scripts/label_ner_ood.py review SRC             # labelled spans in context, and the
                                                           # capitalised words left unlabelled
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.ner_ood import (  # noqa: E402
    LABELS,
    LabelledDoc,
    Span,
    page_text,
    pages,
    problems,
    sha256,
    write_labels,
)

Label = tuple[str, str, tuple[int, ...] | None]


def parse_source(path: Path) -> dict[str, list[Label]]:
    """``{doc: [(surface, type, occurrences or None), ...]}`` in file order."""
    docs: dict[str, list[Label]] = {}
    current: list[Label] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#!"):
            continue
        if line.startswith("## "):
            current = docs.setdefault(line[3:].strip(), [])
            continue
        if current is None:
            raise SystemExit(f"{path}:{number}: label before any '## doc' line")
        fields = [field.strip() for field in line.split("|")]
        if len(fields) not in (2, 3):
            raise SystemExit(f"{path}:{number}: expected 'surface | TYPE [| occurrences]': {line!r}")
        occurrences = tuple(int(n) for n in fields[2].split(",")) if len(fields) == 3 else None
        current.append((fields[0], fields[1].strip(), occurrences))
    return docs


def whole_word_matches(text: str, surface: str) -> list[tuple[int, int]]:
    """Where ``surface`` occurs with no letter, digit or hyphen touching either end."""
    pattern = re.compile(r"(?<![\w-])" + re.escape(surface) + r"(?![\w-])")
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def place(text: str, labels: list[Label]) -> list[Span]:
    """Character spans for one page's labels (see the module docstring for the rule)."""
    spans: list[Span] = []
    taken: list[tuple[int, int]] = []
    for surface, type_, occurrences in sorted(labels, key=lambda label: -len(label[0])):
        matches = whole_word_matches(text, surface)
        if not matches:
            raise SystemExit(f"label {surface!r} ({type_}) not found in the text")
        if occurrences is None:
            chosen = [m for m in matches if not any(s < m[1] and m[0] < e for s, e in taken)]
        else:
            if max(occurrences) > len(matches):
                raise SystemExit(f"label {surface!r}: occurrence {max(occurrences)} of {len(matches)}")
            chosen = [matches[n - 1] for n in occurrences]
        for start, end in chosen:
            assert text[start:end] == surface
            spans.append((start, end, type_))
            taken.append((start, end))
    return sorted(spans)


def build(source: Path) -> list[LabelledDoc]:
    rows = pages()
    docs = []
    for doc, labels in parse_source(source).items():
        text = page_text(doc, rows=rows)
        spans = place(text, labels)
        wrong = problems(text, spans)
        if wrong:
            raise SystemExit(f"{doc}: " + "; ".join(wrong))
        docs.append(LabelledDoc(doc, sha256(text), tuple(spans)))
    return docs


def review(source: Path) -> None:
    """Print each span in context and the capitalised words outside any span, for a re-read."""
    rows = pages()
    for doc, labels in parse_source(source).items():
        text = page_text(doc, rows=rows)
        spans = place(text, labels)
        print(f"== {doc} ({len(text)} chars, {len(spans)} spans)")
        covered = [False] * len(text)
        for start, end, _ in spans:
            covered[start:end] = [True] * (end - start)
        loose = sorted(
            {
                m.group()
                for m in re.finditer(r"\b[A-Z][\w'’.-]*", text)
                if not covered[m.start()] and not _sentence_start(text, m.start())
            }
        )
        print("   unlabelled capitalised:", ", ".join(loose))


def _sentence_start(text: str, index: int) -> bool:
    before = text[:index].rstrip(" \"'“‘(")
    return not before or before[-1] in ".!?:\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("show", "build", "review"))
    parser.add_argument("source", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "ner_ood_texts")
    args = parser.parse_args(argv)
    if args.command == "show":
        args.out.mkdir(parents=True, exist_ok=True)
        rows = pages()
        for doc in parse_source(args.source):
            name = doc.rsplit("/", 1)[-1].removesuffix(".html.gz") + ".txt"
            (args.out / name).write_text(page_text(doc, rows=rows), encoding="utf-8")
        print(f"texts in {args.out}")
    elif args.command == "build":
        docs = build(args.source)
        write_labels(docs, LABELS)
        print(f"{len(docs)} documents, {sum(len(d.entities) for d in docs)} spans -> {LABELS}")
    else:
        review(args.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())

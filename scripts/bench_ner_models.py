"""NER cost per 1,000-word article on one core, for ``--ner-model fast`` and ``accurate`` (issue 12).

The cost rule: the default model may cost at most 60 ms per 1,000-word article on one core.
Both taggers run exactly as the entities stage runs them (``EntityTagger.tag_many`` on
``(text, title)``, batches of 64: model, gazetteer ruler, linking, salience) over the same
English publisher pages (``../shared/corpora/publishers``, cleaned by ``clean_page``), with
BLAS held to one thread. Words are whitespace-separated tokens of the article text; the figure
is total median seconds / total words x 1,000. One warm-up pass, then ``--repeats`` timed passes.

Usage: ``python scripts/bench_ner_models.py [--pages N] [--repeats N] [--models fast,accurate]``;
writes ``eval/ner_speed.json``.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # before numpy loads: one core, as the cost rule says

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402
from newsbeam.schemas.records import Page  # noqa: E402
from newsbeam.transforms.clean.extract import clean_page  # noqa: E402
from newsbeam.transforms.entities.tagger import EntityTagger  # noqa: E402
from newsbeam.transforms.errors import ExtractError  # noqa: E402


def articles(limit: int) -> list[tuple[str, str | None]]:
    """``(text, title)`` of up to ``limit`` cleaned English publisher pages."""
    out = []
    for page in corpus.fundus(limit, english_only=True):
        try:
            article = clean_page(Page(url=page.url, fetched_url=page.url, fetched_at=datetime.now(UTC), html=page.html))
        except ExtractError:
            continue
        out.append((article.text, article.title))
    return out


def measure(model: str, pairs: list[tuple[str, str | None]], repeats: int) -> dict[str, object]:
    started = time.perf_counter()
    tagger = EntityTagger.load(model=model)
    setup = time.perf_counter() - started
    list(tagger.tag_many(pairs))  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        list(tagger.tag_many(pairs))
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    words = sum(len(text.split()) for text, _ in pairs)
    return {
        "setup_seconds": round(setup, 2),
        "seconds": [round(t, 3) for t in times],
        "ms_per_article": round(1000 * median / len(pairs), 1),
        "ms_per_1000_words": round(1000 * median / words * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="fast,accurate")
    parser.add_argument("--output", type=Path, default=ROOT / "eval" / "ner_speed.json")
    args = parser.parse_args(argv)
    if not corpus.available():
        print("skipped: ../shared/corpora not found")
        return 0
    pairs = articles(args.pages)
    words = sum(len(text.split()) for text, _ in pairs)
    report: dict[str, object] = {
        "articles": len(pairs),
        "words": words,
        "mean_words_per_article": round(words / len(pairs), 1),
        "threads": 1,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "models": {model: measure(model, pairs, args.repeats) for model in args.models.split(",")},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

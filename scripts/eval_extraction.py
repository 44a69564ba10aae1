"""Body extraction on the development corpora; the method is chosen by k-fold cross-validation.

Sets (read in place from ``../shared/corpora``, nothing copied): Dragnet (1,381 English news and
blog pages, hand-copied main text, comments cut off) and the Fundus publisher pages (173 pages,
22 languages, the body paragraphs the Fundus maintainers verified).

Protocol: the article-extraction-benchmark's (scrapinghub). Text is split into ``\\w+`` tokens
(case kept); each page's 4-token shingles give tp/fp/fn, normalised by their sum so long pages
weigh no more than short ones; precision is averaged over pages with output, recall over pages
with gold, and F1 is taken from the two means. A page the product dead-letters scores an empty
text (it costs recall). Beside it, ``bow_f1``: bag-of-words F1 averaged over pages, the figure
``bench/`` reports (0.87 on Dragnet before this change).

1. Every page is read once: trafilatura with metadata (the product's call), rs-trafilatura,
   trafilatura in recall mode, the JSON-LD ``articleBody`` and the page's article markers; each
   timed per page.
2. Every method in ``METHODS`` (body choice x prose rule) is scored on every page.
3. Cross-validation on Dragnet (``FOLDS`` folds, seeded): per fold, the method with the best F1 on
   the other folds is scored on the held-out fold; the mean and spread of those held-out scores is
   the figure. Fundus is scored by publisher-grouped folds (a publisher's pages stay together).
4. The ablation (what each step buys) and pages lost (no article text: a dead letter).

Usage: ``python scripts/eval_extraction.py [--output eval/extraction.json] [--limit N]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402
from newsbeam.schemas.records import Page  # noqa: E402
from newsbeam.transforms.clean.body import (  # noqa: E402
    AGREEMENT_METHOD,
    DEFAULT_METHOD,
    TRAFILATURA,
    BodyMethod,
    Candidates,
    PageFacts,
    recall_text,
    rs_text,
)
from newsbeam.transforms.clean.extract import (  # noqa: E402
    looks_like_prose,
    page_body,
    read_page,
)

FOLDS = 5
SEED = 12
FETCHED_AT = datetime(2024, 6, 1, tzinfo=UTC)
_TOKEN = re.compile(r"\w+")

# --------------------------------------------------------------------------- scoring


def shingle_counts(gold: str, predicted: str, n: int = 4) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) of ``n``-token shingles, the article-extraction-benchmark's unit."""

    def shingles(text: str) -> Counter[tuple[str, ...]]:
        tokens = _TOKEN.findall(text or "")
        return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])

    ours, theirs = shingles(predicted), shingles(gold)
    tp = sum((ours & theirs).values())
    fp = sum((ours - theirs).values())
    fn = sum((theirs - ours).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def aeb_metrics(counts: Sequence[tuple[float, float, float]]) -> dict[str, float]:
    """Precision over pages with output, recall over pages with gold, F1 of the two means."""

    def ratio(a: float, b: float, other: float) -> float:
        if b == other == 0:
            return 1.0
        return a / (a + b) if a + b else 0.0

    precisions = [ratio(tp, fp, fn) for tp, fp, fn in counts if tp + fp > 0]
    recalls = [ratio(tp, fn, fp) for tp, fp, fn in counts if tp + fn > 0]
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4)}


def bow_f1(gold: str, predicted: str) -> float:
    """Bag-of-words F1 of one page (``bench.corpus.token_f1``: lower-cased tokens)."""
    return corpus.token_f1(predicted, gold)[2]


# --------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Method:
    name: str
    body: BodyMethod
    article_rule: bool = True
    """Short text is accepted on a page marked as an article (``looks_like_prose(is_article=True)``)."""


def rs_installed() -> bool:
    """rs-trafilatura is not a dependency: its methods are scored only where it is installed."""
    return importlib.util.find_spec("rs_trafilatura") is not None


def _methods() -> list[Method]:
    found = [Method(BEFORE, TRAFILATURA, article_rule=False)]
    bodies = [("trafilatura", TRAFILATURA)]
    if rs_installed():
        bodies += [("rs-trafilatura", replace(AGREEMENT_METHOD, threshold=0.0))]
        bodies += [(f"agreement {t}", replace(AGREEMENT_METHOD, threshold=t)) for t in (0.3, 0.5, 0.7)]
    for name, body in bodies:
        for recall in (False, True):
            for json_ld in (False, True):
                label = name + (" + recall fallback" if recall else "") + (" + JSON-LD body" if json_ld else "")
                found.append(Method(label, replace(body, recall_fallback=recall, json_ld=json_ld, name=label)))
    return found


BEFORE = "trafilatura, old prose rule (before)"
METHODS = _methods()
CANDIDATES = [m for m in METHODS if m.article_rule]
"""What cross-validation chooses among: every method that keeps short articles marked as such
(losing real articles is ruled out by the issue, not traded against F1)."""


def ablation_steps() -> list[str]:
    """Cumulative steps: the short-article rule, the recall fallback, JSON-LD; the agreement rule beside."""
    steps = [BEFORE, "trafilatura", "trafilatura + recall fallback", "trafilatura + recall fallback + JSON-LD body"]
    if rs_installed():
        steps += ["rs-trafilatura", "agreement 0.5", "agreement 0.5 + recall fallback"]
    return steps


# --------------------------------------------------------------------------- reading


@dataclass
class Read:
    """One page's gold and what the extractors found (strings only: trees would hold GBs)."""

    set: str
    id: str
    group: str
    gold: str
    candidates: Candidates
    facts: PageFacts
    title: str | None
    ms: dict[str, float]


def read(page: corpus.CorpusPage) -> Read:
    """One page through each extractor once, timed (ms)."""
    record = Page(url=page.url, fetched_url=page.url, fetched_at=FETCHED_AT, html=page.html)
    ms: dict[str, float] = {}
    started = time.perf_counter()
    reading, tree = read_page(record, with_rs=False)
    ms["trafilatura"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    rs = rs_text(page.html, page.url) if rs_installed() else None
    ms["rs_trafilatura"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    recall = recall_text(tree, page.url) if tree is not None else ""
    ms["recall"] = (time.perf_counter() - started) * 1000
    candidates = replace(reading.candidates, rs=rs, recall=recall)
    title = reading.doc.title if reading.doc else None
    return Read(page.set, page.id, page.publisher or page.id, page.gold or "", candidates, reading.facts, title, ms)


def output(page: Read, method: Method) -> str:
    """What the product keeps for ``page`` under ``method``: the body, or "" for a dead letter."""
    text, _ = page_body(page.candidates, page.facts, page.title, method.body)
    return text if looks_like_prose(text, method.article_rule and page.facts.is_article) else ""


# --------------------------------------------------------------------------- evaluation


def folds_of(keys: Sequence[str], k: int = FOLDS, seed: int = SEED) -> dict[str, int]:
    """A fold per distinct key (page id, or publisher for grouped folds), seeded."""
    distinct = sorted(set(keys))
    random.Random(seed).shuffle(distinct)
    return {key: i % k for i, key in enumerate(distinct)}


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 4),
        "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def score_set(pages: Sequence[Read], fold: Callable[[Read], int]) -> dict[str, Any]:
    """Per method: overall metrics, per-fold F1, pages lost; and the cross-validated choice."""
    outputs = {m.name: [output(p, m) for p in pages] for m in METHODS}
    counts = {
        name: [shingle_counts(p.gold, text) for p, text in zip(pages, texts, strict=True)]
        for name, texts in outputs.items()
    }
    folds = [fold(p) for p in pages]

    def metrics(name: str, fold_in: int | None = None, fold_out: int | None = None) -> dict[str, float]:
        """Over every page, or only fold ``fold_in``, or every fold but ``fold_out``."""
        return aeb_metrics(
            [c for c, f in zip(counts[name], folds, strict=True) if fold_in in (None, f) and f != fold_out]
        )

    methods: dict[str, Any] = {}
    for m in METHODS:
        texts = outputs[m.name]
        per_fold = [metrics(m.name, fold_in=f)["f1"] for f in range(FOLDS)]
        methods[m.name] = {
            **metrics(m.name),
            "bow_f1": round(statistics.fmean(bow_f1(p.gold, t) for p, t in zip(pages, texts, strict=True)), 4),
            "fold_f1": per_fold,
            "fold_spread": spread(per_fold),
            "pages_lost": sum(not t for t in texts),
        }
    chosen, held_out = [], []
    for f in range(FOLDS):
        train = {m.name: metrics(m.name, fold_out=f)["f1"] for m in CANDIDATES}
        best = max(CANDIDATES, key=lambda m: (train[m.name], -CANDIDATES.index(m)))
        chosen.append(best.name)
        held_out.append(metrics(best.name, fold_in=f))
    return {
        "pages": len(pages),
        "methods": methods,
        "cross_validation": {
            "folds": FOLDS,
            "chosen_per_fold": chosen,
            "held_out_f1_per_fold": [h["f1"] for h in held_out],
            "f1": spread([h["f1"] for h in held_out]),
            "precision": spread([h["precision"] for h in held_out]),
            "recall": spread([h["recall"] for h in held_out]),
        },
        "lost_pages": {
            "before": [p.id for p, t in zip(pages, outputs[BEFORE], strict=True) if not t],
            "product": [p.id for p, t in zip(pages, outputs[product_method().name], strict=True) if not t],
        },
    }


def product_method() -> Method:
    """The method ``clean_page`` uses (``body.DEFAULT_METHOD`` with the article rule)."""
    for m in CANDIDATES:
        if replace(m.body, name="") == replace(DEFAULT_METHOD, name=""):
            return m
    raise LookupError(f"DEFAULT_METHOD {DEFAULT_METHOD} is not among the evaluated methods")


def cost(pages: Sequence[Read]) -> dict[str, Any]:
    """Mean ms per page: the old extractor, each addition, and the product's total."""
    product = product_method().body

    def mean(key: str, keep: Callable[[Read], bool] = lambda p: True) -> float:
        return sum(p.ms[key] for p in pages if keep(p)) / max(1, len(pages))

    without_recall = replace(product, recall_fallback=False)
    short = [
        p
        for p in pages
        if not looks_like_prose(page_body(p.candidates, p.facts, p.title, without_recall)[0], p.facts.is_article)
    ]
    old = mean("trafilatura")
    rs = mean("rs_trafilatura") if product.agreement else 0.0
    new = old + rs + (mean("recall", lambda p: p in short) if product.recall_fallback else 0.0)
    return {
        "pages": len(pages),
        "old_ms_per_page": round(old, 2),
        "new_ms_per_page": round(new, 2),
        "recall_ms_per_page_when_run": round(sum(p.ms["recall"] for p in short) / max(1, len(short)), 2),
        "recall_runs_share": round(len(short) / max(1, len(pages)), 4),
        "rs_trafilatura_ms_per_page_if_adopted": round(mean("rs_trafilatura"), 2) if rs_installed() else None,
        "what": "old = parse + trafilatura bare_extraction with metadata + page markers (read_page); new = old + "
        "trafilatura recall mode on the pages whose body is not prose (the product runs it only there) + "
        "rs-trafilatura if the product used it. Single process, wall time on this machine, shared with other work.",
    }


def _rs_version() -> str | None:
    if not rs_installed():
        return None
    from importlib.metadata import version

    return version("rs-trafilatura")


def evaluate(limit: int | None = None) -> dict[str, Any]:
    """The whole report (see the module docstring); sets whose folder is absent are skipped."""
    report: dict[str, Any] = {
        "protocol": "article-extraction-benchmark: 4-token shingles of \\w+ tokens, per-page tp/fp/fn "
        "normalised, P mean over pages with output, R mean over pages with gold, F1 of the means; "
        "bow_f1 = bag-of-words F1 averaged over pages (bench/). Dead-lettered pages score as empty.",
        "product_method": product_method().name,
        "ablation_steps": ablation_steps(),
        "cv_candidates": [m.name for m in CANDIDATES],
        "rs_trafilatura": _rs_version(),
    }
    started = time.perf_counter()
    dragnet = [read(p) for p in corpus.dragnet(limit or 10**6) if p.gold]
    fundus = [read(p) for p in corpus.fundus(limit or 10**6) if p.gold]
    report["read_seconds"] = round(time.perf_counter() - started, 1)
    if dragnet:
        fold = folds_of([p.id for p in dragnet])
        report["dragnet"] = score_set(dragnet, lambda p: fold[p.id])
    if fundus:
        fold = folds_of([p.group for p in fundus])
        report["publishers"] = score_set(fundus, lambda p: fold[p.group])
    report["cost"] = cost([*dragnet, *fundus])
    for name in ("dragnet", "publishers"):
        if name in report:
            report[name]["ablation"] = [
                {"step": step, **{k: report[name]["methods"][step][k] for k in ("f1", "precision", "recall", "bow_f1")}}
                for step in ablation_steps()
            ]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "eval" / "extraction.json")
    parser.add_argument("--limit", type=int, default=None, help="pages per set (development runs)")
    args = parser.parse_args()
    report = evaluate(args.limit)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for name in ("dragnet", "publishers"):
        if name in report:
            cv = report[name]["cross_validation"]
            print(f"{name}: CV F1 {cv['f1']} chosen {cv['chosen_per_fold']}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

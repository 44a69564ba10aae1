"""Near-duplicate evaluation: synthetic copies of real articles, precision and recall per edit level.

Originals are Dragnet gold article texts (``../shared/corpora/extraction/dragnet``; read at run
time, nothing copied into the repository). For each level every original gets one copy:

* ``edits_1`` .. ``edits_10``: that share of its words substituted, deleted or inserted (one third
  each; new words drawn from the pool's vocabulary);
* ``boilerplate_added``: the copy carries an outlet's header and footer (templates below, written
  for this script); ``boilerplate_removed``: the original carries one and the copy does not;
* ``truncated``: the copy keeps the first 50-80 % of the words;
* ``mixed``: 2 % edits, truncation to 70-95 % and another outlet's boilerplate at once.

A level's pool is all originals plus their copies; it goes through the real code path
(``sketch`` -> band buckets -> ``verified_pairs`` -> ``clusters``). A predicted pair is two texts in
one cluster; the true pairs are (original, its copy). Precision = true predicted pairs / predicted
pairs (every pair of two different originals counts against it), recall = true pairs found / true
pairs. ``shared_template`` is a pure-negative level: all originals wrapped in the *same* outlet
template, where only false merges can happen.

Originals that overlap another original (true Jaccard >= 0.3, or half of the smaller one
contained in the other: the same wire story from two sites, or pages whose gold text is mostly
the same site furniture) are left out first, so the negatives are really different articles.
``threshold_sweep`` repeats the pair decision over the LSH candidate pairs of every level for a
grid of thresholds: recall per level and false pairs in total, the measurement behind the chosen
thresholds. Deterministic: every random choice is
seeded with the level and the document id.

Usage: ``python scripts/eval_near_dups.py [--limit N] [--output eval/near_dups.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tarfile
import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsbeam.transforms.dedup import minhash  # noqa: E402
from newsbeam.transforms.dedup.near import (  # noqa: E402
    CONTAINMENT_THRESHOLD,
    JACCARD_THRESHOLD,
    MIN_CONTAINED_SHINGLES,
    MIN_SIZE_RATIO,
    Sketch,
    candidate_groups,
    find_near_duplicates,
    near_similarity,
)

SHARED = ROOT.parent / "shared"
DRAGNET = SHARED / "corpora" / "extraction" / "dragnet" / "dragnet_html_and_gold.tar.xz"
COMMENTS_MARKER = "!@#$%^&*()  COMMENTS"
MIN_WORDS = 100
SEED = "newsbeam-near-dups-v1"

# Outlet furniture written for this evaluation (menus, share bars, footers, related links).
TEMPLATES = (
    (
        "Home World Business Markets Tech Opinion Sport Weather Sign in Subscribe",
        "Share this article on Facebook Twitter Email. Most read: council approves new budget plan; "
        "local team wins in overtime; storm warning lifted for the coast. Copyright 2024 Daily Ledger "
        "Media Group. All rights reserved. Terms of use Privacy policy Cookie settings Contact us",
    ),
    (
        "Skip to main content Menu Search News Politics Economy Culture Science Newsletters",
        "Get our morning briefing in your inbox every weekday. Enter your email address Sign up. "
        "Related coverage: what the new rules mean for renters; five things to watch this week; "
        "photos of the day. Follow us. Advertise with us. Careers. Accessibility. About the Herald",
    ),
    (
        "Breaking Latest Video Podcasts Live TV Download the app",
        "Comments are closed for this article. Read more from our correspondents around the world. "
        "Recommended for you: the quiet town that rebuilt its harbour; a guide to the season's best "
        "books; why prices keep rising. Independent journalism needs your support. Donate today. "
        "Site map Help centre Corrections Editorial standards Licensing",
    ),
    (
        "Today's paper Subscribe now for 1 dollar a week Log in Account",
        "This story was updated with additional reporting. Sign up for alerts on your phone. "
        "Trending now: interview with the coach after the final; new bridge opens next month; a "
        "recipe for spring. Print edition. Archive. Manage subscription. Send us a tip securely",
    ),
)


def load_originals(path: Path = DRAGNET, min_words: int = MIN_WORDS) -> list[tuple[str, str]]:
    """(id, article text) for every Dragnet gold file with at least ``min_words`` words."""
    texts = []
    with tarfile.open(path, "r:xz") as archive:
        for member in archive:
            if not member.name.startswith("Corrected/") or not member.isfile():
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            raw = handle.read().decode("utf-8", errors="replace")
            article = raw.split(COMMENTS_MARKER, 1)[0].strip()
            if len(article.split()) >= min_words:
                texts.append((member.name.split("/")[1].split(".")[0], article))
    return sorted(texts)


def _paragraphs(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


def _join(paragraphs: list[list[str]]) -> str:
    return "\n\n".join(" ".join(words) for words in paragraphs if words)


def edit_words(text: str, share: float, rng: random.Random, vocabulary: list[str]) -> str:
    """Substitute, delete or insert ``share`` of the words (at least one edit)."""
    paragraphs = _paragraphs(text)
    positions = [(p, w) for p, words in enumerate(paragraphs) for w in range(len(words))]
    edits = max(1, round(share * len(positions)))
    chosen = sorted(rng.sample(positions, min(edits, len(positions))), reverse=True)
    for p, w in chosen:  # right to left so earlier positions stay valid
        operation = rng.choice(("substitute", "delete", "insert"))
        if operation == "substitute":
            paragraphs[p][w] = rng.choice(vocabulary)
        elif operation == "delete":
            del paragraphs[p][w]
        else:
            paragraphs[p].insert(w, rng.choice(vocabulary))
    return _join(paragraphs)


def truncate_words(text: str, keep: float) -> str:
    """The first ``keep`` share of the words, paragraphs kept."""
    paragraphs = _paragraphs(text)
    budget = round(keep * sum(len(words) for words in paragraphs))
    out = []
    for words in paragraphs:
        if budget <= 0:
            break
        out.append(words[:budget])
        budget -= len(words)
    return _join(out)


def wrap(text: str, template: tuple[str, str]) -> str:
    return f"{template[0]}\n\n{text}\n\n{template[1]}"


Variant = Callable[[str, random.Random, list[str]], tuple[str, str]]
"""(original text, rng, vocabulary) -> (original as it appears in the pool, copy)."""


def edits(percent: int) -> Variant:
    return lambda text, rng, vocab: (text, edit_words(text, percent / 100, rng, vocab))


LEVELS: dict[str, Variant] = {
    **{f"edits_{pct}": edits(pct) for pct in (1, 2, 5, 10)},
    "boilerplate_added": lambda text, rng, vocab: (text, wrap(text, rng.choice(TEMPLATES))),
    "boilerplate_removed": lambda text, rng, vocab: (wrap(text, rng.choice(TEMPLATES)), text),
    "truncated": lambda text, rng, vocab: (text, truncate_words(text, rng.uniform(0.5, 0.8))),
    "mixed": lambda text, rng, vocab: (
        wrap(text, TEMPLATES[0]),
        wrap(truncate_words(edit_words(text, 0.02, rng, vocab), rng.uniform(0.7, 0.95)), rng.choice(TEMPLATES[1:])),
    ),
}


def true_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {
        "min": round(float(arr.min()), 4),
        "p01": round(float(np.quantile(arr, 0.01)), 4),
        "p05": round(float(np.quantile(arr, 0.05)), 4),
        "median": round(float(np.median(arr)), 4),
        "mean": round(float(arr.mean()), 4),
        "p95": round(float(np.quantile(arr, 0.95)), 4),
        "max": round(float(arr.max()), 4),
    }


def cluster_pairs(roots: dict[str, str]) -> set[tuple[str, str]]:
    members: dict[str, list[str]] = {}
    for node, root in roots.items():
        members.setdefault(root, []).append(node)
    return {tuple(sorted(p)) for group in members.values() for p in combinations(group, 2)}  # type: ignore[misc]


def shared_shingle_counts(shingles: dict[str, np.ndarray]) -> dict[tuple[str, str], int]:
    """Exact number of shared shingles for every pair of texts sharing at least one (inverted index)."""
    ids = sorted(shingles)
    owners = np.concatenate([np.full(len(shingles[i]), n, dtype=np.int64) for n, i in enumerate(ids)])
    values = np.concatenate([shingles[i] for i in ids])
    order = np.argsort(values, kind="stable")
    values, owners = values[order], owners[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    counts: dict[tuple[str, str], int] = {}
    for start in starts[sizes > 1].tolist():
        stop = start + 1
        while stop < len(values) and values[stop] == values[start]:
            stop += 1
        for x, y in combinations(sorted(set(owners[start:stop].tolist())), 2):
            counts[(ids[x], ids[y])] = counts.get((ids[x], ids[y]), 0) + 1
    return counts


def remove_near_originals(
    originals: list[tuple[str, str]], shingles: dict[str, np.ndarray]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Drop originals that overlap another original (they would be true, not false, positives)."""
    dropped: set[str] = set()
    for (x, y), shared in sorted(shared_shingle_counts(shingles).items()):
        a, b = len(shingles[x]), len(shingles[y])
        overlapping = shared / (a + b - shared) >= 0.3 or shared / min(a, b) >= 0.5
        if overlapping and x not in dropped and y not in dropped:
            dropped.add(max(x, y))
    return [(i, t) for i, t in originals if i not in dropped], sorted(dropped)


def nearest_other(originals: list[tuple[str, str]], shingles: dict[str, np.ndarray], sample: int) -> list[float]:
    """True Jaccard of each of ``sample`` originals with its nearest other original (all pairs)."""
    ids = [i for i, _ in originals]
    rng = random.Random(SEED + ":nearest")
    probe = rng.sample(ids, min(sample, len(ids)))
    return [max(true_jaccard(shingles[p], shingles[o]) for o in ids if o != p) for p in probe]


CandidateRows = np.ndarray
"""One row per LSH candidate pair: estimated Jaccard, both shingle counts, 1 if a true pair."""


def evaluate_level(
    name: str, variant: Variant, originals: list[tuple[str, str]], vocabulary: list[str]
) -> tuple[dict[str, object], CandidateRows]:
    pool: list[tuple[str, str]] = []
    truth: set[tuple[str, str]] = set()
    for doc_id, text in originals:
        rng = random.Random(f"{SEED}:{name}:{doc_id}")
        original, copy = variant(text, rng, vocabulary)
        pool += [(f"{doc_id}/o", original), (f"{doc_id}/c", copy)]
        truth.add((f"{doc_id}/c", f"{doc_id}/o"))
    return score_pool(pool, truth)


def score_pool(pool: list[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[dict[str, object], CandidateRows]:
    started = time.perf_counter()
    shingles = {i: minhash.shingle_hashes(t) for i, t in pool}
    sketches = [Sketch(i, minhash.signature_of_shingles(shingles[i]), len(shingles[i])) for i, _ in pool]
    sketch_seconds = time.perf_counter() - started
    by_id = {s.id: s for s in sketches}
    roots, _ = find_near_duplicates(sketches)
    predicted = cluster_pairs(roots)
    candidate_sketches = {
        (min(x.id, y.id), max(x.id, y.id)): (x, y) for g in candidate_groups(sketches) for x, y in combinations(g, 2)
    }
    candidates = set(candidate_sketches)
    rows = np.asarray(
        [
            (minhash.estimated_jaccard(x.sig, y.sig), x.size, y.size, float(pair in truth))
            for pair, (x, y) in sorted(candidate_sketches.items())
        ],
        dtype=np.float64,
    ).reshape(-1, 4)
    true_found = predicted & truth
    jaccards = [true_jaccard(shingles[a], shingles[b]) for a, b in sorted(truth)]
    estimates = [minhash.estimated_jaccard(by_id[a].sig, by_id[b].sig) for a, b in sorted(truth)]
    false_pairs = sorted(predicted - truth)
    metrics: dict[str, object] = {
        "documents": len(pool),
        "true_pairs": len(truth),
        "predicted_pairs": len(predicted),
        "precision": round(len(true_found) / len(predicted), 4) if predicted else 1.0,
        "recall": round(len(true_found) / len(truth), 4) if truth else None,
        "lsh_candidate_recall": round(len(candidates & truth) / len(truth), 4) if truth else None,
        "pair_decision_recall": round(
            sum(near_similarity(by_id[a], by_id[b]) is not None for a, b in truth) / len(truth), 4
        )
        if truth
        else None,
        "candidate_pairs": len(candidates),
        "false_pairs": len(false_pairs),
        "false_pair_examples": [
            {"pair": list(p), "true_jaccard": round(true_jaccard(shingles[p[0]], shingles[p[1]]), 4)}
            for p in false_pairs[:5]
        ],
        "true_jaccard": quantiles(jaccards),
        "estimate_error": quantiles([abs(e - j) for e, j in zip(estimates, jaccards, strict=True)]),
        "sketch_ms_per_doc": round(1000 * sketch_seconds / len(pool), 3),
    }
    return metrics, rows


def sweep_decision(
    rows: CandidateRows, jaccard_threshold: float, containment_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """``near.decide`` vectorised over candidate rows with other thresholds: (decided, is_true)."""
    j, a, b, true = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] == 1
    smaller, larger = np.minimum(a, b), np.maximum(a, b)
    contained = np.minimum(1.0, j * (a + b) / ((1 + j) * np.maximum(smaller, 1)))
    by_containment = (
        (contained >= containment_threshold)
        & (smaller >= MIN_CONTAINED_SHINGLES)
        & (smaller >= MIN_SIZE_RATIO * larger)
    )
    return (j >= jaccard_threshold) | by_containment, true


def threshold_sweep(per_level: dict[str, tuple[CandidateRows, int]]) -> list[dict[str, object]]:
    table = []
    for jt in (0.4, 0.45, 0.5, 0.55, 0.6):
        for ct in (0.6, 0.7, 0.8, 0.9):
            recall, false_pairs = {}, 0
            for name, (rows, true_pairs) in per_level.items():
                decided, true = sweep_decision(rows, jt, ct)
                false_pairs += int(np.count_nonzero(decided & ~true))
                if true_pairs:
                    recall[name] = round(int(np.count_nonzero(decided & true)) / true_pairs, 4)
            table.append({"jaccard": jt, "containment": ct, "false_pairs": false_pairs, "pair_recall": recall})
    return table


def negatives_only(originals: list[tuple[str, str]]) -> dict[str, object]:
    pool = [(f"{i}/o", wrap(t, TEMPLATES[1])) for i, t in originals]
    return score_pool(pool, set())[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="originals sampled (default: all)")
    parser.add_argument("--output", default=str(ROOT / "eval" / "near_dups.json"))
    args = parser.parse_args(argv)
    if not DRAGNET.exists():
        print(f"skipped: {DRAGNET} not found", file=sys.stderr)
        return 0
    started = time.perf_counter()
    everything = load_originals()
    rng = random.Random(SEED)
    originals = sorted(rng.sample(everything, args.limit)) if 0 < args.limit < len(everything) else everything
    shingles = {i: minhash.shingle_hashes(t) for i, t in originals}
    originals, dropped = remove_near_originals(originals, shingles)
    vocabulary = sorted({w for _, t in originals for w in t.split() if re.fullmatch(r"[A-Za-z]+", w)})
    report: dict[str, object] = {
        "corpus": "dragnet gold article texts (>= 100 words)",
        "originals_available": len(everything),
        "originals_used": len(originals),
        "originals_dropped_as_near_copies_of_each_other": dropped,
        "parameters": {
            "num_perm": minhash.NUM_PERM,
            "shingle_words": minhash.SHINGLE_WORDS,
            "bands": minhash.BANDS,
            "rows": minhash.ROWS,
            "lsh_threshold": round((1 / minhash.BANDS) ** (1 / minhash.ROWS), 4),
            "jaccard_threshold": JACCARD_THRESHOLD,
            "containment_threshold": CONTAINMENT_THRESHOLD,
            "min_size_ratio": MIN_SIZE_RATIO,
            "min_contained_shingles": MIN_CONTAINED_SHINGLES,
        },
        "s_curve": {f"{j:.2f}": round(minhash.s_curve(j), 4) for j in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.64, 0.7)},
        "nearest_other_original_jaccard": quantiles(nearest_other(originals, shingles, 200)),
        "levels": {},
    }
    levels: dict[str, object] = {}
    candidate_rows: dict[str, tuple[CandidateRows, int]] = {}
    for name, variant in LEVELS.items():
        levels[name], rows = evaluate_level(name, variant, originals, vocabulary)
        candidate_rows[name] = (rows, len(originals))
        print(
            f"{name:20s} P={levels[name]['precision']:.4f} R={levels[name]['recall']:.4f} "  # type: ignore[index]
            f"J~{levels[name]['true_jaccard'].get('median')}",  # type: ignore[index,union-attr]
            flush=True,
        )
    levels["shared_template_negatives"] = negatives_only(originals)
    print(f"shared_template      false pairs={levels['shared_template_negatives']['false_pairs']}")  # type: ignore[index]
    report["levels"] = levels
    negatives = np.concatenate([rows[rows[:, 3] == 0, 0] for rows, _ in candidate_rows.values()])
    report["different_article_candidates_estimated_jaccard"] = {
        "pairs": len(negatives),
        **quantiles(negatives.tolist()),
    }
    report["threshold_sweep"] = threshold_sweep(candidate_rows)
    report["seconds"] = round(time.perf_counter() - started, 1)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Deduplication through the whole batch pipeline (``newsbeam run --input``), read back from the lake.

``eval_near_dups.py`` scores the near-duplicate functions alone. This scores what a run writes: the
same synthetic copies of Dragnet gold texts (a sample of originals, one copy each per level), plus an
``exact_text`` level (the same text at another URL), each level one ``run --input`` into a fresh
lake. The originals are published an hour before their copies, so the right article to keep is the
original. From the lake: a predicted pair is two input URLs whose chains through ``duplicates``
(``url -> canonical_article_id``) end at the same kept article; precision and recall are over the
(original, copy) pairs as in ``eval_near_dups.py``, and ``kept_original`` is the share of found
pairs whose kept article is the original.

``--dedup keyed`` scores the run's keyed dedup (the stream's transforms) into ``dedup_pipeline_keyed.json``.

Usage: ``python scripts/eval_dedup_pipeline.py [--limit 300] [--dedup global|keyed] [--output FILE]``
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_near_dups import DRAGNET, LEVELS, SEED, load_originals, remove_near_originals  # noqa: E402

from newsbeam.pipeline import lake_sql  # noqa: E402
from newsbeam.transforms.dedup import minhash  # noqa: E402

PIPELINE_LEVELS = ("exact_text", "edits_5", "boilerplate_added", "truncated", "mixed")
ORIGINAL_TIME = "2026-03-02T08:00:00+00:00"
COPY_TIME = "2026-03-02T09:00:00+00:00"


def level_lines(name: str, originals: list[tuple[str, str]], vocabulary: list[str]) -> list[dict[str, str]]:
    """``--input`` records of one level: each original and its copy, the copy an hour later."""
    lines = []
    for doc_id, text in originals:
        if name == "exact_text":
            original, copy = text, text
        else:
            original, copy = LEVELS[name](text, random.Random(f"{SEED}:{name}:{doc_id}"), vocabulary)
        slug = doc_id.replace("/", "-")
        lines.append({"url": f"https://first.example/{slug}", "text": original, "published": ORIGINAL_TIME})
        lines.append({"url": f"https://second.example/{slug}", "text": copy, "published": COPY_TIME})
    return lines


def run_level(lines: list[dict[str, str]], workdir: Path, dedup: str = "global") -> tuple[Path, float]:
    source = workdir / "input.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    lake = workdir / "lake"
    command = [str(ROOT / ".venv" / "bin" / "newsbeam"), "run", "--input", str(source), "--output", str(lake)]
    command += ["-q", "--dedup", dedup]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    return lake, time.perf_counter() - started


def kept_of(lake: Path) -> dict[str, str]:
    """Input URL -> URL of the kept article its chain of duplicates ends at (itself when kept)."""
    con = lake_sql.connect(str(lake))
    url_of = dict(con.execute("SELECT article_id, url FROM articles").fetchall())
    kept = {url: url for url in url_of.values()}
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    pointers: dict[str, str] = {}
    if "duplicates" in tables:
        pointers = dict(con.execute("SELECT url, canonical_url FROM duplicates").fetchall())
    for url in pointers:
        seen, target = {url}, pointers[url]
        while target in pointers and target not in seen and target not in kept:
            seen.add(target)
            target = pointers[target]
        kept[url] = target
    return kept


def score(lines: list[dict[str, str]], kept: dict[str, str]) -> dict[str, object]:
    truth = {(line["url"].replace("first.", "second."), line["url"]) for line in lines if "first." in line["url"]}
    groups: dict[str, list[str]] = {}
    for url, root in kept.items():
        groups.setdefault(root, []).append(url)
    predicted = {tuple(sorted(pair, reverse=True)) for members in groups.values() for pair in combinations(members, 2)}
    found = predicted & truth
    return {
        "documents": len(lines),
        "articles_kept": len(groups),
        "missing_from_lake": len(lines) - len(kept),
        "precision": round(len(found) / len(predicted), 4) if predicted else 1.0,
        "recall": round(len(found) / len(truth), 4),
        "kept_original": round(sum(kept.get(copy) == original for copy, original in found) / len(found), 4)
        if found
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="originals sampled per level")
    parser.add_argument("--output", default=None, help="default: eval/dedup_pipeline.json (keyed: _keyed.json)")
    parser.add_argument("--dedup", choices=("global", "keyed"), default="global", help="run's --dedup")
    args = parser.parse_args(argv)
    if not DRAGNET.exists():
        print(f"skipped: {DRAGNET} not found", file=sys.stderr)
        return 0
    everything = load_originals()
    originals = sorted(random.Random(SEED).sample(everything, min(args.limit, len(everything))))
    originals, _ = remove_near_originals(originals, {i: minhash.shingle_hashes(t) for i, t in originals})
    vocabulary = sorted({w for _, t in originals for w in t.split() if w.isalpha() and w.isascii()})
    report: dict[str, object] = {
        "corpus": "dragnet gold article texts via newsbeam run --input",
        "originals": len(originals),
        "dedup": args.dedup,
    }
    levels: dict[str, object] = {}
    for name in PIPELINE_LEVELS:
        lines = level_lines(name, originals, vocabulary)
        with tempfile.TemporaryDirectory() as workdir:
            lake, seconds = run_level(lines, Path(workdir), args.dedup)
            levels[name] = {**score(lines, kept_of(lake)), "run_seconds": round(seconds, 1)}
        print(name, levels[name], flush=True)
    report["levels"] = levels
    suffix = "" if args.dedup == "global" else f"_{args.dedup}"
    output = Path(args.output or ROOT / "eval" / f"dedup_pipeline{suffix}.json")
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

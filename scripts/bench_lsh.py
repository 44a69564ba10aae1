"""LSH index scale check: memory and lookups per second at 100k and 1M signatures (JSON on stdout).

Each size runs in a fresh subprocess so resident memory is measured from a clean start. The
signatures are synthetic (uniform random 64-bit values, i.e. unrelated articles: every band key
is distinct, as for real unrelated news), because sketching a million real texts would measure
the tokenizer, not the index. Queries are half near-copies of indexed signatures (30 % of the
values replaced: estimated Jaccard about 0.7, one or more shared bands almost surely) and half
unseen signatures (misses), each verified with ``near.decide`` like the pipeline does; once one
``query`` at a time, once ``query_many`` in batches of 1,000 (what a Beam bundle would do).

Usage: ``python scripts/bench_lsh.py [--sizes 100000 1000000] [--queries 20000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsbeam.transforms.dedup.minhash import NUM_PERM, LshIndex  # noqa: E402
from newsbeam.transforms.dedup.near import best_previous_match  # noqa: E402

BATCH = 50_000
QUERY_BATCH = 1_000
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def random_signatures(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=(n, NUM_PERM), dtype=np.uint64, endpoint=True)


def measure(size: int, queries: int, seed: int = 7) -> dict[str, object]:
    """Build an index of ``size`` signatures, then time ``queries`` single lookups."""
    rng = np.random.default_rng(seed)
    rss_before = _status_kib("VmRSS")
    index = LshIndex(horizon=timedelta(days=7))
    keep = rng.choice(size, size=queries // 2, replace=False)
    kept_sigs: dict[int, np.ndarray] = {}
    wanted = set(keep.tolist())
    started = time.perf_counter()
    span = int(timedelta(days=6).total_seconds())
    for first in range(0, size, BATCH):
        n = min(BATCH, size - first)
        sigs = random_signatures(rng, n)
        for row in range(n):
            if first + row in wanted:
                kept_sigs[first + row] = sigs[row].copy()
        times = int(START.timestamp()) + (np.arange(first, first + n, dtype=np.int64) * span) // size
        sizes = rng.integers(100, 2000, size=n)
        index.add_many([f"{i:016x}" for i in range(first, first + n)], sigs, times, sizes)
        del sigs
    build_seconds = time.perf_counter() - started
    rss_after = _status_kib("VmRSS")

    probes = []
    for i in keep.tolist():
        near = kept_sigs[i].copy()
        replace = rng.random(NUM_PERM) < 0.3
        near[replace] = random_signatures(rng, 1)[0][replace]
        probes.append((i, near))
    misses = random_signatures(rng, queries - len(probes))
    order = [*probes, *((None, s) for s in misses)]
    rng.shuffle(order)  # type: ignore[arg-type]
    hits = found = 0
    started = time.perf_counter()
    for expected, sig in order:
        candidates = index.query(sig)
        match = best_previous_match(candidates, 1000)
        if expected is not None:
            hits += 1
            found += match is not None and match[0].id == f"{expected:016x}"
    query_seconds = time.perf_counter() - started
    stack = np.stack([sig for _, sig in order])
    started = time.perf_counter()
    batched_found = 0
    for first in range(0, len(order), QUERY_BATCH):
        answers = index.query_many(stack[first : first + QUERY_BATCH])
        for (expected, _), candidates in zip(order[first : first + QUERY_BATCH], answers, strict=True):
            match = best_previous_match(candidates, 1000)
            batched_found += expected is not None and match is not None and match[0].id == f"{expected:016x}"
    batch_seconds = time.perf_counter() - started
    stats = index.stats()
    return {
        "signatures": size,
        "band_entries": stats.band_entries,
        "array_mib": round(stats.nbytes / 2**20, 1),
        "baseline_rss_mib": round(rss_before / 1024, 1),
        "rss_growth_mib": round((rss_after - rss_before) / 1024, 1),
        "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1),
        "peak_growth_mib": round((_status_kib("VmHWM") - rss_before) / 1024, 1),
        "build_seconds": round(build_seconds, 1),
        "adds_per_second": round(size / build_seconds),
        "queries": len(order),
        "lookups_per_second": round(len(order) / query_seconds),
        "batched_lookups_per_second": round(len(order) / batch_seconds),
        "query_batch": QUERY_BATCH,
        "near_copy_queries": hits,
        "near_copies_found": int(found),
        "near_copies_found_batched": int(batched_found),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.sizes[0], args.queries)))
        return 0
    results = []
    for size in args.sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", "--sizes", str(size), "--queries", str(args.queries)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(json.dumps({"lsh_index": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

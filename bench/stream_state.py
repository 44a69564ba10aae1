"""How big the stream's keyed state gets: bytes per key as the stream's own coders encode them.

The stream keeps its state in the runner (Prism holds it in memory). This replays the state
transitions of ``transforms/stream`` for ``n`` synthetic articles in publication order, with the
same pure functions and the same coder (pickle) the DoFns use, and sums the encoded size of every
key's state: seen entry URLs, kept canonical URLs and content hashes, LSH band buckets, and the
story index the commit step holds. Then it expires the older half, as the horizon timers would for a
stream that ran two horizons, and measures again. Runner overhead (Prism's per-key bookkeeping,
timers) is not in these figures; the soak (``bench/stream_soak.py``) measures the processes.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Sequence
from typing import Any

from bench.common import log, rounded
from bench.synthetic import articles, to_article
from newsbeam.schemas.records import FeedEntry
from newsbeam.transforms.dedup.minhash import DEFAULT_HORIZON
from newsbeam.transforms.stories.index import StoryIndex
from newsbeam.transforms.stream.first import entry_key, text_key, url_key
from newsbeam.transforms.stream.near_messages import BUCKETS, Member, Signature, admitted, band_queries


def _size(value: Any) -> int:
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def measure(n: int) -> dict[str, Any]:
    started = time.perf_counter()
    items = [to_article(item) for item in articles(n, days=14)]
    log(f"stream state: {n:,} synthetic articles made in {time.perf_counter() - started:.0f} s")
    entries: dict[str, bool] = {}
    kept_urls: dict[str, tuple[str, str]] = {}
    kept_texts: dict[str, tuple[str, str]] = {}
    buckets: dict[str, list[Member]] = {}
    signatures: dict[str, Signature] = {}
    stories = StoryIndex()
    stamp = 0.0
    for article in items:
        stamp += 1.0
        key, _ = entry_key(FeedEntry(article.feed_url or "https://feed.example/", article.url))
        entries.setdefault(key, True)
        kept_urls.setdefault(url_key(article)[0], (article.article_id, article.url))
        kept_texts.setdefault(text_key(article)[0], (article.article_id, article.url))
        for output in band_queries(article):
            if getattr(output, "tag", None) == BUCKETS:
                band, (_, query) = output.value
                buckets[band] = admitted(buckets.get(band, []), (query[0], stamp, query[2]), DEFAULT_HORIZON)
            elif hasattr(output, "tag"):
                article_id, signature = output.value
                signatures[article_id] = signature
    started = time.perf_counter()
    stories.assign_many(items)
    log(f"stream state: stories assigned in {time.perf_counter() - started:.0f} s")
    full = _sizes(entries, kept_urls, kept_texts, buckets, signatures, stories)
    # The older half expires (every state key's timer is "set time + horizon"; stories by last_seen).
    cutoff = items[len(items) // 2].published or items[len(items) // 2].fetched_at
    young = {a.article_id for a in items[len(items) // 2 :]}
    entries = {entry_key(FeedEntry("https://feed.example/", a.url))[0]: True for a in items[len(items) // 2 :]}
    kept_urls = {k: v for k, v in kept_urls.items() if v[0] in young}
    kept_texts = {k: v for k, v in kept_texts.items() if v[0] in young}
    buckets = {k: kept for k, v in buckets.items() if (kept := [m for m in v if m[0] in young])}
    signatures = {k: v for k, v in signatures.items() if k in young}
    stories.expire(cutoff + stories.config.horizon)
    half = _sizes(entries, kept_urls, kept_texts, buckets, signatures, stories)
    return {"articles": n, "full": full, "after_half_expired": half}


def _sizes(
    entries: dict[str, bool],
    urls: dict[str, tuple[str, str]],
    texts: dict[str, tuple[str, str]],
    buckets: dict[str, list[Member]],
    signatures: dict[str, Signature],
    stories: StoryIndex,
) -> dict[str, Any]:
    parts = {
        "seen_entry_urls": sum(len(k) + _size(True) for k in entries),
        "kept_canonical_urls": sum(len(k) + _size(v) for k, v in urls.items()),
        "kept_content_hashes": sum(len(k) + _size(v) for k, v in texts.items()),
        "lsh_band_buckets": sum(len(k) + _size(v) for k, v in buckets.items()),
        "signatures": sum(len(k) + _size(v) for k, v in signatures.items()),
        "story_index": _size(stories),
    }
    total = sum(parts.values())
    return {
        "mib": {name: rounded(value / 2**20, 1) for name, value in parts.items()},
        "total_mib": rounded(total / 2**20, 1),
        "keys": {
            "entry_urls": len(entries),
            "canonical_urls": len(urls),
            "content_hashes": len(texts),
            "band_buckets": len(buckets),
            "signatures": len(signatures),
            "stories": len(stories.stories),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    import json
    import sys

    n = int((argv or sys.argv[1:] or ["10000"])[0])
    print(json.dumps(measure(n), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

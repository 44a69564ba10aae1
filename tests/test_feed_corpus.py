"""The feedparser test corpus (1,400 real well- and ill-formed feeds) served over loopback and
run through the whole pipeline: no crash, and every feed accounted for.

A feed is accounted for when ``_state/feeds`` has its row and it either yielded entries, or
yielded none but its unusable items (no link) are dead letters (``<feed url>#item<N>``), or has
no items at all (``last_entries = 0``; most of this corpus tests channel-level elements), or is
itself in the dead letters with a reason.
Pages are not fetched (``fetch_pages: false``): the corpus links point at the internet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from httpserver import LoopbackServer

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.feedlist import load_feed_list
from newsbeam.pipeline.run import run
from newsbeam.transforms.fetch.http import HttpConfig


def corpus_rows(shared: Path) -> list[dict[str, Any]]:
    feeds = shared / "corpora" / "feeds"
    rows = [json.loads(line) for line in (feeds / "feedparser_manifest.jsonl").read_text().splitlines() if line]
    extra = sorted(p.relative_to(feeds).as_posix() for p in (feeds / "jsonfeed").rglob("*.json"))
    return rows + [{"path": path, "http_headers": ["Content-Type: application/feed+json"]} for path in extra]


def account(shared: Path, rows: list[dict[str, Any]], server: LoopbackServer, tmp_path: Path) -> dict[str, Any]:
    urls = []
    for row in rows:
        headers = dict(h.split(":", 1) for h in row["http_headers"])
        content_type = next((v.strip() for k, v in headers.items() if k.lower() == "content-type"), None)
        others = {k.strip(): v.strip() for k, v in headers.items() if k.lower() != "content-type"}
        body = (shared / "corpora" / "feeds" / row["path"]).read_bytes()
        urls.append(server.add("/" + row["path"], body, content_type=content_type or "application/xml", headers=others))
    feed_list = tmp_path / "corpus.yaml"
    feed_list.write_text("feeds:\n" + "".join(f"  - url: {json.dumps(u)}\n    fetch_pages: false\n" for u in urls))
    output = tmp_path / "lake"
    http = HttpConfig(allow_private_networks=True, min_delay=0, per_host=8, retries=0, host_budget=600)
    result = run(RunConfig(output=str(output), feeds=tuple(load_feed_list(feed_list)), http=http))
    con = lake_sql.connect(str(output))
    state = dict(con.execute("SELECT feed_url, last_entries FROM feed_state").fetchall())
    letters = con.execute("SELECT input_id, reason FROM dead_letters WHERE stage = 'feeds'").fetchall()
    failed = {url: reason for url, reason in letters if "#" not in url}
    items_failed = {url.split("#", 1)[0] for url, _ in letters if "#" in url}
    return {
        "total": len(urls),
        "with_entries": sum(1 for u in urls if (state.get(u) or 0) > 0),
        "only_unusable_items": sum(1 for u in urls if state.get(u) == 0 and u in items_failed),
        "no_items": sum(1 for u in urls if state.get(u) == 0 and u not in items_failed),
        "dead_lettered": sum(1 for u in urls if u in failed),
        "unaccounted": [u for u in urls if u not in state or (state[u] is None and u not in failed)],
        "reasons_present": all(reason for reason in failed.values()),
        "counters": result.counters,
    }


def test_corpus_sample_is_fully_accounted_for(shared_dir: Path, http_server: LoopbackServer, tmp_path: Path) -> None:
    rows = corpus_rows(shared_dir)
    sample = rows[::10]
    found = account(shared_dir, sample, http_server, tmp_path)
    assert found["unaccounted"] == []
    parts = ("with_entries", "only_unusable_items", "no_items", "dead_lettered")
    assert sum(found[part] for part in parts) == found["total"] == len(sample)
    assert found["with_entries"] >= 5 and found["only_unusable_items"] >= 20 and found["reasons_present"]
    counters = found["counters"]
    # every entry became an article, a collapsed copy, or a clean-stage dead letter
    assert counters["entries"] == counters["rows_articles"] + counters.get("duplicates", 0) + counters.get(
        "clean_failed", 0
    )


def test_whole_corpus_is_fully_accounted_for(shared_dir: Path, http_server: LoopbackServer, tmp_path: Path) -> None:
    found = account(shared_dir, corpus_rows(shared_dir), http_server, tmp_path)
    print(json.dumps({k: v for k, v in found.items() if k != "counters"}, indent=1))
    assert found["unaccounted"] == []
    parts = ("with_entries", "only_unusable_items", "no_items", "dead_lettered")
    assert sum(found[part] for part in parts) == found["total"]

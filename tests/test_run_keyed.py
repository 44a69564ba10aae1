"""``newsbeam run --dedup keyed``: the stream's keyed dedup over a bounded input gives batch's lake.

The copies here have one right answer each (an exact URL copy, the same text at another URL, a
near copy with a few words changed, and a copy of an article an earlier run wrote), so the global
and keyed steps must agree on every kept article and every ``duplicates`` row.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from apache_beam.runners.portability.fn_api_runner import worker_handlers

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import main
from newsbeam.pipeline.runners import without_state_cache

SYLLABLES = ("ka", "lo", "mi", "ne", "pu", "ro", "si", "tu")
WORDS = [f"{a}{b}" for a in SYLLABLES for b in ("ban", "dor", "fel", "gin", "hox", "jup")]


def text(seed: int, words: int = 220) -> str:
    rng = random.Random(seed)
    sentences = []
    for _ in range(words // 11):
        sentence = " ".join(rng.choice(WORDS) for _ in range(11))
        sentences.append(sentence.capitalize() + ".")
    return " ".join(sentences)


def edited(original: str, seed: int, changes: int = 4) -> str:
    rng = random.Random(seed)
    words = original.split(" ")
    for index in rng.sample(range(len(words)), changes):
        words[index] = "zed" + words[index]
    return " ".join(words)


def record(url: str, body: str, hour: int) -> str:
    return json.dumps({"url": url, "text": body, "published": f"2026-03-02T{hour:02d}:00:00+00:00"}) + "\n"


def write_input(path: Path, lines: list[str]) -> str:
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def lake_view(lake: Path) -> tuple[set[str], set[tuple[str, str, str]]]:
    con = lake_sql.connect(str(lake))
    kept = {row[0] for row in con.execute("SELECT url FROM articles").fetchall()}
    duplicates = {tuple(row) for row in con.execute("SELECT url, kind, canonical_url FROM duplicates").fetchall()}
    return kept, duplicates


def test_keyed_and_global_dedup_write_the_same_lake_within_and_across_runs(tmp_path: Path) -> None:
    first = [
        record("https://a.example/1", text(1), 8),
        record("https://a.example/1?utm_source=x", text(1), 8),  # the same canonical URL
        record("https://b.example/copy-of-1", text(1), 9),  # the same text at another URL
        record("https://a.example/2", text(2), 8),
        record("https://c.example/near-2", edited(text(2), 7), 9),  # a near copy
        record("https://a.example/3", text(3), 8),
    ]
    second = [
        record("https://d.example/near-3", edited(text(3), 8), 10),  # a near copy of the first run's article
        record("https://a.example/4", text(4), 10),
    ]
    views = {}
    for mode in ("global", "keyed"):
        lake = tmp_path / f"lake-{mode}"
        for name, lines in (("first", first), ("second", second)):
            source = write_input(tmp_path / f"{mode}-{name}.jsonl", lines)
            assert main(["run", "--input", source, "--output", str(lake), "-q", "--dedup", mode]) == 0
        views[mode] = lake_view(lake)

    kept, duplicates = views["keyed"]
    assert kept == {"https://a.example/1", "https://a.example/2", "https://a.example/3", "https://a.example/4"}
    assert {(url, kind) for url, kind, _ in duplicates} == {
        ("https://a.example/1?utm_source=x", "exact_url"),
        ("https://b.example/copy-of-1", "exact_text"),
        ("https://c.example/near-2", "near"),
        ("https://d.example/near-3", "near"),
    }
    assert views["keyed"] == views["global"]


def test_the_in_process_state_cache_is_off_only_inside_the_block() -> None:
    before = worker_handlers.STATE_CACHE_SIZE_MB
    with without_state_cache():
        assert worker_handlers.STATE_CACHE_SIZE_MB == 0
    assert worker_handlers.STATE_CACHE_SIZE_MB == before
    with pytest.raises(RuntimeError), without_state_cache():
        raise RuntimeError("a failed run")
    assert worker_handlers.STATE_CACHE_SIZE_MB == before

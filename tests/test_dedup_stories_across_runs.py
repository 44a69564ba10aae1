"""Across runs: a near-copy arriving later collapses into the article already in the lake, and a
later article about the same event joins the existing story (same ``story_id``)."""

from __future__ import annotations

import json
from pathlib import Path

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import main

SITE = Path(__file__).resolve().parents[1] / "pipeline" / "demo" / "site"
BASE = "https://archive.example"
FIRST = ["northwind-post/world/2024/05/06/critical-minerals-talks-open.html",
         "harbor-herald/2024/05/kenya-fishing-crew-rescued.html"]  # fmt: skip
SECOND = ["civic-ledger/2024/05/07/port-ellery-minerals-framework.html",
          "northwind-post/world/2024/05/07/japanese-ship-finds-kenyan-fishermen.html"]  # fmt: skip


def archive(path: Path, pages: list[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for page in pages:
            html = (SITE / page).read_text(encoding="utf-8").replace("{{BASE}}", BASE)
            out.write(json.dumps({"url": f"{BASE}/{page}", "html": html}) + "\n")


def test_later_copy_and_later_coverage(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    for name, pages in (("first", FIRST), ("second", SECOND)):
        archive(tmp_path / f"{name}.jsonl", pages)
        assert main(["run", "--input", str(tmp_path / f"{name}.jsonl"), "--output", str(output)]) == 0

    con = lake_sql.connect(str(output))
    story = dict(con.execute("SELECT regexp_extract(url, '[^/]+[.]html$'), story_id FROM articles").fetchall())
    assert story["port-ellery-minerals-framework.html"] == story["critical-minerals-talks-open.html"]
    assert len(story) == 3, "the wire copy of the second run is not a second article"

    copy = con.execute("SELECT url, kind, canonical_url, run_id FROM duplicates").fetchall()
    assert len(copy) == 1
    url, kind, canonical, run_id = copy[0]
    assert "japanese-ship-finds-kenyan-fishermen" in url and kind == "near"
    assert canonical.endswith("kenya-fishing-crew-rescued.html")  # the article already in the lake
    runs = [r for (r,) in con.execute("SELECT DISTINCT run_id FROM articles ORDER BY 1").fetchall()]
    assert run_id == runs[-1] and len(runs) == 2

    minerals = con.execute(
        "SELECT arg_max(article_count, last_seen), arg_max(sources, last_seen) FROM stories "
        f"WHERE story_id = '{story['critical-minerals-talks-open.html']}'"
    ).fetchall()
    assert minerals[0][0] == 2 and len(minerals[0][1]) == 2

"""``newsbeam compact``: one file per closed partition, same rows, old files gone, state merged."""

from __future__ import annotations

import json
from pathlib import Path

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import main

TEXTS = [
    "Kenya and Japan signed a fisheries deal on Monday. Officials in Nairobi said quotas start in June.",
    "Germany and France agreed on a rail link. Ministers from both countries met in Strasbourg on Monday.",
    "Brazil and Canada opened trade talks. Negotiators said a first round would end on Friday.",
    "Japan and Germany announced a research fund. Universities in both countries can apply from July.",
]


def run_batches(tmp_path: Path, output: Path) -> None:
    for index, text in enumerate(TEXTS):
        archive = tmp_path / f"batch{index}.jsonl"
        record = {"url": f"https://wire.example/{index}", "text": text, "published": "2024-05-06T09:00:00Z"}
        archive.write_text(json.dumps(record) + "\n")
        assert main(["run", "--input", str(archive), "--output", str(output), "--ner-model", "gazetteer"]) == 0


def snapshot(output: Path) -> dict[str, list[tuple[object, ...]]]:
    con = lake_sql.connect(str(output))
    return {
        "articles": sorted(con.execute("SELECT article_id, run_id, date FROM articles").fetchall()),
        "entities": sorted(con.execute("SELECT entity, article_id, salience FROM entities").fetchall()),
        "seen": sorted(con.execute("SELECT canonical_url, article_id FROM seen").fetchall()),
    }


def test_compaction_leaves_one_file_per_closed_partition(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    run_batches(tmp_path, output)
    before = snapshot(output)
    japan = output / "entities" / "entity=japan" / "date=2024-05-06"
    assert len(list(japan.glob("*.parquet"))) == 2
    assert len(list((output / "articles" / "date=2024-05-06").glob("*.parquet"))) == 4

    assert main(["compact", "--output", str(output)]) == 0

    assert snapshot(output) == before, "compaction must not change what readers see"
    assert len(list(japan.glob("*.parquet"))) == 1
    assert len(list((output / "articles" / "date=2024-05-06").glob("*.parquet"))) == 1
    assert len(list((output / "_state" / "seen").glob("*.parquet"))) == 1
    for partition in (output / "entities").glob("entity=*/date=*"):
        assert len(list(partition.glob("*.parquet"))) == 1, partition
    # Globbing the folders (as Spark, Trino or plain DuckDB do) sees the same rows as the catalog.
    con = lake_sql.connect(str(output))
    globbed = con.execute(
        f"SELECT count(*) FROM read_parquet('{output}/entities/*/*/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert globbed == [(len(before["entities"]),)]


def test_open_day_is_left_alone(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    run_batches(tmp_path, output)
    assert main(["compact", "--output", str(output), "--before", "2024-05-06"]) == 0
    assert len(list((output / "articles" / "date=2024-05-06").glob("*.parquet"))) == 4

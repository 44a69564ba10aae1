"""``newsbeam compact``: Delta optimize of closed days and vacuum; same rows, safe beside a running run."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import main
from newsbeam.transforms.lake import compact as compaction
from newsbeam.transforms.lake.delta import live_files, open_table

TEXTS = [
    "Kenya and Japan signed a fisheries deal on Monday. Officials in Nairobi said quotas start in June.",
    "Germany and France agreed on a rail link. Ministers from both countries met in Strasbourg on Monday.",
    "Brazil and Canada opened trade talks. Negotiators said a first round would end on Friday.",
    "Japan and Germany announced a research fund. Universities in both countries can apply from July.",
]

LATE_TEXTS = [
    "Chile opened a solar plant in the Atacama desert. Engineers said it will power a copper mine.",
    "Norway raised its interest rate by a quarter point. The central bank in Oslo cited rising rents.",
    "India launched a weather satellite from Sriharikota. It will track monsoon clouds over the ocean.",
    "Egypt reopened a museum in Cairo after repairs. Visitors queued for hours to see the mummies.",
    "Mexico City banned diesel buses downtown. The mayor said electric buses arrive next spring.",
    "Peru found a pre-Inca tomb near Lima. Archaeologists said the textiles are well preserved.",
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


def table_files(output: Path, table: str, partition: str) -> int:
    """Files the Delta log lists for one partition (what every Delta reader reads)."""
    return sum(f"/{partition}/" in path for path in live_files(str(output), [table]).get(table, []))


def test_compaction_leaves_one_file_per_closed_partition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "lake"
    run_batches(tmp_path, output)
    before = snapshot(output)
    assert table_files(output, "entities", "entity=japan/date=2024-05-06") == 2
    assert table_files(output, "articles", "date=2024-05-06") == 4

    assert main(["compact", "--output", str(output)]) == 0

    assert snapshot(output) == before, "compaction must not change what readers see"
    assert table_files(output, "entities", "entity=japan/date=2024-05-06") == 1
    assert table_files(output, "articles", "date=2024-05-06") == 1
    assert len(live_files(str(output), ["seen"])["seen"]) == 1
    # With the default retention the replaced files stay on disk (time travel, plain-glob readers).
    assert len(list((output / "articles" / "date=2024-05-06").glob("*.parquet"))) == 5

    # Vacuum with no retention (allowed only below the CLI's floor, here) deletes them.
    monkeypatch.setattr(compaction, "MIN_RETENTION_HOURS", 0)
    report = compaction.compact(str(output), date(2030, 1, 1), retention_hours=0)
    assert sum(t.vacuumed for t in report.tables) > 0
    assert len(list((output / "articles" / "date=2024-05-06").glob("*.parquet"))) == 1
    # Now globbing the folders (as Spark, Trino or plain DuckDB do) sees the same rows as the log.
    con = lake_sql.connect(str(output))
    globbed = con.execute(
        f"SELECT count(*) FROM read_parquet('{output}/entities/*/*/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert globbed == [(len(before["entities"]),)]
    assert snapshot(output) == before


def test_open_day_is_left_alone(tmp_path: Path) -> None:
    output = tmp_path / "lake"
    run_batches(tmp_path, output)
    assert main(["compact", "--output", str(output), "--before", "2024-05-06"]) == 0
    assert table_files(output, "articles", "date=2024-05-06") == 4


def test_retention_below_an_hour_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "lake"
    run_batches(tmp_path, output)
    assert main(["compact", "--output", str(output), "--retention-hours", "0"]) == 1
    assert "would delete files of a run that is still writing" in capsys.readouterr().err


def test_compaction_racing_a_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """A run commits into a closed day while a compaction of that day is in flight: both succeed."""
    output = tmp_path / "lake"
    run_batches(tmp_path, output)
    stale = open_table(str(output), "articles")  # the compaction's snapshot, taken before the run commits
    assert stale is not None
    late = tmp_path / "late.jsonl"
    record = {
        "url": "https://wire.example/late",
        "text": TEXTS[0].replace("Monday", "Tuesday"),
        "published": "2024-05-06T18:00:00Z",
    }
    late.write_text(json.dumps(record) + "\n")
    assert main(["run", "--input", str(late), "--output", str(output), "--ner-model", "gazetteer"]) == 0

    metrics, _retries = compaction._optimize(stale, "articles", date(2030, 1, 1))
    con = lake_sql.connect(str(output))
    counts = con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchall()
    assert counts == [(5, 5)], "the run's article is kept once, the four earlier ones too"
    assert "https://wire.example/late" in {url for (url,) in con.execute("SELECT url FROM articles").fetchall()}
    # The compaction rewrote the four files it saw; the run's file, committed meanwhile, stays beside it.
    assert (metrics["numFilesRemoved"], metrics["numFilesAdded"]) == (4, 1)
    assert table_files(output, "articles", "date=2024-05-06") == 2


def test_compaction_and_run_at_the_same_time(tmp_path: Path) -> None:
    """Real concurrency: a compaction thread and a run on the same lake; every row once, both succeed."""
    output = tmp_path / "lake"
    run_batches(tmp_path, output)
    late = tmp_path / "late.jsonl"
    lines = [
        json.dumps({"url": f"https://wire.example/late{i}", "text": text, "published": "2024-05-06T18:00:00Z"})
        for i, text in enumerate(LATE_TEXTS)
    ]
    late.write_text("\n".join(lines) + "\n")
    reports: list[compaction.CompactionReport] = []
    compactor = threading.Thread(target=lambda: reports.append(compaction.compact(str(output), date(2030, 1, 1))))
    compactor.start()
    code = main(["run", "--input", str(late), "--output", str(output), "--ner-model", "gazetteer"])
    compactor.join(timeout=300)
    assert code == 0 and len(reports) == 1
    con = lake_sql.connect(str(output))
    assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchall() == [(10, 10)]
    assert con.execute("SELECT count(*), count(DISTINCT canonical_url) FROM seen").fetchall() == [(10, 10)]

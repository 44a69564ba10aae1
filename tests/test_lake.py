"""Lake writer and publisher on real files, read back with DuckDB SQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.schemas.lake import ARTICLES, TABLES
from newsbeam.schemas.records import DeadLetter, EntityRef, Mention
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.lake import write as lake_write
from newsbeam.transforms.lake.delta import live_files, open_table
from newsbeam.transforms.lake.publish import JOURNAL, _roll_forward, publish_run
from newsbeam.transforms.lake.rows import article_row, dead_letter_row, entity_rows, partition_date
from newsbeam.transforms.lake.write import write_partition
from tests.factories import make_article

PUBLISHED = datetime(2024, 5, 2, 23, 30, tzinfo=timezone.utc)


def tagged_article(url: str = "https://example.org/a") -> object:
    text = "Wang Yi met officials in Moscow."
    return make_article(
        url,
        text=text,
        title="Wang Yi in Moscow",
        published=PUBLISHED,
        mentions=(Mention(0, 7, "Wang Yi", "PER", "Q1"), Mention(24, 30, "Moscow", "LOC", "Q649")),
        entities=(
            EntityRef("Q1", "Wang Yi", "wang-yi", "PER", 0.8, 1),
            EntityRef("Q649", "Moscow", "moscow", "LOC", 0.4, 1),
        ),
    )


def test_partition_date_is_published_day_in_utc_else_fetch_day() -> None:
    local = datetime.fromisoformat("2024-05-03T01:30:00+02:00")
    assert partition_date(local, datetime(2030, 1, 1, tzinfo=timezone.utc)) == "2024-05-02"
    assert partition_date(None, datetime(2024, 5, 4, 9, tzinfo=timezone.utc)) == "2024-05-04"


def test_write_splits_at_max_rows_and_stays_invisible_until_committed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(lake_write, "ROW_GROUP_ROWS", 3)
    spec = TABLES["articles"]
    monkeypatch.setitem(TABLES, "articles", type(spec)(spec.name, spec.folder, spec.schema, spec.partition_keys, 4))
    rows = [article_row(make_article(f"https://e.org/{i}", text=f"t{i}"), "run1").row for i in range(10)]
    files = write_partition(str(tmp_path), "run1", "articles", "date=2024-05-03", iter(rows))
    assert [f.rows for f in files] == [4, 4, 2]
    assert len(list((tmp_path / "articles" / "date=2024-05-03").glob("*.parquet"))) == 3
    assert lake_sql.connect(str(tmp_path)).sql("SELECT count(*) FROM articles").fetchall() == [(0,)]

    published = publish_run(str(tmp_path), "run1", {"counters": {"rows_articles": 10}}, files)
    assert len(published.files) == 3
    manifest = json.loads(Path(published.manifest_path).read_text())
    assert manifest["run_id"] == "run1" and len(manifest["files"]) == 3
    assert manifest["table_versions"] == {"articles": 1}
    assert not list((tmp_path / JOURNAL).glob("*.json")), "the journal is removed once the run is recorded"
    assert lake_sql.connect(str(tmp_path)).sql("SELECT count(*) FROM articles").fetchall() == [(10,)]
    delta = open_table(str(tmp_path), "articles")
    assert delta is not None and delta.to_pyarrow_table().num_rows == 10, "delta-rs reads the same table"
    path = tmp_path / "articles" / files[0].relative
    assert pq.read_schema(path).remove_metadata() == ARTICLES.remove_metadata()


def test_two_runs_never_overwrite_each_other(tmp_path: Path) -> None:
    for run_id in ("runA", "runB"):
        row = article_row(make_article("https://e.org/same"), run_id)
        files = write_partition(str(tmp_path), run_id, "articles", row.partition, [row.row])
        publish_run(str(tmp_path), run_id, {}, files)
    names = sorted(p.name for p in (tmp_path / "articles").rglob("*.parquet"))
    assert names == ["part-runA-0000.parquet", "part-runB-0000.parquet"]


def test_duckdb_reads_all_tables_with_hive_partitioning(tmp_path: Path) -> None:
    article = tagged_article()
    letter = DeadLetter(
        "fetch",
        "HTTP 404 for https://e.org/gone",
        "HTTPStatusError",
        "https://e.org/gone",
        datetime(2024, 5, 3, tzinfo=timezone.utc),
        "",
        {"status": 404},
    )
    rows = [
        article_row(article, "r"),
        *entity_rows(article, article.entities, "r"),
        dead_letter_row(letter, "r"),
    ]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row.table, row.partition), []).append(row.row)
    files = [
        written
        for (table, partition), members in groups.items()
        for written in write_partition(str(tmp_path), "r", table, partition, members)
    ]
    publish_run(str(tmp_path), "r", {}, files)
    assert (tmp_path / "entities" / "entity=wang-yi" / "date=2024-05-02").is_dir()

    con = lake_sql.connect(str(tmp_path))
    per_entity = con.sql(
        "SELECT entity, CAST(date AS VARCHAR), count(*) FROM entities GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert per_entity == [("moscow", "2024-05-02", 1), ("wang-yi", "2024-05-02", 1)]
    mention = con.sql(
        'SELECT m.text, substr(text, m.start + 1, m."end" - m.start) '
        "FROM (SELECT text, unnest(mentions) AS m FROM articles)"
    ).fetchall()
    assert mention[0] == ("Wang Yi", "Wang Yi")
    assert con.sql("SELECT stage, reason FROM dead_letters").fetchall() == [
        ("fetch", "HTTP 404 for https://e.org/gone")
    ]
    types = con.execute("SELECT typeof(published), typeof(date) FROM articles").fetchall()
    assert types == [("TIMESTAMP WITH TIME ZONE", "DATE")]


def test_connect_on_empty_lake_has_empty_views(tmp_path: Path) -> None:
    con = lake_sql.connect(str(tmp_path))
    assert con.execute("SELECT count(*) FROM articles").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM entities WHERE entity = 'china'").fetchall() == [(0,)]


def _write_run(output: Path, run_id: str, articles: list[object]) -> None:
    """Stage one run's article and entity rows the way ``WriteLake`` groups them, then publish."""
    groups: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for article in articles:
        for row in (article_row(article, run_id), *entity_rows(article, article.entities, run_id)):
            groups.setdefault((row.table, lake_write.write_group(row.partition)), []).append((row.partition, row.row))
    files = [
        f
        for (table, _day), pairs in groups.items()
        for f in lake_write.write_partitions(str(output), run_id, table, pairs)
    ]
    publish_run(str(output), run_id, {}, files)


def test_write_group_is_the_day_so_one_call_writes_every_entity_of_it() -> None:
    assert lake_write.write_group("entity=wang-yi/date=2024-05-02") == "date=2024-05-02"
    assert lake_write.write_group("stage=fetch/date=2024-05-02") == "date=2024-05-02"
    assert lake_write.write_group("") == ""


def test_second_run_into_existing_partitions_keeps_both(tmp_path: Path) -> None:
    _write_run(tmp_path, "runA", [tagged_article("https://example.org/a")])
    later = make_article(
        "https://example.org/b",
        published=PUBLISHED,
        entities=(
            EntityRef("Q1", "Wang Yi", "wang-yi", "PER", 0.9, 2),
            EntityRef("Q148", "China", "china", "LOC", 0.5, 1),
        ),
    )
    _write_run(tmp_path, "runB", [later])
    wang = sorted(p.name for p in (tmp_path / "entities" / "entity=wang-yi" / "date=2024-05-02").iterdir())
    assert wang == ["part-runA-0000.parquet", "part-runB-0000.parquet"]
    assert (tmp_path / "entities" / "entity=china" / "date=2024-05-02" / "part-runB-0000.parquet").is_file()
    con = lake_sql.connect(str(tmp_path))
    assert con.sql("SELECT count(*) FROM entities WHERE entity = 'wang-yi'").fetchall() == [(2,)]


def test_replaying_a_journal_commits_nothing_twice(tmp_path: Path) -> None:
    """Recovery replays a journal whose commits may already be in: the app transaction makes that a no-op."""
    _write_run(tmp_path, "runA", [tagged_article("https://example.org/a")])
    record = json.loads((tmp_path / "_runs" / "runA.json").read_text())
    versions = record["table_versions"]
    journal = {**record, "files": {}}
    for path in record["files"]:
        table = "articles" if path.startswith("articles/") else "entities"
        relative = path.split("/", 1)[1]
        written = lake_write.WrittenFile(table, relative, (tmp_path / path).stat().st_size, 1)
        journal["files"].setdefault(table, []).append(dataclasses.asdict(written))
    _roll_forward(str(tmp_path), journal)
    assert {name: open_table(str(tmp_path), name).version() for name in versions} == versions  # type: ignore[union-attr]
    con = lake_sql.connect(str(tmp_path))
    assert con.sql("SELECT count(*) FROM articles").fetchall() == [(1,)]


def test_connect_as_of_a_run_reads_the_lake_as_it_was_then(tmp_path: Path) -> None:
    _write_run(tmp_path, "runA", [tagged_article("https://example.org/a")])
    _write_run(tmp_path, "runB", [tagged_article("https://example.org/b")])
    then = lake_sql.connect(str(tmp_path), as_of="runA")
    now = lake_sql.connect(str(tmp_path))
    assert then.sql("SELECT url FROM articles").fetchall() == [("https://example.org/a",)]
    assert sorted(now.sql("SELECT url FROM articles").fetchall()) == [
        ("https://example.org/a",),
        ("https://example.org/b",),
    ]
    assert then.sql("SELECT count(*) FROM entities WHERE entity = 'wang-yi'").fetchall() == [(1,)]
    with pytest.raises(ConfigError, match="no run nope"):
        lake_sql.connect(str(tmp_path), as_of="nope")


def test_live_files_are_what_the_delta_log_lists(tmp_path: Path) -> None:
    _write_run(tmp_path, "runA", [tagged_article("https://example.org/a")])
    stray = tmp_path / "articles" / "date=2024-05-02" / "part-crashed-0000.parquet"
    stray.write_bytes((tmp_path / "articles" / "date=2024-05-02" / "part-runA-0000.parquet").read_bytes())
    files = live_files(str(tmp_path), ["articles"])["articles"]
    assert [Path(f).name for f in files] == ["part-runA-0000.parquet"], "an uncommitted file is not in the table"
    assert lake_sql.connect(str(tmp_path)).sql("SELECT count(*) FROM articles").fetchall() == [(1,)]


def test_batches_from_several_bundles_make_one_file_per_partition_in_arrival_order(tmp_path: Path) -> None:
    """What the shuffle carries (Arrow IPC batches) is written as if the rows had come one by one."""
    articles = [make_article(f"https://e.org/{i}", text=f"text {i}", published=PUBLISHED) for i in range(5)]
    rows = [article_row(a, "run1") for a in articles]
    other_day = article_row(
        make_article("https://e.org/x", text="x", published=datetime(2024, 5, 4, tzinfo=timezone.utc)), "run1"
    )
    first = lake_write.encode_batch(lake_write.to_batch("articles", [(r.partition, r.row) for r in rows[:3]]))
    second = lake_write.to_batch(
        "articles", [(other_day.partition, other_day.row), *((r.partition, r.row) for r in rows[3:])]
    )
    files = lake_write.write_batches(str(tmp_path), "run1", "articles", [lake_write.decode_batch(first), second])
    assert [(f.relative.split("/")[0], f.rows) for f in files] == [("date=2024-05-02", 5), ("date=2024-05-04", 1)]
    table = pq.read_table(tmp_path / "articles" / files[0].relative)
    assert table.column("url").to_pylist() == [a.url for a in articles]
    assert lake_write.PARTITION_COLUMN not in table.column_names
    assert pq.read_schema(tmp_path / "articles" / files[0].relative).remove_metadata() == ARTICLES.remove_metadata()


def _commits_since_checkpoint(table_dir: Path) -> int:
    """JSON commits a fresh open of the table replays: those after its newest checkpoint."""
    log = table_dir / "_delta_log"
    versions = [int(p.name[:20]) for p in log.glob("*.json")]
    checkpoints = [int(p.name[:20]) for p in log.glob("*.checkpoint*.parquet")]
    return sum(1 for v in versions if v > max(checkpoints, default=-1))


def test_tables_checkpoint_every_few_commits_so_an_open_replays_a_short_log(tmp_path: Path) -> None:
    """Issue 15: a stream commits every few seconds; delta-rs reads each JSON commit since the last
    checkpoint on a tokio thread of its own, so at its default interval (100) the stream kept ~100
    threads and their memory. A table made before the interval was set gets it on its next publish."""
    from deltalake import DeltaTable

    from newsbeam.transforms.lake.delta import CHECKPOINT_INTERVAL, delta_schema, table_uri

    DeltaTable.create(table_uri(str(tmp_path), "entities"), delta_schema("entities"), partition_by=["entity", "date"])
    runs = 2 * CHECKPOINT_INTERVAL + 5
    for i in range(runs):
        _write_run(tmp_path, f"run{i:03d}", [tagged_article(f"https://example.org/{i}")])
        for name in ("articles", "entities"):
            assert _commits_since_checkpoint(tmp_path / name) <= CHECKPOINT_INTERVAL, (name, i)
    for name in ("articles", "entities"):
        table = open_table(str(tmp_path), name)
        assert table is not None
        assert table.metadata().configuration["delta.checkpointInterval"] == str(CHECKPOINT_INTERVAL)
        assert list((tmp_path / name / "_delta_log").glob("*.checkpoint.parquet")), name
    con = lake_sql.connect(str(tmp_path))
    assert con.sql("SELECT count(*) FROM articles").fetchall() == [(runs,)]
    assert con.sql("SELECT count(*) FROM entities WHERE entity = 'wang-yi'").fetchall() == [(runs,)]

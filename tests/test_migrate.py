"""``newsbeam migrate``: a lake written by newsbeam 0.1's own format answers the same queries as Delta tables."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import EXIT_FATAL, main
from newsbeam.transforms.lake.delta import live_files

FIXTURE = Path(__file__).parent / "fixtures" / "lake_v0"
sys.path.insert(0, str(FIXTURE))

from queries import QUERIES  # noqa: E402


def answers(output: Path) -> dict[str, list[list[str | None]]]:
    con = lake_sql.connect(str(output))
    return {
        name: [[None if value is None else str(value) for value in row] for row in con.execute(sql).fetchall()]
        for name, sql in QUERIES.items()
    }


@pytest.fixture
def old_lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    shutil.copytree(FIXTURE / "lake", lake)
    return lake


def test_migrated_lake_answers_the_same_queries_with_the_same_rows(old_lake: Path) -> None:
    data_files = sorted(p.relative_to(old_lake) for p in old_lake.rglob("*.parquet"))
    assert main(["migrate", "--output", str(old_lake)]) == 0
    assert answers(old_lake) == json.loads((FIXTURE / "expected.json").read_text())
    assert sorted(p.relative_to(old_lake) for p in old_lake.rglob("*.parquet")) == data_files, "nothing moved"
    committed = sum(len(paths) for paths in live_files(str(old_lake)).values())
    assert committed == len(data_files)
    assert len(list((old_lake / "_migrated" / "runs").glob("*.json"))) == 3, "old manifests are kept"


def test_a_file_the_old_catalog_replaced_is_not_migrated(old_lake: Path) -> None:
    """A compaction's replaced file that a crash left on disk was invisible before and stays so."""
    manifests = [json.loads(p.read_text()) for p in (old_lake / "_runs").glob("*.json")]
    manifest = next(m for m in manifests if m.get("kind") == "compaction")
    replaced = next(rel for rel in manifest["replaces"] if rel.startswith("articles/"))
    live = next(rel for rel in manifest["files"] if rel.startswith(replaced.rsplit("/", 1)[0]))
    shutil.copy(old_lake / live, old_lake / replaced)
    assert main(["migrate", "--output", str(old_lake)]) == 0
    assert answers(old_lake) == json.loads((FIXTURE / "expected.json").read_text())


def test_runs_continue_on_a_migrated_lake(old_lake: Path) -> None:
    assert main(["migrate", "--output", str(old_lake)]) == 0
    again = FIXTURE / "run2.jsonl"
    assert main(["run", "--input", str(again), "--output", str(old_lake), "--ner-model", "gazetteer"]) == 0
    con = lake_sql.connect(str(old_lake))
    assert con.execute("SELECT count(*) FROM articles").fetchall() == [(4,)], "seen state came across: no re-ingest"


def test_an_old_lake_is_refused_until_migrated(old_lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--input", str(FIXTURE / "run2.jsonl"), "--output", str(old_lake)]) == EXIT_FATAL
    assert "newsbeam migrate --output" in capsys.readouterr().err
    assert not (old_lake / "articles" / "_delta_log").exists()

"""A revision's commit (rewritten files added, superseded files removed) survives ``kill -9``.

Also: a lake written before the ``revisions`` table existed opens (the view is empty), and its
first revision of an article writes version 1 (the lake's row) before version 2.
The runs read ``--input`` JSONL with ``--refetch``: a page whose text changed at a known URL is a
revision whatever the feed says. The crashed run is a subprocess that SIGKILLs itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest
from deltalake import DeltaTable
from test_revisions import FIRST, OTHER, SECOND, page

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import main
from newsbeam.transforms.lake.crash import CRASH_ENV
from newsbeam.transforms.lake.delta import live_files
from newsbeam.transforms.lake.publish import recover

THIRD = (
    "The Kelby Island ferry will add a late sailing on Fridays from July, the operator said, after "
    "islanders asked for a way home from evening concerts on the mainland. The new sailing leaves the "
    "mainland pier at eleven and returns empty to the island, which the council agreed to subsidise."
)


def archive(path: Path, quay: str) -> Path:
    records = [
        ("https://gazette.example/quay", page("Northern quay to close", quay)),
        ("https://gazette.example/lambs", page("Valley asks for bridge", OTHER)),
        ("https://gazette.example/ferry", page("Late ferry on Fridays", THIRD)),
    ]
    path.write_text("".join(json.dumps({"url": url, "html": html}) + "\n" for url, html in records))
    return path


def newsbeam(source: Path, output: Path, crash_at: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "newsbeam", "run", "--input", str(source), "--output", str(output),
         "--refetch", "--ner-model", "gazetteer"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def in_process(source: Path, output: Path) -> None:
    args = ["run", "--input", str(source), "--output", str(output), "--refetch", "--ner-model", "gazetteer"]
    assert main(args) == 0


def snapshot(output: Path) -> dict[str, object]:
    con = lake_sql.connect(str(output))

    def rows(query: str) -> list[tuple[object, ...]]:
        return sorted(con.execute(query).fetchall())

    return {
        "articles": rows("SELECT article_id, content_hash, title FROM articles"),
        "article_rows": rows("SELECT count(*), count(DISTINCT article_id) FROM articles"),
        "entities": rows("SELECT entity, article_id, salience FROM entities"),
        "revisions": rows("SELECT article_id, version, text_hash, words_added, words_removed FROM revisions"),
        "files_in_tables": {name: len(paths) for name, paths in live_files(str(output)).items()},
        "files_on_disk": len(list(output.rglob("*.parquet"))),
    }


@pytest.fixture(scope="module")
def legacy_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    """A lake of run 1 without its ``revisions`` table (as written before it existed), the corrected
    archive, and the snapshot of that lake after the correction run went through without a crash."""
    root = tmp_path_factory.mktemp("revisions")
    lake = root / "legacy"
    in_process(archive(root / "v1.jsonl", FIRST), lake)
    shutil.rmtree(lake / "revisions")
    assert lake_sql.connect(str(lake)).execute("SELECT count(*) FROM revisions").fetchone() == (0,)
    corrected = archive(root / "v2.jsonl", SECOND)
    clean = root / "clean"
    shutil.copytree(lake, clean)
    in_process(corrected, clean)
    return lake, corrected, snapshot(clean)


def test_a_revision_of_an_article_older_than_the_revisions_table_starts_at_version_one(
    legacy_lake: tuple[Path, Path, dict[str, object]],
) -> None:
    _, _, after = legacy_lake
    assert after["article_rows"] == [(3, 3)]
    revisions = after["revisions"]
    assert [row[1] for row in revisions] in ([1, 2], [2, 1])  # type: ignore[union-attr]
    by_version = {row[1]: row for row in revisions}  # type: ignore[union-attr]
    assert by_version[1][0] == by_version[2][0]
    assert (by_version[2][3], by_version[2][4]) == (4, 4)
    assert by_version[1][4] == 0 and by_version[1][3] > 50
    hashes = {article_id: content_hash for article_id, content_hash, _ in after["articles"]}  # type: ignore[union-attr]
    assert hashes[by_version[2][0]] == by_version[2][2]


@pytest.mark.parametrize("point", ["before_publish", "after_journal", "mid_publish"])
def test_kill_9_during_a_revision_then_recovery_equals_no_crash(
    point: str, legacy_lake: tuple[Path, Path, dict[str, object]], tmp_path: Path
) -> None:
    lake, corrected, expected = legacy_lake
    output = tmp_path / "lake"
    shutil.copytree(lake, output)
    crashed = newsbeam(corrected, output, point)
    assert crashed.returncode == -9, f"expected SIGKILL at {point}: {crashed.stderr[-1500:]}"
    if point == "before_publish":
        recover(str(output))  # no journal: rolled back
        in_process(corrected, output)
    elif point == "after_journal":
        # Another writer (say ``newsbeam compact``, which takes no lock) rewrites the file that holds the
        # old version before the journal is committed: the commit must drop the row from the new file.
        articles = DeltaTable(str(output / "articles"))
        files_before = set(articles.file_uris())
        articles.update(updates={"title": "title"}, predicate="source IS NOT NULL")
        assert set(DeltaTable(str(output / "articles")).file_uris()).isdisjoint(files_before)
        recover(str(output))
        expected = {**expected, "files_on_disk": cast(int, expected["files_on_disk"]) + 1}
    else:
        recover(str(output))  # journal written, some tables committed: rolled forward
    recover(str(output))  # and again: nothing left to do, nothing committed twice
    assert snapshot(output) == expected

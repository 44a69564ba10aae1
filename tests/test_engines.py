"""Other engines read the lake: Spark with delta-spark and Polars (``make test-engines``).

The lake is built here, in the main venv: the demo site served on loopback and ingested twice
(the second run with ``--refetch`` adds commits, so there is an earlier version to travel to).
Spark and Polars are not in the main install: ``tests/engines_read.py`` runs in ``.venv-engines``
(``requirements-engines.lock``) as a subprocess and prints what they read, which is checked here
against DuckDB through ``newsbeam.pipeline.lake_sql`` and against the Delta log (deltalake).

Skipped, with the reason, when Java 17+, ``.venv-engines`` or the Delta jars are missing;
``make test-engines`` provides the last two.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.cli import main
from newsbeam.schemas.lake import TABLES

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ROOT / ".venv-engines"
ENGINES_PYTHON = ENGINES / "bin" / "python"
JARS = [ENGINES / "jars" / name for name in ("delta-spark_4.1_2.13-4.1.0.jar", "delta-storage-4.1.0.jar")]
READER = Path(__file__).with_name("engines_read.py")

CHECKED = ("articles", "entities", "duplicates", "dead_letter", "stories")
"""The tables compared, by ``schemas.lake`` name; DuckDB's view names are ``lake_sql.VIEWS``."""


def java() -> str | None:
    """The ``java`` Spark would start: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set (as pyspark does), else PATH's."""
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "java") if home else shutil.which("java")


def java_major(path: str) -> int | None:
    printed = subprocess.run([path, "-version"], capture_output=True, text=True, check=False).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', printed)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def missing() -> str | None:
    """Why the engines cannot run here, or None."""
    path = java()
    if not path or not os.path.exists(path):
        where = f" (JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java)" if os.environ.get("JAVA_HOME") else ""
        return f"Java is not installed{where}: Spark 4.1 needs Java 17+; install a JDK, then make test-engines"
    major = java_major(path)
    if major is None or major < 17:
        return f"{path} is Java {major or 'of unknown version'}; Spark 4.1 needs Java 17+"
    if not ENGINES_PYTHON.exists():
        return f"{ENGINES.name} is missing: make test-engines builds it from requirements-engines.lock"
    absent = [jar.name for jar in JARS if not jar.exists()]
    if absent:
        return f"Delta jars missing in {JARS[0].parent} ({', '.join(absent)}): run scripts/fetch_spark_jars.sh"
    return None


REASON = missing()
pytestmark = [pytest.mark.engines, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def run_demo(output: Path, *extra: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--output", str(output), *extra]) == 0


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("engines") / "lake"
    run_demo(output)
    run_demo(output, "--refetch")  # one more commit per table: versions 0 (create), 1, 2
    return output


@pytest.fixture(scope="module")
def first_run(lake: Path) -> str:
    records = [json.loads(path.read_text()) for path in (lake / "_runs").glob("*.json")]
    assert len(records) == 2
    return str(min(records, key=lambda record: record["sequence"])["run_id"])


def duck_counts(lake: Path, as_of: str | None = None) -> dict[str, int]:
    connection = lake_sql.connect(str(lake), as_of=as_of)
    return {
        name: connection.execute(f"SELECT count(*) FROM {lake_sql.VIEWS[name]}").fetchone()[0]  # type: ignore[index]
        for name in CHECKED
    }


@pytest.fixture(scope="module")
def top_entity(lake: Path) -> tuple[str, int]:
    """The entity with the most rows in ``entities`` and that count, by DuckDB."""
    query = "SELECT entity, count(*) AS n FROM entities GROUP BY entity ORDER BY n DESC, entity LIMIT 1"
    entity, rows = lake_sql.connect(str(lake)).execute(query).fetchone()  # type: ignore[misc]
    assert rows > 1
    return str(entity), int(rows)


@pytest.fixture(scope="module")
def read(lake: Path, first_run: str, top_entity: tuple[str, int]) -> dict[str, Any]:
    """What Spark and Polars read (one subprocess in .venv-engines: one Spark start)."""
    versions = lake_sql.run_versions(str(lake), first_run)
    spec = {
        "lake": str(lake),
        "tables": {name: TABLES[name].folder for name in CHECKED},
        "jars": [str(jar) for jar in JARS],
        "as_of": {name: versions[name] for name in CHECKED},
        "entity": top_entity[0],
    }
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    done = subprocess.run(
        [str(ENGINES_PYTHON), str(READER), json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{READER.name} failed:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"engines: {result['versions']}, seconds: {result['seconds']}", file=sys.stderr)
    return result


def test_spark_counts_equal_duckdb(read: dict[str, Any], lake: Path) -> None:
    expected = duck_counts(lake)
    assert read["spark"]["counts"] == expected
    assert all(expected[name] > 0 for name in CHECKED)


def test_spark_history_shows_every_commit(read: dict[str, Any], lake: Path) -> None:
    for name in CHECKED:
        log = DeltaTable(str(lake / TABLES[name].folder)).history()
        expected = sorted([entry["version"], entry["operation"]] for entry in log)
        assert read["spark"]["history"][name] == expected, name
        assert [version for version, _ in expected] == [0, 1, 2]
        assert expected[0][1] == "CREATE TABLE" and {operation for _, operation in expected[1:]} == {"WRITE"}


def test_spark_version_as_of_reads_the_first_run(read: dict[str, Any], lake: Path, first_run: str) -> None:
    earlier = duck_counts(lake, as_of=first_run)
    assert read["spark"]["as_of"] == earlier
    # The second run added rows, so the earlier version is really an earlier one.
    assert earlier["articles"] < read["spark"]["counts"]["articles"]
    assert earlier["duplicates"] < read["spark"]["counts"]["duplicates"]


def test_spark_sees_partition_columns_with_their_types(read: dict[str, Any], top_entity: tuple[str, int]) -> None:
    fields = read["spark"]["fields"]
    for name in CHECKED:
        for key in TABLES[name].partition_keys:
            assert fields[name][key] == ("date" if key == "date" else "string"), (name, key)
        assert set(fields[name]) == set(TABLES[name].schema.names) | set(TABLES[name].partition_keys), name
    # A filter on a partition column (the log's partition values pick the files) counts what DuckDB counts.
    assert read["spark"]["entity_rows"] == top_entity[1]


def test_polars_read_delta_counts_equal_duckdb(
    read: dict[str, Any], lake: Path, first_run: str, top_entity: tuple[str, int]
) -> None:
    polars = read["polars"]
    assert polars["counts"] == duck_counts(lake)
    assert polars["as_of"] == duck_counts(lake, as_of=first_run)
    assert polars["scan_entities"] == polars["counts"]["entities"]
    assert polars["entity_rows"] == top_entity[1]

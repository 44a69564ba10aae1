"""The same graph on Prism, Beam's portable runner: a real job server and SDK harness, the lake unchanged.

Prism is what `--runner PrismRunner` (and, later, ``newsbeam stream``) uses; it runs the same
portability API as Flink, Spark and Dataflow, so a graph that runs here is a portable graph.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PortableOptions, PrismRunnerOptions
from test_cli import write_archive

from newsbeam.pipeline import lake_sql, runners
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.run import run
from newsbeam.transforms.errors import ConfigError

needs_prism = pytest.mark.skipif(runners.prism_binary() is None, reason=runners.install_hint())


def snapshot(output: Path) -> dict[str, list[tuple[object, ...]]]:
    con = lake_sql.connect(str(output))
    queries = {
        "articles": "SELECT article_id, canonical_url, title, text_source, story_id, len(entities) FROM articles",
        "entities": "SELECT entity, CAST(date AS VARCHAR), article_id, round(salience, 9) FROM entities",
        "duplicates": "SELECT url, canonical_article_id, kind FROM duplicates",
        "dead_letters": "SELECT stage, input_id, reason FROM dead_letters",
        "seen": "SELECT canonical_url, article_id FROM seen",
        "stories": "SELECT story_id, article_count FROM stories",
    }
    return {name: sorted(con.execute(sql).fetchall()) for name, sql in queries.items()}


@needs_prism
def test_input_run_on_prism_writes_the_same_lake_as_in_process(tmp_path: Path) -> None:
    archive = tmp_path / "pages.jsonl"
    write_archive(archive)
    in_process = run(RunConfig(output=str(tmp_path / "fnapi"), input_pattern=str(archive)))
    on_prism = run(RunConfig(output=str(tmp_path / "prism"), input_pattern=str(archive)), ["--runner", "PrismRunner"])
    assert on_prism.counters.get("records") == in_process.counters.get("records") > 0
    expected = snapshot(tmp_path / "fnapi")
    assert len(expected["articles"]) >= 5 and expected["dead_letters"]
    assert snapshot(tmp_path / "prism") == expected


def test_portable_runners_get_the_local_binary_and_a_long_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runners.PRISM_ENV, sys.executable)  # any executable file stands in for the binary
    options = runners.pipeline_options(["--runner", "PrismRunner"])
    assert options.view_as(PrismRunnerOptions).prism_location == sys.executable
    assert options.view_as(PortableOptions).job_server_timeout == runners.PORTABLE_TIMEOUT > 300
    given = runners.pipeline_options(["--runner", "PrismRunner", "--job_server_timeout", "42"])
    assert given.view_as(PortableOptions).job_server_timeout == 42
    assert runners.pipeline_options([]).view_as(PortableOptions).job_server_timeout == 300, "in-process: untouched"


def test_missing_prism_says_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(runners.PRISM_ENV, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="make prism"):
        runners.pipeline_options(["--runner", "PrismRunner"])

"""Splitting a large --input into consecutive parts: every record once, identities kept."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from newsbeam.pipeline import lake_sql
from newsbeam.pipeline.config import RunConfig
from newsbeam.pipeline.parts import plan_parts
from newsbeam.pipeline.run import DEFAULT_PART_SIZE, part_size, pipeline_options, run
from newsbeam.transforms.errors import ConfigError
from newsbeam.transforms.read.jsonl import InputSlice, read_slice


def _records(parts: list[list[InputSlice]]) -> list[list[str]]:
    """Each part's records as ``name:line=text``, read back from the byte ranges."""
    out = []
    for part in parts:
        records = []
        for piece in part:
            lines = Path(piece.path).read_bytes()[piece.start : piece.end].decode().splitlines()
            records += [
                f"{Path(piece.path).name}:{piece.first_line + i}={line}" for i, line in enumerate(lines) if line
            ]
        out.append(records)
    return out


@pytest.fixture
def two_files(tmp_path: Path) -> str:
    (tmp_path / "a.jsonl").write_text("r1\n\nr2\nr3\n")
    (tmp_path / "b.jsonl").write_text("r4\nr5\n\n")
    return str(tmp_path / "*.jsonl")


def test_parts_hold_at_most_part_size_records_in_input_order(two_files: str) -> None:
    assert _records(plan_parts(two_files, 2)) == [
        ["a.jsonl:1=r1", "a.jsonl:3=r2"],
        ["a.jsonl:4=r3", "b.jsonl:1=r4"],
        ["b.jsonl:2=r5"],
    ]


def test_a_part_may_span_files_and_one_part_holds_a_small_input(two_files: str) -> None:
    assert _records(plan_parts(two_files, 3)) == [
        ["a.jsonl:1=r1", "a.jsonl:3=r2", "a.jsonl:4=r3"],
        ["b.jsonl:1=r4", "b.jsonl:2=r5"],
    ]
    assert len(plan_parts(two_files, 10)) == 1


def test_every_record_lands_in_exactly_one_part(tmp_path: Path) -> None:
    lines = [f'{{"n": {i}}}' if i % 7 else "" for i in range(1, 200)]
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    for size in (1, 5, 13, 1000):
        flat = [record for part in _records(plan_parts(str(tmp_path / "big.jsonl"), size)) for record in part]
        assert [r.split("=", 1)[1] for r in flat] == [line for line in lines if line]
        assert all(len(part) <= size for part in _records(plan_parts(str(tmp_path / "big.jsonl"), size)))


def test_a_pattern_matching_nothing_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="matches no file"):
        plan_parts(str(tmp_path / "none-*.jsonl"), 10)


def test_read_slice_yields_each_record_with_its_line_in_the_whole_file(two_files: str) -> None:
    read = [list(read_slice(piece)) for part in plan_parts(two_files, 2) for piece in part]
    flat = [(identity.rsplit("/", 1)[1], text) for lines in read for identity, text in lines]
    assert flat == [
        ("a.jsonl:1", "r1"),
        ("a.jsonl:3", "r2"),
        ("a.jsonl:4", "r3"),
        ("b.jsonl:1", "r4"),
        ("b.jsonl:2", "r5"),
    ]


def _text_records(path: Path) -> None:
    """Six distinct articles, an exact copy of the first (in a later part) and a broken line."""
    people = ["Kenya and Japan", "Canada and Mexico", "Chile and Peru", "Norway and Iceland", "Ghana and Togo", "Laos"]
    lines = [
        json.dumps(
            {
                "url": f"https://news.example.org/{i}",
                "published": f"2024-05-0{1 + i % 3}T08:00:00Z",
                "text": f"{who} signed an accord on fishing number {i}. Officials said quotas would be reviewed.",
            }
        )
        for i, who in enumerate(people)
    ]
    copy = json.loads(lines[0])
    copy["url"] = "https://mirror.example.net/copy"
    lines += [json.dumps(copy), "{not json"]
    path.write_text("\n".join(lines) + "\n")


def _lake(output: Path) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    con = lake_sql.connect(str(output))
    return (
        con.sql("SELECT url, date FROM articles ORDER BY url").fetchall(),
        con.sql("SELECT entity, date, count(*) FROM entities GROUP BY ALL ORDER BY ALL").fetchall(),
        con.sql("SELECT url, canonical_url, kind FROM duplicates ORDER BY url").fetchall(),
        con.sql("SELECT stage, input_id FROM dead_letters ORDER BY input_id").fetchall(),
    )


def test_a_split_run_writes_the_lake_a_whole_run_writes(tmp_path: Path) -> None:
    """Parts of 3 records: three publications, and the same articles, entities, copies and dead letters."""
    records = tmp_path / "records.jsonl"
    _text_records(records)
    whole = run(RunConfig(output=str(tmp_path / "whole"), input_pattern=str(records), ner_model="gazetteer"))
    split = run(
        RunConfig(output=str(tmp_path / "split"), input_pattern=str(records), ner_model="gazetteer", part_size=3)
    )
    assert len(whole.published) == 1 and len(split.published) == 3
    assert [Path(p.manifest_path).stem for p in split.published] == [f"{split.run_id}-p000{i}" for i in (1, 2, 3)]
    assert split.counters["records"] == whole.counters["records"] == 7
    assert [part.run_id for part in split.parts] == [Path(p.manifest_path).stem for p in split.published]
    assert sum(part.records for part in split.parts) == 7 and all(part.seconds > 0 for part in split.parts)
    assert "parts: 3 of up to 3 records" in split.summary() and "parts:" not in whole.summary()
    assert split.counters["dead_letters"] == whole.counters["dead_letters"] == 1
    whole_lake, split_lake = _lake(tmp_path / "whole"), _lake(tmp_path / "split")
    assert split_lake == whole_lake
    assert whole_lake[2] == [("https://mirror.example.net/copy", "https://news.example.org/0", "exact_text")]
    assert whole_lake[3][0][1].endswith("records.jsonl:8")  # the broken line keeps its place in the file
    assert len(whole_lake[0]) == 6


def test_part_size_defaults_to_the_in_process_runner_only(tmp_path: Path) -> None:
    config = RunConfig(output=str(tmp_path), input_pattern="x.jsonl")
    assert part_size(config, pipeline_options([])) == DEFAULT_PART_SIZE
    assert part_size(config, pipeline_options(["--runner", "DataflowRunner"])) == 0
    assert part_size(dataclasses.replace(config, part_size=0), pipeline_options([])) == 0

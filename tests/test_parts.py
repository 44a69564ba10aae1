"""Splitting a large --input into consecutive parts: every record once, identities kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.parts import InputSlice, plan_parts
from transforms.errors import ConfigError


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

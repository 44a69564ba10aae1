"""Split a large ``--input`` into parts that run one after another, so memory stays bounded.

Beam's in-process runner keeps each step's whole output in memory until the next step has
read it, so a batch's peak memory grows with its size (about 1 GB per 10k articles measured
here). A big input is therefore run as consecutive parts of at most ``part_size`` records.
Each part is an ordinary run with its own id (``<run_id>-p0002``), published on its own:
later parts see earlier parts as earlier runs, so URLs, copies and stories carry across them
the way they carry across scheduled runs, and a crash costs only the unfinished part.

Parts are byte ranges of the original files, so dead letters still name ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterator

from apache_beam.io.filesystems import FileSystems

from newsbeam.transforms.read.files import matching_files
from newsbeam.transforms.read.jsonl import InputSlice


def input_files(pattern: str) -> list[str]:
    """The files ``pattern`` matches, sorted; a pattern matching nothing is a configuration error."""
    return matching_files(pattern, "--input")


def _cuts(path: str, part_size: int, carried: int) -> Iterator[tuple[int, int, int]]:
    """``(byte offset, line number, records before it in this part)`` at every point a new part must start.

    ``carried`` is how many records the current part already holds from earlier files.
    """
    count, offset = carried, 0
    with FileSystems.open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                if count == part_size:
                    yield offset, number, count
                    count = 0
                count += 1
            offset += len(raw)
    yield offset, 0, count  # the end of the file: the records the open part holds


def plan_parts(pattern: str, part_size: int) -> list[list[InputSlice]]:
    """The input's non-blank lines as consecutive parts of at most ``part_size`` records each."""
    if part_size < 1:
        raise ValueError(f"part_size must be at least 1, got {part_size}")
    parts: list[list[InputSlice]] = [[]]
    carried = 0
    for path in input_files(pattern):
        start, first_line = 0, 1
        for offset, number, count in _cuts(path, part_size, carried):
            if number == 0:  # end of file: the open part continues into the next file
                if offset > start:
                    parts[-1].append(InputSlice(path, start, offset, first_line))
                carried = count
                break
            if offset > start:
                parts[-1].append(InputSlice(path, start, offset, first_line))
            parts.append([])
            start, first_line = offset, number
    return [part for part in parts if part]

"""Stage 1, input records: already-fetched pages from JSON Lines files (``--input``).

One JSON object a line: ``url`` (required), ``html`` or ``text``, and optional ``title``,
``published`` (ISO 8601), ``source``, ``feed_url``. A line that is not such a record becomes
a dead letter with stage ``read`` and identity ``<file>:<line>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from newsbeam.schemas.records import Page
from newsbeam.transforms.base import Stage, TaggedTransform, apply_stage, counter
from newsbeam.transforms.errors import InputRecordError

RawLine = tuple[str, str]  # (file:line, text)


@dataclass(frozen=True)
class InputSlice:
    """Lines ``[start, end)`` (byte offsets) of one input file; ``first_line`` numbers the first of them.

    A large input runs as consecutive parts (``pipeline.parts``), each a list of slices, so
    that every record keeps its ``file:line`` identity whichever part reads it.
    """

    path: str
    start: int
    end: int
    first_line: int


def parse_timestamp(value: Any, field: str) -> datetime | None:
    """ISO 8601 to an aware UTC datetime; naive times are taken as UTC."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InputRecordError(f"'{field}' must be an ISO 8601 string, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise InputRecordError(f"'{field}' is not ISO 8601 ({value!r}): {error}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _optional_str(record: dict[str, Any], field: str) -> str | None:
    value = record.get(field)
    if value is None or isinstance(value, str):
        return value or None
    raise InputRecordError(f"'{field}' must be a string, got {type(value).__name__}")


def parse_record(line: str, now: datetime) -> Page:
    """One JSONL line to a ``Page``; raises ``InputRecordError`` saying what to fix."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputRecordError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise InputRecordError(f"expected a JSON object, got {type(record).__name__}")
    url = record.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InputRecordError("missing or non-http(s) 'url': every record needs the page's URL")
    html, text = _optional_str(record, "html"), _optional_str(record, "text")
    if not html and not (text and text.strip()):
        raise InputRecordError(f"record for {url} has neither 'html' nor 'text'")
    return Page(
        url=url,
        fetched_url=url,
        fetched_at=parse_timestamp(record.get("fetched_at"), "fetched_at") or now,
        html=None if text else html,
        text=text,
        title=_optional_str(record, "title"),
        published=parse_timestamp(record.get("published"), "published"),
        source=_optional_str(record, "source"),
        feed_url=_optional_str(record, "feed_url"),
    )


def read_lines(readable: fileio.ReadableFile) -> Iterator[RawLine]:
    """Every non-blank line of one input file, with its ``path:line`` identity."""
    path = readable.metadata.path
    with readable.open() as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.decode("utf-8", errors="replace").strip()
            if line:
                yield f"{path}:{number}", line


def read_slice(piece: InputSlice) -> Iterator[RawLine]:
    """The non-blank lines of one slice, with their ``path:line`` identity in the whole file."""
    with FileSystems.open(piece.path) as handle:
        handle.seek(piece.start)
        position, number = piece.start, piece.first_line
        while position < piece.end:
            raw = handle.readline()
            if not raw:
                break
            position += len(raw)
            line = raw.decode("utf-8", errors="replace").strip()
            if line:
                yield f"{piece.path}:{number}", line
            number += 1


class ParseRecords(Stage):
    stage = "read"

    def input_id(self, element: Any) -> str:
        return str(element[0])

    def input_excerpt(self, element: Any) -> str:
        return str(element[1])

    def handle(self, element: RawLine) -> Iterator[Page]:
        page = parse_record(element[1], datetime.now(timezone.utc))
        counter("records").inc()
        yield page


class ReadInputPages(TaggedTransform):
    """A file pattern of JSONL in; ``main`` pages and ``dead_letter`` out.

    ``spread``: reshuffle the lines so that the work after reading one file spreads over the
    workers. Worth it only with several workers: in one in-process worker the reshuffle spreads
    nothing, it only holds (and copies) the whole input in memory before anything else runs.
    """

    def __init__(self, pattern: str, spread: bool = True, slices: Sequence[InputSlice] = ()) -> None:
        super().__init__()
        self.pattern = pattern
        self.spread = spread
        self.slices = tuple(slices)
        """When given, only these parts of the matched files are read (one part of a split input)."""

    def expand(self, pipeline: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        if self.slices:
            lines = pipeline | "InputSlices" >> beam.Create(self.slices) | "ReadLines" >> beam.FlatMap(read_slice)
        else:
            lines = (
                pipeline
                | "MatchInput" >> fileio.MatchFiles(self.pattern)
                | "OpenInput" >> fileio.ReadMatches()
                | "ReadLines" >> beam.FlatMap(read_lines)
            )
        if self.spread:
            lines = lines | "Spread" >> beam.Reshuffle()
        return apply_stage(lines, "ParseRecords", ParseRecords())

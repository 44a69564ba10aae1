"""``--input`` JSONL records: what is accepted, and the actionable reason for what is not."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsbeam.pipeline.graph import one_worker
from newsbeam.pipeline.run import pipeline_options
from newsbeam.transforms.base import DEAD_LETTER, MAIN
from newsbeam.transforms.errors import InputRecordError
from newsbeam.transforms.read.jsonl import ReadInputPages, parse_record

NOW = datetime(2024, 5, 3, tzinfo=timezone.utc)


def test_text_record_skips_html_and_keeps_fields() -> None:
    page = parse_record(
        '{"url": "https://e.org/a", "text": "Body", "html": "<p>x</p>", "title": "T",'
        ' "published": "2024-05-02T10:00:00+02:00", "source": "E", "feed_url": "https://e.org/f"}',
        NOW,
    )
    assert page.text == "Body" and page.html is None
    assert page.published == datetime(2024, 5, 2, 8, 0, tzinfo=timezone.utc)
    assert (page.title, page.source, page.feed_url, page.fetched_at) == ("T", "E", "https://e.org/f", NOW)


def test_naive_and_zulu_times_are_utc() -> None:
    assert parse_record(
        '{"url": "https://e.org/a", "html": "<p>x</p>", "published": "2024-05-02T10:00:00Z"}', NOW
    ).published == datetime(2024, 5, 2, 10, tzinfo=timezone.utc)
    assert parse_record(
        '{"url": "https://e.org/a", "html": "<p>x</p>", "published": "2024-05-02"}', NOW
    ).published == datetime(2024, 5, 2, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"html": "<p>x</p>"}', "'url'"),
        ('{"url": "ftp://e.org/a", "text": "x"}', "'url'"),
        ('{"url": "https://e.org/a"}', "neither 'html' nor 'text'"),
        ('{"url": "https://e.org/a", "text": "x", "published": "yesterday"}', "not ISO 8601"),
        ('{"url": "https://e.org/a", "text": 5}', "'text' must be a string"),
    ],
)
def test_bad_records_raise_with_a_reason(line: str, fragment: str) -> None:
    with pytest.raises(InputRecordError, match=fragment.replace("(", r"\(")):
        parse_record(line, NOW)


@pytest.mark.parametrize("spread", [True, False])
def test_input_pages_are_the_same_with_or_without_the_spreading_reshuffle(tmp_path: Path, spread: bool) -> None:
    path = tmp_path / "pages.jsonl"
    path.write_text('{"url": "https://e.org/a", "text": "A"}\n\nnot json\n{"url": "https://e.org/b", "text": "B"}\n')
    with TestPipeline(runner="FnApiRunner") as pipeline:
        pages = pipeline | ReadInputPages(str(path), spread=spread)
        assert_that(pages[MAIN] | beam.Map(lambda page: page.url), equal_to(["https://e.org/a", "https://e.org/b"]))
        letters = pages[DEAD_LETTER] | "Ids" >> beam.Map(lambda letter: letter.input_id)
        assert_that(letters, equal_to([f"{path}:3"]), label="dead letters")


@pytest.mark.parametrize(("args", "expected"), [([], True), (["--direct_num_workers=2"], False)])
def test_only_a_single_in_process_worker_skips_the_reshuffle(args: list[str], expected: bool) -> None:
    assert one_worker(beam.Pipeline(options=pipeline_options(args))) is expected

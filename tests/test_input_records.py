"""``--input`` JSONL records: what is accepted, and the actionable reason for what is not."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from transforms.errors import InputRecordError
from transforms.read.jsonl import parse_record

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

"""Poll scheduling: publisher hints parsed from real feed documents, HTTP cache headers, and the interval rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from newsbeam.transforms.read.feed_parser import ParsedFeed, parse_feed
from newsbeam.transforms.read.schedule import PollSignals, jittered, next_interval, signals_from

FEED_URL = "https://news.example.org/feeds/main.xml"
FETCHED_AT = datetime(2024, 1, 1, 12, 5, tzinfo=UTC)
SY = 'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
HOUR = 3600.0
DAY = 86400.0


def rss20(channel_extra: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {SY}><channel><title>T</title>'
        f"<link>https://t.example/</link>{channel_extra}"
        "<item><title>One</title><link>https://t.example/1</link></item></channel></rss>"
    ).encode()


def rss10(channel_extra: str) -> bytes:
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        f'xmlns="http://purl.org/rss/1.0/" {SY}><channel rdf:about="https://t.example/"><title>T</title>'
        f"<link>https://t.example/</link>{channel_extra}</channel>"
        '<item rdf:about="https://t.example/1"><title>One</title><link>https://t.example/1</link></item>'
        "</rdf:RDF>"
    ).encode()


def atom(*updated: str | None) -> bytes:
    entries = "".join(
        f'<entry><id>urn:e{i}</id><title>E{i}</title><link href="https://t.example/{i}"/>'
        + (f"<updated>{stamp}</updated>" if stamp else "")
        + "</entry>"
        for i, stamp in enumerate(updated)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>A</title><id>urn:feed</id><updated>2024-01-01T00:00:00Z</updated>{entries}</feed>"
    ).encode()


def parse(body: bytes) -> ParsedFeed:
    return parse_feed(body, feed_url=FEED_URL)


# --------------------------------------------------------------------------- publisher hints in the feed


def test_rss_ttl_minutes_become_seconds() -> None:
    parsed = parse(rss20("<ttl>30</ttl>"))
    assert parsed.format == "rss20"
    assert parsed.ttl_seconds == 1800.0
    assert parsed.update_seconds is None
    assert len(parsed.entries) == 1  # the existing behaviour is untouched


@pytest.mark.parametrize("ttl", ["soon", "-5", "", "nan", "inf"])
def test_unusable_ttl_is_ignored(ttl: str) -> None:
    assert parse(rss20(f"<ttl>{ttl}</ttl>")).ttl_seconds is None


@pytest.mark.parametrize(
    ("sy", "expected"),
    [
        ("<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>", HOUR / 4),
        ("<sy:updatePeriod> Daily </sy:updatePeriod>", DAY),
        ("<sy:updateFrequency>2</sy:updateFrequency>", DAY / 2),  # period defaults to daily
        ("<sy:updatePeriod>monthly</sy:updatePeriod><sy:updateFrequency>0</sy:updateFrequency>", 30 * DAY),
        ("<sy:updatePeriod>yearly</sy:updatePeriod><sy:updateFrequency>x</sy:updateFrequency>", 365 * DAY),
        ("<sy:updatePeriod>fortnightly</sy:updatePeriod>", None),
        ("", None),
    ],
)
def test_rss20_syndication_module(sy: str, expected: float | None) -> None:
    parsed = parse(rss20(sy))
    assert parsed.update_seconds == expected
    assert parsed.ttl_seconds is None


def test_rss10_syndication_module() -> None:
    parsed = parse(
        rss10(
            "<sy:updatePeriod>Weekly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>"
            "<sy:updateBase>2000-01-01T12:00+00:00</sy:updateBase>"
        )
    )
    assert parsed.format == "rss10"
    assert parsed.update_seconds == 7 * DAY / 2
    assert [e.link for e in parsed.entries] == ["https://t.example/1"]


def test_json_feed_has_no_hints() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "J",
            "items": [{"id": "1", "url": "https://t.example/1", "date_published": "2024-01-01T00:00:00Z"}],
        }
    ).encode()
    parsed = parse(body)
    assert parsed.format == "json11"
    assert (parsed.ttl_seconds, parsed.update_seconds) == (None, None)


# --------------------------------------------------------------------------- signals from a response


def test_observed_gap_is_the_median_of_distinct_entry_dates() -> None:
    # Newest first as feeds usually are; one duplicate date and one undated entry are left out,
    # so the gaps are 1 h and 2 h (median 1.5 h), not 0, 1 h, 2 h (median 1 h).
    parsed = parse(
        atom("2024-01-01T03:00:00Z", "2024-01-01T03:00:00Z", None, "2024-01-01T01:00:00Z", "2024-01-01T00:00:00Z")
    )
    assert parsed.format == "atom10"
    assert signals_from({}, FETCHED_AT, parsed).observed_gap == 1.5 * HOUR


@pytest.mark.parametrize("stamps", [(), ("2024-01-01T03:00:00Z",), ("2024-01-01T03:00:00Z", "2024-01-01T03:00:00Z")])
def test_observed_gap_needs_two_distinct_dates(stamps: tuple[str, ...]) -> None:
    body = atom(*stamps) if stamps else atom(None)
    assert signals_from({}, FETCHED_AT, parse(body)).observed_gap is None


def test_signals_carry_the_feed_hints() -> None:
    signals = signals_from({}, FETCHED_AT, parse(rss20("<ttl>15</ttl><sy:updatePeriod>hourly</sy:updatePeriod>")))
    assert signals == PollSignals(ttl=900.0, update_every=HOUR)


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        ("public, max-age=600", 600.0),
        ("s-maxage=300", 300.0),
        ("max-age=60, s-maxage=300", 60.0),
        ('max-age="120"', 120.0),
        ("MAX-AGE=90", 90.0),
        ("max-age=0", 0.0),
        ("no-cache, max-age=600", None),
        ("max-age=600, no-store", None),
        ("max-age=abc", None),
        ("max-age=-5", None),
        ("private", None),
    ],
)
def test_cache_control_max_age(cache_control: str, expected: float | None) -> None:
    assert signals_from({"cache-control": cache_control}, FETCHED_AT, None).max_age == expected


def test_expires_is_measured_from_the_date_header() -> None:
    headers = {"date": "Mon, 01 Jan 2024 12:00:00 GMT", "expires": "Mon, 01 Jan 2024 12:10:00 GMT"}
    assert signals_from(headers, FETCHED_AT, None).expires_in == 600.0  # not 300 (fetched_at is 12:05)


def test_expires_without_date_is_measured_from_the_fetch_time() -> None:
    headers = {"expires": "Mon, 01 Jan 2024 12:10:00 GMT"}
    assert signals_from(headers, FETCHED_AT, None).expires_in == 300.0
    naive = FETCHED_AT.replace(tzinfo=None)
    assert signals_from(headers, naive, None).expires_in == 300.0


@pytest.mark.parametrize("expires", ["Mon, 01 Jan 2024 11:00:00 GMT", "0", "-1", "tomorrow", ""])
def test_past_or_invalid_expires_is_ignored(expires: str) -> None:
    headers = {"date": "garbage", "expires": expires}
    assert signals_from(headers, FETCHED_AT, None).expires_in is None


def test_no_headers_and_no_feed_give_no_signals() -> None:
    assert signals_from({}, FETCHED_AT, None) == PollSignals(None, None, None, None, None)


# --------------------------------------------------------------------------- the interval rule


def poll(signals: PollSignals | None, failures: int = 0, retry_after: float | None = None) -> float:
    return next_interval(signals, min_interval=60.0, max_interval=DAY, failures=failures, retry_after=retry_after)


def test_never_polled_successfully_retries_at_min_interval() -> None:
    assert poll(None) == 60.0
    assert poll(None, failures=2) == 240.0
    assert poll(None, retry_after=30.0) == 60.0
    assert poll(None, retry_after=600.0) == 600.0


def test_half_the_observed_gap() -> None:
    assert poll(PollSignals(observed_gap=2 * HOUR)) == HOUR


def test_without_any_signal_poll_at_max_interval() -> None:
    assert poll(PollSignals()) == DAY


def test_publisher_hints_are_a_floor_and_the_largest_wins() -> None:
    signals = PollSignals(max_age=900.0, expires_in=120.0, ttl=1800.0, update_every=600.0, observed_gap=600.0)
    assert poll(signals) == 1800.0
    # A hint below our own estimate changes nothing.
    assert poll(PollSignals(max_age=60.0, observed_gap=4 * HOUR)) == 2 * HOUR


def test_clamped_to_the_limits() -> None:
    assert poll(PollSignals(observed_gap=10.0)) == 60.0
    assert poll(PollSignals(ttl=7 * DAY, observed_gap=HOUR)) == DAY


def test_failures_back_off_exponentially_up_to_max_interval() -> None:
    signals = PollSignals(observed_gap=HOUR)
    assert [poll(signals, failures=n) for n in range(4)] == [1800.0, 3600.0, 7200.0, 14400.0]
    assert poll(signals, failures=10) == DAY
    assert poll(signals, failures=100_000) == DAY  # no float overflow


def test_retry_after_is_honoured_even_above_max_interval() -> None:
    signals = PollSignals(observed_gap=HOUR)
    assert poll(signals, retry_after=2 * DAY) == 2 * DAY
    assert poll(signals, failures=1, retry_after=10.0) == HOUR  # a floor, not a replacement
    assert poll(PollSignals(observed_gap=10.0), retry_after=5.0) == 60.0


@pytest.mark.parametrize(
    ("min_interval", "max_interval", "failures"),
    [(600.0, 60.0, 0), (-1.0, 60.0, 0), (60.0, DAY, -1)],
)
def test_bad_arguments_are_rejected(min_interval: float, max_interval: float, failures: int) -> None:
    with pytest.raises(ValueError):
        next_interval(PollSignals(), min_interval=min_interval, max_interval=max_interval, failures=failures)


def test_end_to_end_from_a_response() -> None:
    body = atom("2024-01-01T02:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T00:00:00Z")
    signals = signals_from({"cache-control": "max-age=2400"}, FETCHED_AT, parse(body))
    assert signals.observed_gap == HOUR
    assert poll(signals) == 2400.0  # half the gap is 1800, but the cache lasts 2400


# --------------------------------------------------------------------------- jitter


def test_jitter_is_deterministic_and_within_ten_percent() -> None:
    keys = [f"https://feeds.example/{i}.xml" for i in range(2000)]
    values = [jittered(1000.0, key) for key in keys]
    assert values == [jittered(1000.0, key) for key in keys]
    assert all(900.0 <= v <= 1100.0 for v in values)
    # Spread evenly over the band, not bunched: each tenth of it holds about a tenth of the feeds.
    buckets = [0] * 10
    for v in values:
        buckets[min(int((v - 900.0) / 20.0), 9)] += 1
    assert all(150 <= count <= 250 for count in buckets), buckets


def test_jitter_depends_on_the_key_and_scales_with_the_interval() -> None:
    a, b = jittered(1000.0, "https://a.example/feed"), jittered(1000.0, "https://b.example/feed")
    assert a != b
    assert jittered(2000.0, "https://a.example/feed") == pytest.approx(2 * a)

"""How long to wait before polling a feed again, decided from the feed's own signals: pure, no I/O.

A streaming pipeline that polls every feed at one fixed rate either hammers slow feeds or
misses news on fast ones, so each feed gets its own interval. The rule of ``next_interval``:

1. ``base`` = half the median gap between the feed's entries (``observed_gap / 2``), so a
   new entry waits on average a quarter of a gap; without that, ``max_interval``.
2. The publisher's hints (Cache-Control ``max-age``, ``Expires``, RSS ``<ttl>``,
   ``sy:updatePeriod``) are a floor: we poll no sooner than the largest of them, because
   polling a cached document sooner only refetches the cache (and the publisher asked).
3. The result is clamped to ``[min_interval, max_interval]``.
4. After ``failures`` consecutive failures it is multiplied by ``2**failures``, capped at
   ``max_interval``, so a dead feed costs little but is still retried.
5. A ``retry_after`` (HTTP ``Retry-After``) is a floor honoured even above ``max_interval``:
   the server asked. Nothing is ever below ``min_interval``.

A feed never polled successfully (``signals`` is None) is retried at ``min_interval``,
subject to steps 4 and 5. ``jittered`` then spreads feeds sharing an interval over time.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import pairwise

from newsbeam.transforms.read.feed_parser import ParsedFeed

__all__ = ["PollSignals", "jittered", "next_interval", "signals_from"]

MAX_BACKOFF_EXPONENT = 32
"""``2**32`` already exceeds any sane ``max_interval / min_interval``; bounding it avoids float overflow."""

JITTER = 0.1
"""``jittered`` scales by a factor in ``[1 - JITTER, 1 + JITTER]``."""


@dataclass(frozen=True)
class PollSignals:
    """Everything one successful fetch told us about a feed's pace, in seconds (None = unknown)."""

    max_age: float | None = None
    """Cache-Control ``max-age`` (else ``s-maxage``); None with ``no-cache``/``no-store``."""
    expires_in: float | None = None
    """``Expires`` minus the response ``Date`` (else the fetch time); None if past or invalid."""
    ttl: float | None = None
    """RSS ``<ttl>``, converted to seconds."""
    update_every: float | None = None
    """``sy:updatePeriod`` / ``sy:updateFrequency``."""
    observed_gap: float | None = None
    """Median gap between consecutive distinct entry dates; None with fewer than 2 dated entries."""

    def hints(self) -> tuple[float, ...]:
        """The publisher's own hints that are known and usable."""
        values = (self.max_age, self.expires_in, self.ttl, self.update_every)
        return tuple(v for v in values if v is not None and math.isfinite(v) and v >= 0)


def signals_from(headers: Mapping[str, str], fetched_at: datetime, parsed: ParsedFeed | None) -> PollSignals:
    """Collect the pace signals of one response; ``headers`` have lower-case names (``HttpResponse.headers``)."""
    return PollSignals(
        max_age=_max_age(headers.get("cache-control", "")),
        expires_in=_expires_in(headers, fetched_at),
        ttl=parsed.ttl_seconds if parsed is not None else None,
        update_every=parsed.update_seconds if parsed is not None else None,
        observed_gap=_observed_gap(parsed) if parsed is not None else None,
    )


def next_interval(
    signals: PollSignals | None,
    *,
    min_interval: float,
    max_interval: float,
    failures: int = 0,
    retry_after: float | None = None,
) -> float:
    """Seconds until the next poll of a feed; see the module docstring for the rule."""
    if not 0 <= min_interval <= max_interval:
        raise ValueError(f"need 0 <= min_interval <= max_interval, got {min_interval} and {max_interval}")
    if failures < 0:
        raise ValueError(f"failures must be >= 0, got {failures}")
    if signals is None:
        interval = min_interval
    else:
        gap = signals.observed_gap
        interval = gap / 2 if gap is not None and math.isfinite(gap) and gap > 0 else max_interval
        interval = max((interval, *signals.hints()))
        interval = min(max(interval, min_interval), max_interval)
    if failures:
        interval = min(interval * 2.0 ** min(failures, MAX_BACKOFF_EXPONENT), max_interval)
    if retry_after is not None and math.isfinite(retry_after):
        interval = max(interval, retry_after)
    return max(interval, min_interval)


def jittered(interval: float, key: str) -> float:
    """``interval`` scaled by a factor in [0.9, 1.1] fixed by ``key`` (e.g. the feed URL).

    Feeds sharing one interval would otherwise all poll in the same second; a hash, not a
    random number, keeps each feed's slot stable across workers and restarts (and tests).
    """
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / float(2**64 - 1)
    return interval * (1.0 - JITTER + 2 * JITTER * fraction)


def _max_age(cache_control: str) -> float | None:
    """``max-age``, else ``s-maxage`` (what a CDN in front of the feed honours)."""
    directives: dict[str, str] = {}
    for part in cache_control.split(","):
        name, _, value = part.partition("=")
        directives.setdefault(name.strip().lower(), value.strip().strip('"'))
    if "no-cache" in directives or "no-store" in directives:
        return None
    for name in ("max-age", "s-maxage"):
        value = directives.get(name, "")
        if value.isdigit():  # RFC 9111 delta-seconds: digits only, so no sign, no fraction
            return float(value)
    return None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _expires_in(headers: Mapping[str, str], fetched_at: datetime) -> float | None:
    """Measured against the server's ``Date`` when it sent one, so our clock skew does not count."""
    expires = _http_date(headers.get("expires"))
    if expires is None:
        return None
    now = _http_date(headers.get("date"))
    if now is None:
        now = fetched_at if fetched_at.tzinfo is not None else fetched_at.replace(tzinfo=UTC)
    seconds = (expires - now).total_seconds()
    return seconds if seconds > 0 else None


def _observed_gap(parsed: ParsedFeed) -> float | None:
    """The median resists one backfilled or long-quiet stretch that a mean would follow."""
    times = sorted({entry.published for entry in parsed.entries if entry.published is not None})
    if len(times) < 2:
        return None
    return statistics.median((later - earlier).total_seconds() for earlier, later in pairwise(times))

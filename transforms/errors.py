"""The one exception tree of newsbeam.

Every failure a stage expects raises a ``NewsbeamError`` subclass whose ``reason`` is a
sentence a person can act on. Stages never swallow errors themselves: the stage base
class (``transforms.base.Stage``) turns them into dead letters, so the run goes on and
nothing vanishes.

::

    NewsbeamError
    ├── ConfigError            bad feed list, options or output (fatal: the run does not start)
    │   └── LockHeldError          another run holds the lake's lock (fatal)
    ├── InputRecordError       an --input JSONL line that is not a usable record
    ├── FetchError             anything that stopped us getting a usable HTTP response
    │   ├── BlockedURLError        not http(s), or otherwise refused before connecting
    │   │   └── BlockedAddressError    the host resolves to a loopback/private/link-local/... address (SSRF guard)
    │   ├── RobotsDisallowed       robots.txt forbids the page, or could not be fetched (RFC 9309: assume disallow)
    │   ├── HostBudgetExceeded     the host used up its time budget for this run (``host_budget``)
    │   ├── FetchTimeout           connect/read/total timeout
    │   ├── ConnectError           DNS, refused, reset, truncated body
    │   ├── HTTPStatusError        4xx/5xx after redirects (``status``, ``retry_after``)
    │   ├── TooManyRedirects       redirect cap exceeded or a loop
    │   ├── ResponseTooLarge       body over the size cap
    │   └── UnsupportedContent     content type we cannot parse (e.g. a PDF where HTML was expected)
    ├── FeedParseError         the body is not a feed we can read
    └── ExtractError           cleaning produced no usable text
"""

from __future__ import annotations


class NewsbeamError(Exception):
    """Base of every error newsbeam raises on purpose."""

    #: Short machine-friendly reason code, used as a dead-letter column value prefix.
    code = "error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(NewsbeamError):
    """The run cannot start: fix the command line, feed list or output location."""

    code = "config"


class LockHeldError(ConfigError):
    """Another run holds the lake's lock; the reason names it and says what to do."""

    code = "lock_held"


class InputRecordError(NewsbeamError):
    """One ``--input`` record is unusable (bad JSON, no ``url``, neither ``html`` nor ``text``)."""

    code = "bad_record"


class FetchError(NewsbeamError):
    """We could not get a usable HTTP response for a URL."""

    code = "fetch"


class BlockedURLError(FetchError):
    code = "blocked_url"


class BlockedAddressError(BlockedURLError):
    """The host resolves only to addresses newsbeam refuses (a feed link must not reach our own network)."""

    code = "blocked_address"


class RobotsDisallowed(FetchError):
    """The site's robots.txt forbids the page for our user agent (or was unreachable, so we assume it does)."""

    code = "robots"


class HostBudgetExceeded(FetchError):
    """The host already took its share of this run's time; its remaining URLs wait for the next run."""

    code = "host_budget"


class FetchTimeout(FetchError):
    code = "timeout"


class ConnectError(FetchError):
    code = "connect"


class HTTPStatusError(FetchError):
    code = "http_status"

    def __init__(self, reason: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        #: Seconds the server asked us to wait (``Retry-After`` on 429/503), if it said so.
        self.retry_after = retry_after


class TooManyRedirects(FetchError):
    code = "redirects"


class ResponseTooLarge(FetchError):
    code = "too_large"


class UnsupportedContent(FetchError):
    code = "content_type"


class FeedParseError(NewsbeamError):
    """The document is not a feed we can read, or has no entries we can use."""

    code = "feed_parse"


class ExtractError(NewsbeamError):
    """Cleaning the page produced no usable text and there was nothing to fall back to."""

    code = "no_text"

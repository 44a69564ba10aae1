"""The one exception tree of newsbeam.

Every failure a stage expects raises a ``NewsbeamError`` subclass whose ``reason`` is a
sentence a person can act on. Stages never swallow errors themselves: the stage base
class (``transforms.base.Stage``) turns them into dead letters, so the run goes on and
nothing vanishes.

::

    NewsbeamError
    ├── ConfigError            bad feed list, options or output (fatal: the run does not start)
    ├── InputRecordError       an --input JSONL line that is not a usable record
    ├── FetchError             anything that stopped us getting a usable HTTP response
    │   ├── BlockedURLError        not http(s), or otherwise refused before connecting
    │   ├── FetchTimeout           connect/read timeout
    │   ├── ConnectError           DNS, refused, reset
    │   ├── HTTPStatusError        4xx/5xx after redirects (``status``)
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


class InputRecordError(NewsbeamError):
    """One ``--input`` record is unusable (bad JSON, no ``url``, neither ``html`` nor ``text``)."""

    code = "bad_record"


class FetchError(NewsbeamError):
    """We could not get a usable HTTP response for a URL."""

    code = "fetch"


class BlockedURLError(FetchError):
    code = "blocked_url"


class FetchTimeout(FetchError):
    code = "timeout"


class ConnectError(FetchError):
    code = "connect"


class HTTPStatusError(FetchError):
    code = "http_status"

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


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

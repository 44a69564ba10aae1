"""The HTTP layer of stage ``fetch``: one injectable client interface and its httpx implementation.

Stages depend on the ``HttpClient`` protocol and take a factory, so tests and users can
inject another client. ``HttpxClient`` enforces every limit itself (redirect cap and
scheme check per hop, the SSRF guard on every connection, body size after decompression,
a total deadline) because a news crawler meets every kind of broken or hostile server, and
each failure must end as a ``FetchError`` whose reason a person can act on, never as a
hang or an out-of-memory kill. One ``get`` is one attempt: retries, per-host pacing, time
budgets and robots.txt are the job of ``politeness.PoliteClient``, which wraps any client.
"""

from __future__ import annotations

import math
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Protocol

import httpx

from newsbeam.transforms.errors import (
    BlockedAddressError,
    BlockedURLError,
    ConfigError,
    ConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    TooManyRedirects,
    UnsupportedContent,
)
from newsbeam.transforms.fetch.netguard import GuardedBackend, GuardedTransport, parse_networks

ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT_ENCODING = "gzip, deflate"
"""Only what we decode ourselves under the size cap (no br/zstd even if installed)."""


DEFAULT_USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam)"


def _header_safe(value: str) -> bool:
    """Printable ASCII only: anything else could split or corrupt the request's header block."""
    return value.isascii() and value.isprintable()


@dataclass(frozen=True)
class HttpConfig:
    """Limits of one HTTP client; every one is enforced, none is advisory."""

    connect_timeout: float = 5.0
    """Seconds to open the TCP (and TLS) connection."""
    read_timeout: float = 15.0
    """Seconds without a single byte arriving before we give up."""
    total_timeout: float = 30.0
    """Seconds for the whole request, all redirects and the body included."""
    max_redirects: int = 5
    max_bytes: int = 10 * 1024 * 1024
    """Cap on the (decompressed) body."""
    user_agent: str = DEFAULT_USER_AGENT
    """Starts with the product token robots.txt groups are matched against (``newsbeam``)."""
    contact: str | None = None
    """E-mail or URL where site owners can reach the operator; added to the User-Agent (see ``user_agent_header``)."""
    max_workers: int = 16
    """Total concurrent requests (used by ``fetch_many`` callers)."""
    per_host: int = 4
    """Concurrent requests per host name, to stay polite."""
    min_delay: float = 0.5
    """Seconds between the starts of two requests to one host (at most 2 per second); Crawl-delay can raise it."""
    retries: int = 2
    """Extra attempts after a timeout, connection error, 5xx or 429 (so 3 attempts by default)."""
    backoff_base: float = 1.0
    """First retry waits this long (plus jitter), doubling each time."""
    backoff_max: float = 30.0
    """Longest wait before a retry; a Retry-After asking for more is not retried this run."""
    host_budget: float = 120.0
    """Seconds one host may keep this worker busy per run (its requests, waits and retries); then its
    remaining URLs fail at once, so one slow or rate-limiting site cannot stall the run."""
    host_budget_period: float | None = None
    """Seconds after which every host's budget starts over; None: the client's life (a batch run).
    A stream sets it, or a host that once used its budget would be refused for good."""
    obey_robots: bool = True
    """Check robots.txt (and its Crawl-delay) before fetching article pages."""
    tdmrep: bool = True
    """Read each site's ``/.well-known/tdmrep.json`` once (TDM reservation of its pages, ``fetch/tdmrep.py``)."""
    allow_private_networks: bool = False
    """Let URLs reach loopback, private, link-local, ... addresses (tests and the demo serve on 127.0.0.1)."""
    allowed_networks: tuple[str, ...] = ()
    """CIDR blocks exempt from the SSRF guard (e.g. an internal mirror), narrower than allowing every network."""

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout", "host_budget"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"HTTP {name} must be a positive number of seconds, got {getattr(self, name)}")
        for name in ("min_delay", "backoff_base", "backoff_max"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"HTTP {name} must be 0 or more seconds, got {value}")
        if self.backoff_max < self.backoff_base:
            raise ConfigError(
                f"HTTP backoff_max ({self.backoff_max}) must not be less than backoff_base ({self.backoff_base})"
            )
        for name in ("max_bytes", "max_workers", "per_host"):
            if getattr(self, name) < 1:
                raise ConfigError(f"HTTP {name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_redirects", "retries"):
            if getattr(self, name) < 0:
                raise ConfigError(f"HTTP {name} must be 0 or more, got {getattr(self, name)}")
        if not self.user_agent.strip() or not _header_safe(self.user_agent):
            raise ConfigError(f"HTTP user_agent must be non-empty printable ASCII, got {self.user_agent!r}")
        if self.contact is not None and (
            not self.contact.strip() or not _header_safe(self.contact) or set(self.contact) & set("();")
        ):
            raise ConfigError(
                f"HTTP contact must be an e-mail address or URL in printable ASCII without ( ) ;, got {self.contact!r}"
            )
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))  # a list from a CLI stays hashable
        try:
            parse_networks(self.allowed_networks)
        except ValueError as error:
            raise ConfigError(f"HTTP allowed_networks must be CIDR blocks such as 10.1.2.0/24: {error}") from error

    @property
    def user_agent_header(self) -> str:
        """The User-Agent sent: ``user_agent`` with ``contact: ...`` inside its trailing comment, if any."""
        if not self.contact:
            return self.user_agent
        if self.user_agent.endswith(")"):
            return f"{self.user_agent[:-1]}; contact: {self.contact})"
        return f"{self.user_agent} (contact: {self.contact})"

    @property
    def robots_agent(self) -> str:
        """Our product token (``newsbeam``): what robots.txt ``User-agent`` lines are matched against."""
        token = re.match(r"[A-Za-z0-9_-]+", self.user_agent.strip())
        return token.group(0).lower() if token else "*"


@dataclass(frozen=True)
class HttpResponse:
    """A usable response (status < 400) with its whole, decompressed body.

    ``304 Not Modified`` (after ``etag``/``last_modified`` were sent) is one too, with an empty
    body: the page has not changed since the last run, so there is nothing to parse.
    """

    requested_url: str
    url: str
    """Final URL, after redirects."""
    status: int
    headers: dict[str, str] = field(hash=False)
    """Lower-case names; repeated headers joined with ", " (``content-encoding`` is the server's)."""
    body: bytes
    fetched_at: datetime
    """UTC time the final response's headers arrived."""
    elapsed_ms: int | None = field(default=None, compare=False)
    """From the first request to the whole body read, redirects included (politeness waits excluded)."""

    @property
    def content_type(self) -> str | None:
        """Media type without parameters, lower-cased (``text/html``), or None if not sent."""
        value = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return value or None

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional request: keep what the last run stored."""
        return self.status == 304

    @property
    def etag(self) -> str | None:
        """The ``ETag`` validator, to send back as ``etag`` (If-None-Match) next run."""
        return self.headers.get("etag") or None

    @property
    def last_modified(self) -> str | None:
        """The ``Last-Modified`` validator, to send back as ``last_modified`` (If-Modified-Since) next run."""
        return self.headers.get("last-modified") or None

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of Content-Type, lower-cased, or None if not declared."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip("\"'").strip().lower() or None
        return None


class HttpClient(Protocol):
    """What stages need from an HTTP client; inject another implementation in tests or runs."""

    def get(
        self, url: str, *, accept: str | None = None, etag: str | None = None, last_modified: str | None = None
    ) -> HttpResponse:
        """GET ``url`` following redirects; raise a ``FetchError`` subclass on any failure.

        ``accept`` is sent as the Accept header; it is not enforced, the caller checks
        ``content_type`` (servers mislabel feeds and pages too often to refuse early).
        ``etag`` and ``last_modified`` (validators from the last run) make the request
        conditional: an unchanged resource comes back as a 304 ``HttpResponse``, not an error.
        """
        ...

    def close(self) -> None:
        """Release connections; the client may not be used afterwards."""
        ...


HttpClientFactory = Callable[[HttpConfig], HttpClient]
"""How stages build their client in ``DoFn.setup()``; ``HttpxClient`` itself is one."""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class _BodyDecoder:
    """Content-Encoding decoder that never produces more than it is asked for (bombs stay small)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._deflate_probe = encoding == "deflate"
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._zlib: Any = zlib.decompressobj(wbits) if encoding != "identity" else None

    def decode(self, data: bytes, limit: int) -> bytes:
        """Decode ``data``, returning at most ``limit`` bytes; the rest stays pending."""
        if self._zlib is None:
            return data
        if self._deflate_probe:
            # "deflate" is zlib-wrapped by the RFC but raw deflate on many servers.
            self._deflate_probe = False
            try:
                return bytes(self._zlib.decompress(data, limit))
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._zlib.decompress(data, limit))

    @property
    def pending(self) -> bytes:
        """Input not yet decoded because the last call hit its limit."""
        return b"" if self._zlib is None else bytes(self._zlib.unconsumed_tail)

    def flush(self) -> bytes:
        return b"" if self._zlib is None else bytes(self._zlib.flush())


class HttpxClient:
    """``HttpClient`` on a sync ``httpx.Client``; thread-safe, picklable, connects lazily.

    Pickles as its config alone, so a Beam DoFn can hold (or pickle) one, and opens
    connections only when used, on its worker. The httpx client itself (TLS context
    included, ~50 ms) is built at once, so the first request does not leave late for the
    slot the per-host pacing gave it. Redirects are followed by hand so the cap, loop
    detection, scheme check and SSRF guard apply to every hop.
    """

    def __init__(self, config: HttpConfig | None = None) -> None:
        self.config = config or HttpConfig()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._http()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.config = state["config"]
        self._lock = threading.Lock()
        self._client = None
        self._http()

    def __enter__(self) -> HttpxClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections; safe to call twice."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                limits = httpx.Limits(
                    max_connections=self.config.max_workers,
                    max_keepalive_connections=self.config.max_workers,
                )
                backend = GuardedBackend(
                    allow_private=self.config.allow_private_networks,
                    exempt=parse_networks(self.config.allowed_networks),
                )
                self._client = httpx.Client(
                    follow_redirects=False,
                    transport=GuardedTransport(limits, backend),
                    headers={"User-Agent": self.config.user_agent_header, "Accept-Encoding": ACCEPT_ENCODING},
                )
            return self._client

    def get(
        self, url: str, *, accept: str | None = None, etag: str | None = None, last_modified: str | None = None
    ) -> HttpResponse:
        """GET ``url`` within every configured limit; raise a ``FetchError`` subclass on failure."""
        cfg = self.config
        started = time.monotonic()
        deadline = started + cfg.total_timeout
        headers = {"Accept": accept} if accept else {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = _checked_url(url, url, 0)
        seen = {_without_fragment(current)}
        redirects = 0
        client = self._http()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchTimeout(
                    f"gave up on {url} after {cfg.total_timeout:g} s total (total_timeout) "
                    f"while following {_plural(redirects, 'redirect')}; the site is too slow"
                )
            timeout = httpx.Timeout(
                connect=min(cfg.connect_timeout, remaining),
                read=min(cfg.read_timeout, remaining),
                write=min(cfg.read_timeout, remaining),
                pool=remaining,
            )
            try:
                request = client.build_request("GET", current, headers=headers, timeout=timeout)
                response = client.send(request, stream=True)
            except httpx.HTTPError as error:
                raise _mapped(error, current, url, cfg, deadline) from error
            except BlockedAddressError as error:
                via = f" (requested {url}, after {_plural(redirects, 'redirect')})" if redirects else ""
                raise BlockedAddressError(f"refused {current}{via}: {error.reason}") from None
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    target = _redirect_target(response.url, location, url, redirects)
                    key = _without_fragment(target)
                    if key in seen:
                        raise TooManyRedirects(
                            f"redirect loop: {current} redirects back to already visited {target} "
                            f"(started at {url}); the site is misconfigured, try again later"
                        )
                    if redirects >= cfg.max_redirects:
                        raise TooManyRedirects(
                            f"more than {_plural(cfg.max_redirects, 'redirect')} starting at {url} "
                            f"(next hop: {current} -> {target}); use the final URL or raise max_redirects"
                        )
                    seen.add(key)
                    redirects += 1
                    current = target
                    continue
                if response.status_code >= 400:
                    raise _status_error(response, url, redirects)
                if response.status_code in REDIRECT_STATUSES:
                    raise HTTPStatusError(
                        f"HTTP {response.status_code} redirect without a Location header from "
                        f"{current} (requested {url}); the server is broken",
                        response.status_code,
                    )
                fetched_at = datetime.now(UTC)
                # A 304 has no body by definition; nothing to decode or parse. Reading the empty stream
                # still matters: an unread response is closed with its connection, and a stream of
                # polls that mostly answer 304 would open a new TCP connection for every one.
                if response.status_code == 304:
                    response.read()
                    body = b""
                else:
                    body = _read_body(response, url, cfg, deadline)
            except httpx.HTTPError as error:
                raise _mapped(error, current, url, cfg, deadline) from error
            finally:
                response.close()
            return _response(url, response, body, fetched_at, started)

    def post_form(self, url: str, fields: dict[str, str]) -> HttpResponse:
        """POST ``fields`` form-encoded to ``url`` (a WebSub hub): one attempt, no redirects followed.

        The same guards as ``get``: scheme check, the SSRF guard on the connection, timeouts and
        the body cap; any status >= 300 is an ``HTTPStatusError`` (a hub answers 202 Accepted).
        """
        cfg = self.config
        started = time.monotonic()
        deadline = started + cfg.total_timeout
        target = _checked_url(url, url, 0)
        timeout = httpx.Timeout(connect=cfg.connect_timeout, read=cfg.read_timeout, write=cfg.read_timeout, pool=5.0)
        client = self._http()
        try:
            response = client.send(client.build_request("POST", target, data=fields, timeout=timeout), stream=True)
        except httpx.HTTPError as error:
            raise _mapped(error, target, url, cfg, deadline) from error
        except BlockedAddressError as error:
            raise BlockedAddressError(f"refused {target}: {error.reason}") from None
        try:
            if response.status_code >= 300:
                raise _status_error(response, url, 0)
            body = _read_body(response, url, cfg, deadline)
        except httpx.HTTPError as error:
            raise _mapped(error, target, url, cfg, deadline) from error
        finally:
            response.close()
        return _response(url, response, body, datetime.now(UTC), started)


def _response(
    requested: str, response: httpx.Response, body: bytes, fetched_at: datetime, started: float
) -> HttpResponse:
    """What ``get`` and ``post_form`` return: the final URL, status, lower-cased headers and timing."""
    return HttpResponse(
        requested_url=requested,
        url=str(response.url),
        status=response.status_code,
        headers={name.lower(): value for name, value in response.headers.items()},
        body=body,
        fetched_at=fetched_at,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _checked_url(candidate: str, requested: str, redirects: int, shown: str | None = None) -> str:
    """``candidate`` as an absolute http(s) URL, or ``BlockedURLError`` before any connection.

    ``shown`` is how the URL appears in the reason (a redirect's raw Location).
    """
    shown = shown or candidate
    via = f" (redirected from {requested})" if redirects else ""
    try:
        parsed = httpx.URL(candidate)
    except httpx.InvalidURL as error:
        raise BlockedURLError(f"{shown!r} is not a valid URL{via}: {error}; fix the link") from error
    if parsed.scheme not in ALLOWED_SCHEMES:
        scheme = f"the {parsed.scheme}: scheme" if parsed.scheme else "a URL without a scheme"
        raise BlockedURLError(f"refused {shown}{via}: {scheme} is not allowed, only absolute http(s) URLs are fetched")
    if not parsed.host:
        raise BlockedURLError(f"refused {shown}{via}: the URL has no host name; fix the link")
    return str(parsed)


def _redirect_target(base: httpx.URL, location: str, requested: str, redirects: int) -> str:
    location = location.strip()
    try:
        target = str(base.join(location))
    except httpx.InvalidURL as error:
        raise BlockedURLError(
            f"{base} redirects to an invalid Location {location!r} (requested {requested}): {error}"
        ) from error
    return _checked_url(target, requested, redirects + 1, shown=location)


def _status_error(response: httpx.Response, requested: str, redirects: int) -> HTTPStatusError:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = response.reason_phrase or "error"
    where = str(response.url)
    if redirects:
        where += f" (requested {requested}, after {_plural(redirects, 'redirect')})"
    hint = ""
    retry_after = retry_after_seconds(response.headers.get("retry-after", "")) if status in (429, 503) else None
    if status == 429:
        hint = f"; the server is rate limiting us, retry after {retry_after:g} s" if retry_after is not None else ""
        hint = hint or "; the server is rate limiting us, slow down"
    elif status in (401, 403):
        hint = "; the site refuses crawlers or needs a login"
    elif status in (404, 410):
        hint = "; the page is gone, drop or fix the link"
    elif status >= 500:
        hint = "; the server failed, try again later"
    return HTTPStatusError(f"HTTP {status} {phrase} for {where}{hint}", status, retry_after)


def retry_after_seconds(value: str, now: datetime | None = None) -> float | None:
    """``Retry-After`` (delay-seconds or an HTTP date) as seconds from ``now``; None if absent or unreadable."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a date without a zone is read as UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _read_body(response: httpx.Response, url: str, cfg: HttpConfig, deadline: float) -> bytes:
    """Stream the body, decompressing under the cap and the total deadline."""
    cap = cfg.max_bytes
    encodings = [
        part.strip().lower()
        for part in response.headers.get("content-encoding", "").split(",")
        if part.strip().lower() not in ("", "identity")
    ]
    encodings = ["gzip" if name == "x-gzip" else name for name in encodings]
    if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "deflate")):
        raise UnsupportedContent(
            f"{response.url} uses Content-Encoding {', '.join(encodings)}, which newsbeam cannot "
            f"decode (it only asks for {ACCEPT_ENCODING})"
        )
    decoder = _BodyDecoder(encodings[0] if encodings else "identity")
    declared = response.headers.get("content-length", "").strip()
    if not encodings and declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(
            f"{response.url} declares {int(declared):,} bytes (Content-Length), over the "
            f"{cap:,}-byte cap (max_bytes); raise max_bytes if this page is wanted"
        )
    chunks: list[bytes] = []
    size = 0

    def keep(piece: bytes) -> None:
        nonlocal size
        size += len(piece)
        if size > cap:
            what = "decompressed " if encodings else ""
            raise ResponseTooLarge(
                f"{response.url} sent more than {cap:,} {what}bytes (max_bytes), requested as {url}; "
                "raise max_bytes if this page is wanted"
            )
        chunks.append(piece)

    try:
        # No chunk_size: httpx would buffer up to it, hiding a slow drip from the deadline check.
        for raw in response.iter_raw():
            data = raw
            while data:
                keep(decoder.decode(data, cap - size + 1))
                data = decoder.pending
            if time.monotonic() > deadline:
                raise FetchTimeout(
                    f"gave up on {url} after {cfg.total_timeout:g} s total (total_timeout) with "
                    f"{size:,} bytes of the body received; the server is sending too slowly"
                )
        keep(decoder.flush())
    except zlib.error as error:
        raise UnsupportedContent(
            f"{response.url} sent a corrupt {decoder.encoding} body ({error}); the server is broken"
        ) from error
    return b"".join(chunks)


def _mapped(error: httpx.HTTPError, current: str, requested: str, cfg: HttpConfig, deadline: float) -> FetchError:
    """Turn an httpx error into the ``FetchError`` subclass and sentence a person can act on."""
    host = httpx.URL(current).host
    where = current if current == requested else f"{current} (requested {requested})"
    if isinstance(error, httpx.TimeoutException):
        if time.monotonic() >= deadline - 0.05:
            return FetchTimeout(
                f"gave up on {where} after {cfg.total_timeout:g} s total (total_timeout); the server is too slow"
            )
        if isinstance(error, httpx.ConnectTimeout):
            return FetchTimeout(
                f"could not connect to {host} within {cfg.connect_timeout:g} s (connect_timeout) "
                f"for {where}; the host is down, unreachable or firewalled"
            )
        if isinstance(error, httpx.PoolTimeout):
            return FetchTimeout(f"no free connection for {where} in time; lower the number of workers")
        return FetchTimeout(
            f"{host} sent nothing for {cfg.read_timeout:g} s (read_timeout) for {where}; "
            "the server is stuck or overloaded"
        )
    if isinstance(error, httpx.UnsupportedProtocol):
        return BlockedURLError(f"refused {where}: {error}; only http and https URLs are fetched")
    if isinstance(error, httpx.ConnectError):
        return ConnectError(
            f"could not connect to {host} for {where}: {error or type(error).__name__}; "
            "check the host name and that the site is up"
        )
    if isinstance(error, httpx.TransportError):
        return ConnectError(
            f"connection to {host} broke while fetching {where}: {error or type(error).__name__}; "
            "the server closed or reset it, try again later"
        )
    return FetchError(f"fetching {where} failed: {type(error).__name__}: {error}")

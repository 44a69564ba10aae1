"""Politeness for one worker's run: per-host pacing and time budgets, retries, robots.txt.

``PoliteClient`` wraps any ``HttpClient``. A stage makes one in ``DoFn.setup()`` and keeps it
for the DoFn's life, so the gap between two requests to a host holds across batches, and each
site's robots.txt is fetched once per run. The state is per worker: Beam offers no cheap way to
share it between workers, so with N workers a host can see up to N times the configured rate.

What it does around each ``get``:

* **Budget.** A host's time is the wall-clock time during which this worker has a request, a
  retry wait or a turn wait for it in progress, or the host holds us off: the spacing after each
  request start, a ``Retry-After``. The pauses count even when nobody waits inside ``get``, since
  ``fetch_many`` waits for a host's turn before handing its next URL to a worker (``next_turn``).
  Past ``host_budget`` its URLs fail at once with ``HostBudgetExceeded`` (a request already
  running may finish, up to ``total_timeout`` later).
* **Pacing.** Request starts to one host are at least ``min_delay`` apart (raised by the site's
  Crawl-delay or Request-rate, and pushed back by a ``Retry-After``), for every attempt.
  ``next_turn`` tells when the next one may start, so callers can schedule around the wait.
* **Retries** (tenacity): timeouts, connection errors, 429 and 5xx except 501 are tried again
  up to ``retries`` times, after ``Retry-After`` if the server sent one, else after an exponential
  backoff with jitter. A wait longer than ``backoff_max`` or than the host's remaining budget is
  not made: the error is final for this run.
* **robots.txt** (protego), for article pages only: feeds are listed by the operator on purpose,
  like a feed reader's subscriptions, so they are not crawled links. Per RFC 9309 a robots.txt
  that answers 4xx allows everything; one that cannot be fetched (5xx, 429, timeout, connection
  error) disallows the whole site for this run, and its pages wait for the next run. Anything
  else unusable (over the size cap, too many redirects) counts as absent. Only the requested
  URL is checked: a page that redirects to another site is not checked against that site's
  robots.txt (the SSRF guard and every other limit still apply to each hop).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import tenacity
from protego import Protego

from newsbeam.transforms.errors import (
    ConnectError,
    FetchError,
    FetchTimeout,
    HostBudgetExceeded,
    HTTPStatusError,
    RobotsDisallowed,
)
from newsbeam.transforms.fetch.http import ALLOWED_SCHEMES, HttpClient, HttpConfig, HttpResponse

ROBOTS_MAX_BYTES = 512 * 1024
"""RFC 9309 asks crawlers to parse at least 500 KiB of a robots.txt; the rest is ignored."""
ROBOTS_ACCEPT = "text/plain, */*;q=0.1"


def is_retryable(error: BaseException) -> bool:
    """Failures that may well not happen again in a moment: timeouts, broken connections, 429, 5xx."""
    if isinstance(error, FetchTimeout | ConnectError):
        return True
    if isinstance(error, HTTPStatusError):
        return error.status == 429 or (error.status >= 500 and error.status != 501)
    return False


def _origin(scheme: str, host: str, port: int | None) -> str:
    """``scheme://host[:port]``, the site a robots.txt speaks for (RFC 9309), with the default port left out."""
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{shown}" if port in (None, default) else f"{scheme}://{shown}:{port}"


def _site(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, lower-cased; empty strings if it cannot be parsed."""
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", "", None


def _amend(error: FetchError, note: str) -> None:
    """Add ``note`` to the error's reason, keeping its type and fields (status, retry_after)."""
    error.reason = f"{error.reason} {note}"
    error.args = (error.reason,)


@dataclass(frozen=True)
class Turn:
    """When a host may next be sent a request: what a scheduler needs to hand out work that will not wait."""

    at: float
    """Monotonic time before which a request to the host would wait for its turn."""
    claimed: int
    """Request starts claimed so far: it changes once a request handed to a worker has taken its turn."""
    spacing: float
    """Seconds between request starts to this host; 0: requests need not wait for one another."""
    warm_up: bool = False
    """``get(url)`` would first fetch robots.txt, a turn of its own: calling ``warm_up(url)`` first, as a
    separate job, lets the page's turn be waited for by the scheduler rather than inside a worker."""


@dataclass
class _Host:
    delay: float
    """Seconds between request starts (min_delay, or more if robots.txt asks)."""
    next_start: float = 0.0
    """Monotonic time before which no request to this host may start."""
    last_start: float = 0.0
    claimed: int = 0
    """Request starts claimed so far."""
    busy: int = 0
    """Requests (with their retry and turn waits) in progress."""
    since: float | None = None
    """Start of the current charged period (None before the first)."""
    until: float = 0.0
    """End of the current period when no request is in progress: the last one's end or a pause the host imposes."""
    spent: float = 0.0
    """Seconds of finished charged periods."""


def _spent(state: _Host, now: float) -> float:
    """Seconds charged to the host by ``now``: finished periods, plus the elapsed part of the current one."""
    if state.since is None:
        return state.spent
    end = now if state.busy else min(now, state.until)
    return state.spent + max(0.0, end - state.since)


def _charge(state: _Host, now: float, until: float) -> None:
    """Charge the host from ``now`` (or the still running period) through ``until``.

    Periods that overlap or touch count once, so a host fetched back to back at its pace is
    charged the wall-clock time, whoever waits for its turns (a worker or ``fetch_many``).
    """
    if state.since is None or (not state.busy and now > state.until):
        if state.since is not None:
            state.spent += state.until - state.since
        state.since = now
        state.until = now
    state.until = max(state.until, until)


class HostScheduler:
    """When each host may next be sent a request, and how much of its time budget is spent."""

    def __init__(self, min_delay: float, budget: float, period: float | None = None) -> None:
        self.min_delay = min_delay
        self.budget = budget
        self.period = period
        self._lock = threading.Lock()
        self._hosts: dict[str, _Host] = {}
        self._period_start = time.monotonic()

    def _renew(self, now: float) -> None:
        """Start every host's budget over once ``period`` has passed (a stream has no run end)."""
        if self.period is None or now - self._period_start < self.period:
            return
        self._period_start = now
        for state in self._hosts.values():
            state.spent = 0.0
            state.since = now if state.busy else None
            state.until = now

    def _host(self, host: str) -> _Host:
        """The state of ``host``; call with the lock held."""
        self._renew(time.monotonic())
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(delay=self.min_delay)
        return state

    @contextmanager
    def busy(self, host: str) -> Iterator[None]:
        """Count the time inside as the host's; overlapping requests count once (wall clock)."""
        with self._lock:
            state = self._host(host)
            now = time.monotonic()
            _charge(state, now, now)
            state.busy += 1
        try:
            yield
        finally:
            with self._lock:
                state.busy -= 1
                state.until = max(state.until, time.monotonic())

    def spent(self, host: str) -> float:
        with self._lock:
            return _spent(self._host(host), time.monotonic())

    def remaining(self, host: str) -> float:
        """Seconds of budget ``host`` has left in this run."""
        return self.budget - self.spent(host)

    def delay(self, host: str) -> float:
        with self._lock:
            return self._host(host).delay

    def _exhausted(self, host: str, url: str, spent: float) -> HostBudgetExceeded:
        return HostBudgetExceeded(
            f"skipped {url}: {host} already took {spent:.1f} s of this run, its whole time budget "
            f"(host_budget = {self.budget:g} s), being slow or rate limiting us; it is tried again next run"
        )

    def check_budget(self, host: str, url: str) -> None:
        """Fail fast if ``host`` has used up its budget."""
        spent = self.spent(host)
        if spent >= self.budget:
            raise self._exhausted(host, url, spent)

    def next_turn(self, host: str) -> Turn | None:
        """When a request to ``host`` may start without waiting; None if it would fail at once (budget)."""
        with self._lock:
            state = self._host(host)
            now = time.monotonic()
            left = self.budget - _spent(state, now)
            if left <= 0 or state.next_start - now >= left:
                return None  # check_budget / wait_turn refuse it at once: no point in holding it back
            return Turn(state.next_start, state.claimed, state.delay)

    def wait_turn(self, host: str, url: str) -> None:
        """Sleep until a request to ``host`` may start and claim that start; fail fast if it is beyond the budget."""
        with self._lock:
            state = self._host(host)
            now = time.monotonic()
            start = max(now, state.next_start)
            spent = _spent(state, now)
            left = self.budget - spent
            if left <= 0:
                raise self._exhausted(host, url, spent)
            if start - now >= left:
                raise HostBudgetExceeded(
                    f"skipped {url}: its turn at {host} comes in {start - now:.1f} s (requests at least "
                    f"{state.delay:g} s apart, or the server asked us to wait), more than the {left:.1f} s "
                    f"left of the host's time budget (host_budget = {self.budget:g} s); it is tried again next run"
                )
            state.next_start = start + state.delay
            state.last_start = start
            state.claimed += 1
            _charge(state, now, state.next_start)
        if start > now:
            time.sleep(start - now)

    def defer(self, host: str, seconds: float) -> None:
        """Start no request to ``host`` for ``seconds`` (it answered 429/503 with Retry-After)."""
        with self._lock:
            state = self._host(host)
            now = time.monotonic()
            state.next_start = max(state.next_start, now + seconds)
            _charge(state, now, state.next_start)

    def slow_down(self, host: str, delay: float) -> None:
        """Space requests to ``host`` at least ``delay`` seconds apart (robots.txt Crawl-delay)."""
        with self._lock:
            state = self._host(host)
            state.delay = max(state.delay, delay)
            state.next_start = max(state.next_start, state.last_start + state.delay)
            _charge(state, time.monotonic(), state.next_start)


@dataclass(frozen=True)
class RobotsRules:
    """One site's robots.txt as we found it this run."""

    url: str
    parser: Protego | None = None
    """None: no usable robots.txt (4xx, too large, ...), so everything is allowed."""
    unreachable: str | None = None
    """Why robots.txt could not be fetched; RFC 9309 then means: assume the whole site is disallowed."""

    def allows(self, url: str, agent: str) -> bool:
        if self.unreachable is not None:
            return False
        return self.parser is None or bool(self.parser.can_fetch(url, agent))

    def delay(self, agent: str) -> float:
        """Seconds between requests the site asks of ``agent`` (Crawl-delay, Request-rate), 0 if none."""
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(agent) or 0.0
        rate = self.parser.request_rate(agent)
        if rate is not None and rate.requests > 0:
            delay = max(delay, rate.seconds / rate.requests)
        return float(delay)


class RobotsCache:
    """robots.txt per site (scheme, host, port), fetched at most once per run even under concurrency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, RobotsRules] = {}
        self._fetching: dict[str, threading.Lock] = {}

    def has(self, origin: str) -> bool:
        """True once the rules of ``origin`` are known for this run."""
        with self._lock:
            return origin in self._rules

    def get(self, origin: str, fetch: Callable[[str], RobotsRules]) -> RobotsRules:
        """The rules of ``origin``; the first caller fetches them while the others wait."""
        with self._lock:
            if origin in self._rules:
                return self._rules[origin]
            site_lock = self._fetching.setdefault(origin, threading.Lock())
        with site_lock:
            with self._lock:
                if origin in self._rules:
                    return self._rules[origin]
            rules = fetch(origin)  # an error (e.g. budget spent) is not cached: the next URL tries again
            with self._lock:
                self._rules[origin] = rules
            return rules


class PoliteClient:
    """An ``HttpClient`` that paces, budgets and retries per host, and obeys robots.txt if asked.

    ``obey_robots`` says whether this caller's URLs are crawled links (article pages); it only
    takes effect when ``config.obey_robots`` is on as well. Each instance has its own state, so
    the feed and page stages pace a host independently of each other.
    """

    def __init__(self, client: HttpClient, config: HttpConfig, *, obey_robots: bool = True) -> None:
        self.client = client
        self.config = config
        self.obey_robots = obey_robots and config.obey_robots
        self.hosts = HostScheduler(config.min_delay, config.host_budget, config.host_budget_period)
        self.robots = RobotsCache()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def next_turn(self, url: str) -> Turn | None:
        """When a request for ``url`` may start without waiting for its host's turn; None: it need not wait.

        ``fetch_many`` asks before handing a URL to a worker, so workers do not sleep on a few hosts'
        turns while other hosts wait for a worker. None for URLs that are not paced (not http(s)) or
        would fail at once (the host's budget is spent). Advice only: ``get`` enforces every limit.
        """
        scheme, host, port = _site(url)
        if scheme not in ALLOWED_SCHEMES or not host:
            return None
        turn = self.hosts.next_turn(host)
        if turn is None or not self._robots_due(scheme, host, port):
            return turn
        return dataclasses.replace(turn, warm_up=True)

    def warm_up(self, url: str) -> None:
        """Fetch the robots.txt ``get(url)`` needs first, paced and budgeted as ``get`` would.

        Then ``get(url)`` takes only its page's turn, which its caller can wait for outside a
        worker (see ``Turn.warm_up``). A failure is not raised: what is cached (an unreachable
        robots.txt) ``get`` reports, and what is not (a spent budget) ``get`` meets again.
        """
        scheme, host, port = _site(url)
        if not self._robots_due(scheme, host, port):
            return
        with self.hosts.busy(host):
            try:
                self.hosts.check_budget(host, url)
                origin = _origin(scheme, host, port)
                self.robots.get(origin, lambda site: self._fetch_robots(site, host))
            except FetchError:
                pass

    def _robots_due(self, scheme: str, host: str, port: int | None) -> bool:
        """True if ``get`` would fetch this site's robots.txt before its page (obeyed, not known yet)."""
        return (
            self.obey_robots
            and scheme in ALLOWED_SCHEMES
            and bool(host)
            and not self.robots.has(_origin(scheme, host, port))
        )

    def get(
        self, url: str, *, accept: str | None = None, etag: str | None = None, last_modified: str | None = None
    ) -> HttpResponse:
        """GET ``url`` politely; raise the last attempt's ``FetchError`` if every attempt failed."""
        scheme, host, port = _site(url)
        # Validators only when there are some, so simpler injected clients (test doubles) keep working.
        conditions = {name: value for name, value in (("etag", etag), ("last_modified", last_modified)) if value}
        if scheme not in ALLOWED_SCHEMES or not host:
            # Not fetchable at all: the client refuses it with the right reason, costing no host anything.
            return self.client.get(url, accept=accept, **conditions)
        with self.hosts.busy(host):
            self.hosts.check_budget(host, url)
            if self.obey_robots:
                self._check_robots(url, host, _origin(scheme, host, port))
            return self._with_retries(host, url, lambda: self.client.get(url, accept=accept, **conditions))

    def _with_retries(self, host: str, url: str, attempt: Callable[[], HttpResponse]) -> HttpResponse:
        cfg = self.config
        backoff = tenacity.wait_exponential(multiplier=cfg.backoff_base, max=cfg.backoff_max) + tenacity.wait_random(
            0, cfg.backoff_base
        )
        notes: list[str] = []
        attempts = 0

        def one_attempt() -> HttpResponse:
            nonlocal attempts
            self.hosts.wait_turn(host, url)
            attempts += 1
            try:
                return attempt()
            except HTTPStatusError as error:
                if error.retry_after is not None:
                    self.hosts.defer(host, error.retry_after)  # the whole host, not only this URL
                raise

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, HTTPStatusError) and error.retry_after is not None:
                return error.retry_after
            return min(cfg.backoff_max, backoff(state))

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number > cfg.retries:
                return True
            error = state.outcome.exception() if state.outcome else None
            pause = state.upcoming_sleep
            if isinstance(error, HTTPStatusError) and error.retry_after is not None and pause > cfg.backoff_max:
                notes.append(f"The server asked for {pause:g} s (Retry-After), more than backoff_max; not retried.")
                return True
            left = self.hosts.remaining(host)
            if pause >= left:
                notes.append(f"A retry in {pause:.1f} s would overrun the host's time budget ({left:.1f} s left).")
                return True
            return False

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retryable), wait=wait, stop=stop, reraise=True
        )
        try:
            return retrying(one_attempt)
        except FetchError as error:
            if attempts > 1:
                notes.insert(0, f"(gave up after {attempts} attempts)")
            if notes:
                _amend(error, " ".join(notes))
            raise

    def _check_robots(self, url: str, host: str, origin: str) -> None:
        agent = self.config.robots_agent
        rules = self.robots.get(origin, lambda site: self._fetch_robots(site, host))
        if rules.unreachable is not None:
            raise RobotsDisallowed(
                f"{url} not fetched: {rules.url} could not be fetched ({rules.unreachable}); RFC 9309 says to assume "
                "the whole site is disallowed then, so its pages wait for the next run"
            )
        if not rules.allows(url, agent):
            raise RobotsDisallowed(
                f"{rules.url} disallows {url} for user agent {agent!r}; newsbeam obeys robots.txt for "
                "article pages (obey_robots)"
            )

    def _fetch_robots(self, origin: str, host: str) -> RobotsRules:
        """Fetch and parse ``origin``'s robots.txt, through the same pacing, budget and retries as pages."""
        url = f"{origin}/robots.txt"
        try:
            response = self._with_retries(host, url, lambda: self.client.get(url, accept=ROBOTS_ACCEPT))
        except HostBudgetExceeded:
            raise
        except (FetchTimeout, ConnectError) as error:
            return RobotsRules(url, unreachable=error.reason)
        except HTTPStatusError as error:
            if error.status == 429 or error.status >= 500:
                return RobotsRules(url, unreachable=error.reason)
            return RobotsRules(url)  # 4xx: "unavailable", everything is allowed
        except FetchError:
            # Too many redirects, too large, a refused redirect: unavailable, so allowed. The page's own
            # fetch still goes through every check (a blocked address stays blocked).
            return RobotsRules(url)
        if response.not_modified:
            return RobotsRules(url)
        text = response.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
        rules = RobotsRules(url, parser=Protego.parse(text))
        delay = rules.delay(self.config.robots_agent)
        if delay > 0:
            self.hosts.slow_down(host, delay)
        return rules

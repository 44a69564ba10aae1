"""Fetch many URLs at once, fast across hosts and polite to each one.

Scheduling happens in the calling thread: a URL is only handed to a worker when its host
is below ``per_host`` and, if the client paces hosts (``PacedClient``, e.g.
``politeness.PoliteClient``), when the host's turn has come. Workers that waited inside the
client instead (on per-host semaphores or on a host's spacing) would let a few busy hosts
fill the whole pool while every other host waits. The rest of politeness (spacing between
requests, time budgets, retries, robots.txt) is the client's, which enforces it whatever
this scheduler does and keeps that state across calls.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from newsbeam.transforms.errors import FetchError
from newsbeam.transforms.fetch.http import HttpClient, HttpResponse
from newsbeam.transforms.fetch.politeness import Turn

Outcome = HttpResponse | FetchError
Job = Future[Outcome | None]
"""A URL's fetch (its outcome) or a host's warm-up (None)."""
Validators = tuple[str | None, str | None]
"""``(etag, last_modified)`` stored from an earlier run, to make a request conditional."""

HANDOFF_POLL = 0.01
"""Seconds between looks at a host whose last handed-out request has not claimed its turn yet (it
normally does within a millisecond); until then its turn looks free and must not be handed out twice."""


@runtime_checkable
class PacedClient(HttpClient, Protocol):
    """A client that spaces requests per host and can say when a host's next turn is."""

    def next_turn(self, url: str) -> Turn | None:
        """When a request for ``url`` could start without waiting; None if it need not wait at all."""
        ...

    def warm_up(self, url: str) -> None:
        """Make the request ``get(url)`` would make first (``Turn.warm_up``); never raises a ``FetchError``."""
        ...


def host_key(url: str) -> str:
    """The politeness key of ``url``: its lower-cased host name (ports share the limit)."""
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def _fetch_one(client: HttpClient, url: str, accept: str | None, validators: Validators | None) -> Outcome:
    """One fetch whose failure is a value: nothing is raised, nothing is lost."""
    try:
        if validators is None or validators == (None, None):
            return client.get(url, accept=accept)  # the plain call: test doubles need not know validators
        etag, last_modified = validators
        return client.get(url, accept=accept, etag=etag, last_modified=last_modified)
    except FetchError as error:
        return error
    except Exception as error:  # noqa: BLE001 - becomes a FetchError result, with its cause kept
        wrapped = FetchError(
            f"unexpected {type(error).__name__} from the HTTP client while fetching {url}: {error} "
            "(a bug in the client: please report it)"
        )
        wrapped.__cause__ = error
        return wrapped


def _wait_before(turn: Turn | None, claimed_at_handoff: int | None, now: float) -> float:
    """Seconds until a request to the host can go to a worker without waiting there for its turn (0: now).

    ``claimed_at_handoff`` is the host's count of claimed turns when its last request was handed
    out, if that request may not have taken its turn yet: while the count is unchanged, the turn
    it is about to take still looks free, so look again shortly instead of handing out a second.
    """
    if turn is None:
        return 0.0
    if claimed_at_handoff is not None and turn.claimed == claimed_at_handoff:
        return HANDOFF_POLL
    return max(0.0, turn.at - now)


def _warm_up_one(client: PacedClient, url: str) -> None:
    """A warm-up whose failure is nobody's result: the URL's own fetch reports whatever matters."""
    try:
        client.warm_up(url)
    except Exception:  # noqa: BLE001 - the fetch of ``url`` that follows meets the same failure as a value
        pass


def _queues_by_host(urls: Sequence[str]) -> dict[str, deque[int]]:
    """Indexes of ``urls`` per host, hosts in order of first appearance (the round-robin order)."""
    queues: dict[str, deque[int]] = {}
    for index, url in enumerate(urls):
        queues.setdefault(host_key(url), deque()).append(index)
    return queues


def _completed(pending: Mapping[Job, object], timeout: float | None) -> set[Job]:
    """Futures done within ``timeout`` seconds (None: until one is), at least one unless the time ran out."""
    if not pending:
        time.sleep(timeout or 0.0)
        return set()
    done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
    return done


def fetch_many(
    client: HttpClient,
    urls: Sequence[str],
    *,
    max_workers: int,
    per_host: int,
    accept: str | None = None,
    validators: Mapping[str, Validators] | None = None,
) -> list[tuple[str, HttpResponse | FetchError]]:
    """GET every URL with ``client``; results in input order, failures as ``FetchError`` values.

    At most ``max_workers`` requests are in flight in total and at most ``per_host`` per
    host name; hosts are served round-robin so one big site cannot starve the others. With a
    ``PacedClient`` a URL waits here, not in a worker, until its host's turn, so the pool is
    spent on hosts that can be fetched now. ``validators`` maps a URL to its
    ``(etag, last_modified)`` from the last run; an unchanged page then comes back as a 304
    response with an empty body.
    """
    if max_workers < 1 or per_host < 1:
        raise ValueError(f"max_workers and per_host must be at least 1, got {max_workers} and {per_host}")
    results: list[Outcome | None] = [None] * len(urls)
    queues = _queues_by_host(urls)
    paced = client if isinstance(client, PacedClient) else None
    in_flight: Counter[str] = Counter()
    # Per paced host: its count of claimed turns when its last request went to a worker, and that request.
    handed_out: dict[str, tuple[int, Job]] = {}
    warmed: set[str] = set()  # hosts given their one warm-up: any further one is made inside get
    pending: dict[Job, tuple[int | None, str]] = {}  # index of the URL, None for a warm-up

    with ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(urls))), thread_name_prefix="newsbeam-fetch"
    ) as pool:

        def submit(host: str, turn: Turn | None) -> None:
            """Hand the host's next URL (or its warm-up) to a worker and move the host to the end of the round.

            ``turn`` is read before the hand-off: afterwards the worker may already have claimed it.
            """
            queue = queues.pop(host)
            future: Job
            if paced is not None and turn is not None and turn.warm_up and host not in warmed:
                warmed.add(host)
                future = pool.submit(_warm_up_one, paced, urls[queue[0]])
                pending[future] = (None, host)
            else:
                index = queue.popleft()
                url = urls[index]
                conditions = validators.get(url) if validators else None
                future = pool.submit(_fetch_one, client, url, accept, conditions)
                pending[future] = (index, host)
            in_flight[host] += 1
            if turn is not None and turn.spacing > 0:
                handed_out[host] = (turn.claimed, future)
            if queue:
                queues[host] = queue

        def hand_out() -> float | None:
            """Submit what can start now, round-robin; seconds until a held-back host may be ready (None: none)."""
            soonest = math.inf
            progressed = True
            while progressed and len(pending) < max_workers:
                progressed = False
                now = time.monotonic()
                for host in list(queues):
                    if len(pending) >= max_workers:
                        break
                    if in_flight[host] >= per_host:
                        continue
                    turn = paced.next_turn(urls[queues[host][0]]) if paced is not None else None
                    last = handed_out.get(host)
                    wait_for = _wait_before(turn, last[0] if last else None, now)
                    if wait_for > 0:
                        soonest = min(soonest, wait_for)
                        continue
                    submit(host, turn)
                    progressed = True
            return None if soonest == math.inf else soonest

        while queues or pending:
            timeout = hand_out()
            for future in _completed(pending, timeout):
                index, host = pending.pop(future)
                in_flight[host] -= 1
                if host in handed_out and handed_out[host][1] is future:
                    del handed_out[host]
                if index is not None:
                    results[index] = future.result()

    out: list[tuple[str, Outcome]] = []
    for url, outcome in zip(urls, results, strict=True):
        assert outcome is not None  # every index was submitted and collected above
        out.append((url, outcome))
    return out

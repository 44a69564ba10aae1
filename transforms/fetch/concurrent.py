"""Fetch many URLs at once, fast across hosts and polite to each one.

Scheduling happens in the calling thread: a URL is only handed to a worker when its host
is below ``per_host``. Workers blocking on per-host semaphores instead would let one
busy host fill the whole pool while every other host waits. The rest of politeness
(spacing between requests, time budgets, retries, robots.txt) is the client's: pass a
``politeness.PoliteClient``, which keeps that state across calls.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

from transforms.errors import FetchError
from transforms.fetch.http import HttpClient, HttpResponse

Outcome = HttpResponse | FetchError
Validators = tuple[str | None, str | None]
"""``(etag, last_modified)`` stored from an earlier run, to make a request conditional."""


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
    host name; hosts are served round-robin so one big site cannot starve the others.
    ``validators`` maps a URL to its ``(etag, last_modified)`` from the last run; an
    unchanged page then comes back as a 304 response with an empty body.
    """
    if max_workers < 1 or per_host < 1:
        raise ValueError(f"max_workers and per_host must be at least 1, got {max_workers} and {per_host}")
    results: list[Outcome | None] = [None] * len(urls)
    queues: dict[str, deque[int]] = {}
    for index, url in enumerate(urls):
        queues.setdefault(host_key(url), deque()).append(index)
    in_flight: Counter[str] = Counter()
    pending: dict[Future[Outcome], tuple[int, str]] = {}

    with ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(urls))), thread_name_prefix="newsbeam-fetch"
    ) as pool:

        def submit_ready() -> None:
            progressed = True
            while progressed and len(pending) < max_workers:
                progressed = False
                for host in list(queues):
                    if len(pending) >= max_workers:
                        return
                    queue = queues[host]
                    if in_flight[host] < per_host:
                        index = queue.popleft()
                        url = urls[index]
                        conditions = validators.get(url) if validators else None
                        pending[pool.submit(_fetch_one, client, url, accept, conditions)] = (index, host)
                        in_flight[host] += 1
                        progressed = True
                        if not queue:
                            del queues[host]

        submit_ready()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index, host = pending.pop(future)
                in_flight[host] -= 1
                results[index] = future.result()
            submit_ready()

    out: list[tuple[str, Outcome]] = []
    for url, outcome in zip(urls, results, strict=True):
        assert outcome is not None  # every index was submitted and collected above
        out.append((url, outcome))
    return out

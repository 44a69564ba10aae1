"""The W3C TDM Reservation Protocol's site-wide file, ``/.well-known/tdmrep.json``, once per site and worker.

The file is a JSON array of rules ``{"location": "/path/*", "tdm-reservation": 1, "tdm-policy": URL}``;
the first rule whose location pattern matches a page's path applies to it (``*`` matches anything,
a final ``$`` anchors the end, as in robots.txt). A site without the file, or with one that does not
parse, reserves nothing through it: its pages' own headers and ``<meta>`` tags still count, and win.
The rule found travels with the page as the pseudo-headers ``tdmrep-reservation`` and ``tdmrep-policy``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsbeam.transforms.errors import FetchError
from newsbeam.transforms.fetch.http import HttpClient, HttpResponse

WELL_KNOWN = "/.well-known/tdmrep.json"
MAX_RULES = 1000


@dataclass(frozen=True)
class TdmRule:
    location: str
    reservation: bool | None
    policy: str | None


def parse_tdmrep(body: bytes) -> list[TdmRule]:
    """The rules of a ``tdmrep.json`` body; ``[]`` when it is not the expected JSON array (pure)."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    rules = []
    for item in data[:MAX_RULES]:
        if not isinstance(item, dict) or not isinstance(item.get("location"), str):
            continue
        flag = item.get("tdm-reservation")
        reservation = bool(flag) if isinstance(flag, int | bool) and flag in (0, 1) else None
        policy = item.get("tdm-policy")
        rules.append(TdmRule(item["location"], reservation, policy if isinstance(policy, str) and policy else None))
    return rules


def _pattern(location: str) -> re.Pattern[str]:
    anchored = location.endswith("$")
    body = re.escape(location.rstrip("$")).replace(r"\*", ".*")
    return re.compile(body + ("$" if anchored else ""))


def rule_for(rules: list[TdmRule], path: str) -> TdmRule | None:
    """The first rule whose location matches ``path`` (pure)."""
    return next((rule for rule in rules if _pattern(rule.location).match(path)), None)


def as_headers(rule: TdmRule | None) -> tuple[tuple[str, str], ...]:
    """The rule as the pseudo-headers ``clean/rights.py`` reads (pure)."""
    if rule is None:
        return ()
    pairs = []
    if rule.reservation is not None:
        pairs.append(("tdmrep-reservation", "1" if rule.reservation else "0"))
    if rule.policy:
        pairs.append(("tdmrep-policy", rule.policy))
    return tuple(pairs)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class TdmRepCache:
    """Each site's rules, fetched once through the stage's polite client.

    The fetching stage asks for the files of a batch's new sites (``missing``) in the same concurrent
    fetch as the batch's pages and hands the outcomes back (``store``), so a site's file costs no
    serial wait; only a page redirected to a site not seen yet has its file fetched on its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, list[TdmRule]] = {}

    def missing(self, urls: list[str]) -> list[str]:
        """The ``tdmrep.json`` URLs of the sites of ``urls`` whose rules are not known yet, each once."""
        with self._lock:
            origins = dict.fromkeys(o for o in map(_origin, urls) if o not in self._rules)
        return [origin + WELL_KNOWN for origin in origins]

    def store(self, file_url: str, outcome: HttpResponse | FetchError) -> None:
        """A fetched ``tdmrep.json`` (or why it could not be had: then nothing is reserved through it)."""
        rules = parse_tdmrep(outcome.body) if isinstance(outcome, HttpResponse) else []
        with self._lock:
            self._rules[_origin(file_url)] = rules

    def headers_for(self, client: HttpClient, url: str) -> tuple[tuple[str, str], ...]:
        """The pseudo-headers of the rule for ``url``, fetching its site's file first if it is not known."""
        file_url = _origin(url) + WELL_KNOWN
        with self._lock:
            rules = self._rules.get(_origin(url))
        if rules is None:
            try:
                self.store(file_url, client.get(file_url, accept="application/json"))
            except FetchError as error:
                self.store(file_url, error)  # no file (404), unreachable or refused
            with self._lock:
                rules = self._rules[_origin(url)]
        return as_headers(rule_for(rules, urlsplit(url).path or "/"))

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
from newsbeam.transforms.fetch.http import HttpClient

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


class TdmRepCache:
    """Each site's rules, fetched through the stage's polite client the first time one of its pages is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, list[TdmRule]] = {}

    def headers_for(self, client: HttpClient, url: str) -> tuple[tuple[str, str], ...]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            rules = self._rules.get(origin)
        if rules is None:
            try:
                response = client.get(origin + WELL_KNOWN, accept="application/json")
                rules = parse_tdmrep(response.body)
            except FetchError:
                rules = []  # no file (404), unreachable or refused: nothing reserved through it
            with self._lock:
                self._rules[origin] = rules
        return as_headers(rule_for(rules, parts.path or "/"))

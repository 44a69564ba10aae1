"""Rights signals of a page: what its publisher says about access, archiving, AI and text-and-data mining.

Each signal is ``None`` when the page and its response say nothing, never a guess:

* ``is_accessible_for_free``: ``isAccessibleForFree`` in the page's JSON-LD (schema.org);
* ``robots``: the directives of ``<meta name="robots">`` and the ``X-Robots-Tag`` header (those
  addressed to every crawler, or to newsbeam), lower-cased: ``noarchive``, ``noai``, ``noimageai``…;
* ``tdm_reservation`` / ``tdm_policy``: the W3C TDM Reservation Protocol, from the ``tdm-reservation``
  and ``tdm-policy`` headers or ``<meta>`` tags;
* ``license``: the feed's rights (``<copyright>``, ``dc:rights``, Atom ``rights``) or Creative Commons
  licence, per entry where the entry has its own.

The page is read from the tree trafilatura is about to parse, before it strips scripts and metas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import html as lxml_html

OUR_AGENTS = ("newsbeam", "*")
VALUE_DIRECTIVES = ("max-snippet", "max-image-preview", "max-video-preview", "unavailable_after")
"""Directives written ``name: value``, which are not ``agent: directives``."""


@dataclass(frozen=True)
class Rights:
    is_accessible_for_free: bool | None = None
    robots: tuple[str, ...] | None = None
    tdm_reservation: bool | None = None
    tdm_policy: str | None = None
    license: str | None = None


def _directives(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def header_robots(value: str) -> list[str]:
    """``X-Robots-Tag`` directives for every crawler or for newsbeam (``googlebot: noindex`` is not ours)."""
    found: list[str] = []
    for part in _directives(value):
        agent, sep, rest = (piece.strip() for piece in part.partition(":"))
        if sep and agent not in VALUE_DIRECTIVES and " " not in agent:
            if agent in OUR_AGENTS:
                found += _directives(rest)
            continue  # addressed to another crawler
        found.append(part)
    return found


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    return None


def json_ld_objects(data: Any) -> Iterator[Mapping[str, Any]]:
    """Every JSON-LD object of a parsed block, lists and ``@graph`` flattened."""
    if isinstance(data, list):
        for item in data:
            yield from json_ld_objects(item)
    elif isinstance(data, Mapping):
        yield data
        yield from json_ld_objects(data.get("@graph"))


def json_ld_free(texts: list[str]) -> bool | None:
    """``isAccessibleForFree`` of the page's JSON-LD blocks (the first one that says), else ``None``."""
    for text in texts:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        for item in json_ld_objects(data):
            flag = _flag(item.get("isAccessibleForFree"))
            if flag is not None:
                return flag
    return None


def tree_rights(tree: lxml_html.HtmlElement) -> Rights:
    """What the page's own markup says (meta robots, TDM metas, JSON-LD)."""
    robots: list[str] = []
    tdm_reservation: bool | None = None
    tdm_policy: str | None = None
    for meta in tree.iter("meta"):
        name = (meta.get("name") or "").strip().lower()
        content = meta.get("content") or ""
        if name in ("robots", "newsbeam"):
            robots += _directives(content)
        elif name == "tdm-reservation":
            tdm_reservation = _flag(content)
        elif name == "tdm-policy" and content.strip():
            tdm_policy = content.strip()
    scripts = [s.text or "" for s in tree.iter("script") if (s.get("type") or "").lower() == "application/ld+json"]
    return Rights(
        is_accessible_for_free=json_ld_free(scripts),
        robots=tuple(robots) if robots else None,
        tdm_reservation=tdm_reservation,
        tdm_policy=tdm_policy,
    )


def with_headers(rights: Rights, headers: Mapping[str, str]) -> Rights:
    """``rights`` plus the response headers and the site's ``tdmrep.json`` rule (pure).

    For TDM the page's header wins over its ``<meta>``, which wins over the site-wide file
    (``tdmrep-*`` pseudo-headers, ``fetch/tdmrep.py``).
    """
    robots = list(rights.robots or ()) + header_robots(headers.get("x-robots-tag", ""))
    reservation = _first_flag(headers.get("tdm-reservation"), rights.tdm_reservation, headers.get("tdmrep-reservation"))
    policy = headers.get("tdm-policy", "").strip() or rights.tdm_policy or headers.get("tdmrep-policy") or None
    return Rights(
        is_accessible_for_free=rights.is_accessible_for_free,
        robots=tuple(dict.fromkeys(robots)) or None,
        tdm_reservation=reservation,
        tdm_policy=policy,
        license=rights.license,
    )


def _first_flag(*values: str | bool | None) -> bool | None:
    for value in values:
        flag = _flag(value) if value is not None else None
        if flag is not None:
            return flag
    return None

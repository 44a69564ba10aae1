"""Feed lists to ``FeedSpec``s: OPML, plain text, YAML or TOML, validated before the run starts.

A feed list that cannot be read at all (unreadable, not UTF-8, broken XML/YAML/TOML, the wrong
shape, no usable feed) is a ``ConfigError`` naming the file, the line and what to fix. One bad
*entry* (a ``file:`` URL, two words on a line, an unknown key) is not: ``read_feed_list`` keeps it
as a ``Rejected`` line, which a run writes as a ``feeds`` dead letter while it reads the rest, so
one typo in a 5,000-feed list costs one feed, not the run. ``load_feed_list`` is the strict form.

Formats (picked by extension, then by content):

* OPML (``.opml``, or any XML whose root is ``<opml>``): every ``<outline xmlUrl=…>`` at
  any depth; ``title`` (else ``text``) becomes the source name.
* Plain text (``.txt`` and anything else): one URL per line; ``#`` starts a comment.
* YAML (``.yaml``/``.yml``) and TOML (``.toml``): a top-level ``feeds`` list whose items
  are a URL string or a table ``{url, source, fetch_pages, max_entries}`` (TOML:
  ``[[feeds]]`` tables, or ``feeds = [...]``).

Identical URLs are kept once (the first, with its options).
"""

from __future__ import annotations

import difflib
import logging
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from lxml import etree

from newsbeam.schemas.records import DeadLetter, FeedSpec
from newsbeam.transforms.base import counter, dead_letter
from newsbeam.transforms.errors import ConfigError

__all__ = [
    "FEED_KEYS",
    "FeedList",
    "Rejected",
    "load_feed_list",
    "read_feed_list",
    "rejected_dead_letter",
    "usable_feeds",
]

_LOG = logging.getLogger(__name__)

#: The keys a YAML/TOML feed entry may have, in the order the docs list them.
FEED_KEYS = ("url", "source", "fetch_pages", "max_entries")

_TOML_FEEDS_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*feeds[ \t]*\]\]", re.MULTILINE)
_TOML_HINT = re.compile(r"^[ \t]*(\[\[[ \t]*feeds[ \t]*\]\]|feeds[ \t]*=)", re.MULTILINE)
_YAML_HINT = re.compile(r"^feeds\s*:", re.MULTILINE)
_INLINE_COMMENT = re.compile(r"\s+#")


@dataclass(frozen=True)
class Rejected:
    """One feed-list entry that is not a usable feed: where it is and what to fix."""

    where: str
    """``file:line`` (or ``file: feeds[i]`` where the format gives no line)."""
    reason: str
    value: str = ""


@dataclass(frozen=True)
class FeedList:
    specs: list[FeedSpec]
    rejected: list[Rejected]


Entry = FeedSpec | Rejected


def read_feed_list(path: Path) -> FeedList:
    """The usable feeds at ``path`` and the entries rejected; ``ConfigError`` if the file is unusable as a whole."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read feed list {path}: {error.strerror or error}; check the path") from None
    loader = _pick_loader(path, raw)
    entries = loader(path, raw)
    unique: dict[str, FeedSpec] = {}
    rejected = [entry for entry in entries if isinstance(entry, Rejected)]
    for spec in entries:
        if isinstance(spec, FeedSpec):
            unique.setdefault(spec.url, spec)
    if not unique and rejected:
        first = rejected[0]
        raise ConfigError(
            f"{first.where}: {first.reason} (and {len(rejected) - 1} more); the feed list has no usable feed"
        )
    if not unique:
        raise ConfigError(f"{path}: the feed list has no feeds; add at least one feed URL")
    return FeedList(list(unique.values()), rejected)


def load_feed_list(path: Path) -> list[FeedSpec]:
    """The feeds at ``path``, strictly: the first rejected entry is a ``ConfigError`` saying what to fix."""
    feeds = read_feed_list(path)
    if feeds.rejected:
        first = feeds.rejected[0]
        raise ConfigError(f"{first.where}: {first.reason}")
    return feeds.specs


def rejected_dead_letter(line: Rejected) -> DeadLetter:
    """The ``feeds`` dead letter of a rejected feed-list line, counted like every stage's (for exit 3)."""
    counter("dead_letters").inc()
    error = ConfigError(f"feed-list entry skipped: {line.reason}; fix or remove it")
    return dead_letter("feeds", error, line.where, line.value)


def usable_feeds(path: Path) -> list[FeedSpec]:
    """The feeds at ``path``, logging each rejected entry (the stream's re-reads of its list)."""
    feeds = read_feed_list(path)
    for line in feeds.rejected:
        _LOG.warning("feed list %s: %s; the line is skipped", line.where, line.reason)
    return feeds.specs


def _entry(where: str, make: Callable[[], FeedSpec], value: Any = "") -> Entry:
    """``make()``, or the ``Rejected`` line its ``ConfigError`` describes."""
    try:
        return make()
    except ConfigError as error:
        reason = error.reason.removeprefix(f"{where}: ")
        return Rejected(where, reason, str(value)[:200])


def _pick_loader(path: Path, raw: bytes) -> Callable[[Path, bytes], list[Entry]]:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _load_yaml
    if suffix == ".toml":
        return _load_toml
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix in (".opml", ".xml") or head.startswith(b"<"):
        return _load_opml
    if suffix not in (".txt", ".list", ".urls"):
        text = _decode(path, raw)
        if _TOML_HINT.search(text):
            return _load_toml
        if _YAML_HINT.search(text):
            return _load_yaml
    return _load_text


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: the feed list is not UTF-8 text; save it as UTF-8") from None


# --------------------------------------------------------------------------- formats


def _load_opml(path: Path, raw: bytes) -> list[Entry]:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, huge_tree=False
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as error:
        raise ConfigError(f"{path}:{error.lineno}: not well-formed XML ({error.msg}); fix the OPML file") from None
    if root is None or etree.QName(root).localname.lower() != "opml":
        name = etree.QName(root).localname if root is not None else "nothing"
        raise ConfigError(
            f"{path}: the XML root is <{name}>, not <opml>; a feed list must be OPML "
            "(to read one feed, list its URL in a .txt file)"
        )
    specs: list[Entry] = []
    for outline in root.iter():
        if not isinstance(outline.tag, str) or etree.QName(outline).localname.lower() != "outline":
            continue
        attributes = {key.lower(): value for key, value in outline.attrib.items()}
        if "xmlurl" not in attributes:
            continue  # a folder/category outline, or a plain link
        where = f"{path}:{outline.sourceline}"  # libxml2: the line where the start tag ends
        source = (attributes.get("title") or attributes.get("text") or "").strip() or None
        url = attributes["xmlurl"]
        specs.append(_entry(where, partial(_outline_spec, url, where, source), url))
    return specs


def _load_text(path: Path, raw: bytes) -> list[Entry]:
    specs: list[Entry] = []
    for number, line in enumerate(_decode(path, raw).splitlines(), 1):
        value = _INLINE_COMMENT.split(line, maxsplit=1)[0].strip()
        if not value or value.startswith("#"):
            continue
        where = f"{path}:{number}"
        specs.append(_entry(where, partial(_line_spec, value, where), value))
    return specs


def _entries(wheres: list[str], feeds: list[Any]) -> list[Entry]:
    """Each YAML/TOML ``feeds`` item as a spec or a ``Rejected`` line."""
    pairs = zip(wheres, feeds, strict=True)
    return [_entry(where, partial(_spec_from_entry, item, where), item) for where, item in pairs]


def _outline_spec(url: str, where: str, source: str | None) -> FeedSpec:
    return FeedSpec(url=_check_url(url, where, "xmlUrl"), source=source)


def _line_spec(value: str, where: str) -> FeedSpec:
    return FeedSpec(url=_one_url(value, where))


def _one_url(value: str, where: str) -> str:
    if len(value.split()) > 1:
        raise ConfigError(f"{where}: expected one URL per line, got {value[:120]!r}")
    return _check_url(value, where)


def _load_yaml(path: Path, raw: bytes) -> list[Entry]:
    text = _decode(path, raw)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}{line}: not valid YAML ({problem}); fix the syntax") from None
    finally:
        loader.dispose()
    lines: list[int] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "feeds" and isinstance(value, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value.value]
    feeds = _top_level_feeds(path, data, "a YAML mapping with a 'feeds:' list")
    wheres = [f"{path}:{lines[i]}" if i < len(lines) else f"{path}: feeds[{i}]" for i in range(len(feeds))]
    return _entries(wheres, feeds)


def _load_toml(path: Path, raw: bytes) -> list[Entry]:
    text = _decode(path, raw)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error}); fix the syntax") from None
    feeds = _top_level_feeds(path, data, "a TOML document with [[feeds]] tables")
    headers = [text.count("\n", 0, m.start()) + 1 for m in _TOML_FEEDS_HEADER.finditer(text)]
    lines = headers if len(headers) == len(feeds) else []
    wheres = [f"{path}:{lines[i]}" if lines else f"{path}: feeds[{i}] (entry {i + 1})" for i in range(len(feeds))]
    return _entries(wheres, feeds)


def _top_level_feeds(path: Path, data: Any, expected: str) -> list[Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected {expected}, got {_type_name(data)}")
    unknown = [str(key) for key in data if key != "feeds"]
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; only 'feeds' is allowed")
    feeds = data.get("feeds")
    if not isinstance(feeds, list):
        raise ConfigError(f"{path}: 'feeds' must be a list of feeds, got {_type_name(feeds)}")
    return feeds


# --------------------------------------------------------------------------- validation


def _spec_from_entry(entry: Any, where: str) -> FeedSpec:
    """One ``feeds`` item: a URL string, or a table of the known keys with the right types."""
    if isinstance(entry, str):
        return FeedSpec(url=_check_url(entry, where))
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: a feed must be a URL or a table with 'url', got {_type_name(entry)}")
    for key in entry:
        if key not in FEED_KEYS:
            close = difflib.get_close_matches(str(key), FEED_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}; {hint}known keys: {', '.join(FEED_KEYS)}")
    if "url" not in entry:
        raise ConfigError(f"{where}: feed has no 'url'; add url: https://…")
    source = entry.get("source")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise ConfigError(f"{where}: 'source' must be non-empty text, got {source!r}")
    fetch_pages = entry.get("fetch_pages", True)
    if not isinstance(fetch_pages, bool):
        raise ConfigError(f"{where}: 'fetch_pages' must be true or false, got {fetch_pages!r}")
    max_entries = entry.get("max_entries")
    if max_entries is not None and (
        isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
    ):
        raise ConfigError(f"{where}: 'max_entries' must be a whole number >= 1, got {max_entries!r}")
    return FeedSpec(
        url=_check_url(entry["url"], where),
        source=source.strip() if isinstance(source, str) else None,
        fetch_pages=fetch_pages,
        max_entries=max_entries,
    )


def _check_url(value: Any, where: str, field: str = "url") -> str:
    """An absolute http(s) URL with a host, else a ``ConfigError`` saying how to fix it."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {field} must be an http(s) URL, got {value!r}")
    url = value.strip()
    if any(char.isspace() for char in url):
        raise ConfigError(f"{where}: {field} {url[:120]!r} contains whitespace; percent-encode it or remove it")
    parts = urlsplit(url)
    if not parts.scheme and not url.startswith("/"):
        raise ConfigError(f"{where}: {field} {url[:120]!r} has no scheme; write https://{url[:120]}")
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{where}: {field} {url[:120]!r} is not an http(s) URL; only http(s) feeds can be read")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        host = None
    if not host:
        raise ConfigError(f"{where}: {field} {url[:120]!r} has no valid host; check the URL")
    return url


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a table", list: "a list", str: "text", bool: "true/false", int: "a number"}.get(
        type(value), type(value).__name__
    )

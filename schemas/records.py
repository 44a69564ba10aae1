"""In-flight records passed between pipeline stages.

Plain frozen dataclasses: cheap to pickle between Beam workers, and a stage can only
add information by building a new record (``dataclasses.replace``), never by mutating
one another stage still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FeedState:
    """What the last runs learnt about one feed (``_state/feeds``): validators and health."""

    feed_url: str
    etag: str | None = None
    last_modified: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    last_entries: int | None = None
    """Entries the feed yielded at its last successful parse (None after a 304 or a failure)."""
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    last_fetch_ms: int | None = None
    """How long the last successful fetch of the feed took (a 304 included), in milliseconds."""


@dataclass(frozen=True)
class FeedSpec:
    """One feed to read, as given in the feed list (OPML, text, YAML or TOML)."""

    url: str
    source: str | None = None
    """Outlet name shown in the lake; defaults to the feed's own title, then its host."""
    fetch_pages: bool = True
    """False: use the entries' own content/summary, never fetch the linked pages."""
    max_entries: int | None = None
    """Read at most this many entries of the feed (newest first, as the feed orders them)."""
    state: FeedState | None = None
    """Filled by the run from ``_state/feeds`` (not by users): validators for conditional requests."""


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, whatever the feed format (RSS, Atom, RDF, JSON Feed)."""

    feed_url: str
    link: str
    guid: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source: str | None = None
    fetch_page: bool = True
    updated: datetime | None = None
    """When the source says the item last changed: Atom/RSS ``updated``, JSON Feed ``date_modified``,
    a sitemap's ``lastmod``. A known URL whose ``updated`` moves past the stored one is fetched again
    (``transforms/read/seen.py``) and, if its text changed, becomes a new revision."""
    license: str | None = None
    """The item's (else the feed's) rights or licence: ``<copyright>``, ``dc:rights``, Atom ``rights``, CC."""


@dataclass(frozen=True)
class Page:
    """A page to clean: fetched from the web, or handed in by ``--input`` JSONL.

    Exactly one of ``html`` and ``text`` is normally set. ``entry`` is the feed entry
    the page came from, kept so cleaning can fall back to the feed's own text.
    """

    url: str
    fetched_url: str
    fetched_at: datetime
    html: str | None = None
    text: str | None = None
    title: str | None = None
    published: datetime | None = None
    source: str | None = None
    feed_url: str | None = None
    status: int | None = None
    content_type: str | None = None
    entry: FeedEntry | None = None
    fetch_error: str | None = None
    """Set when the page could not be fetched and only the feed entry is available."""
    rights_headers: tuple[tuple[str, str], ...] = ()
    """The response's ``X-Robots-Tag`` and TDM headers (``transforms/clean/rights.py``)."""


@dataclass(frozen=True)
class Mention:
    """One entity mention; ``start``/``end`` are character offsets into the article text."""

    start: int
    end: int
    text: str
    type: str
    entity_id: str


@dataclass(frozen=True)
class EntityRef:
    """A canonical entity as it appears in one article, with its salience there."""

    entity_id: str
    name: str
    slug: str
    type: str
    salience: float
    mention_count: int


@dataclass(frozen=True)
class MinHashSketch:
    """An article body's MinHash signature (128 little-endian uint64) and its shingle count.

    Near-dedup computes it once and carries it on the article, so the later steps that need it
    (LSH band keys, pair checks, the ``_state/near`` row) never hash the text again.
    """

    signature: bytes
    shingles: int


@dataclass(frozen=True)
class Article:
    """A cleaned article; dedup and tagging fill the later fields."""

    article_id: str
    url: str
    canonical_url: str
    fetched_url: str
    fetched_at: datetime
    text: str
    text_source: str
    """``page`` (cleaned from HTML), ``feed`` (fallback to the feed entry) or ``input`` (given text)."""
    content_hash: str
    feed_url: str | None = None
    source: str | None = None
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    language: str | None = None
    description: str | None = None
    sitename: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    story_id: str | None = None
    duplicate_urls: tuple[str, ...] = ()
    entities: tuple[EntityRef, ...] = ()
    mentions: tuple[Mention, ...] = ()
    is_accessible_for_free: bool | None = None
    robots: tuple[str, ...] | None = None
    tdm_reservation: bool | None = None
    tdm_policy: str | None = None
    license: str | None = None
    """Rights signals, ``None`` when the page says nothing (``transforms/clean/rights.py``)."""
    minhash: MinHashSketch | None = field(default=None, compare=False, repr=False)
    """Filled by near-dedup; a cache derived from ``text``, so it takes no part in equality."""
    updated: datetime | None = None
    """The feed entry's ``updated`` stamp (``FeedEntry.updated``), remembered in ``_state/seen``."""
    revised: bool = False
    """True when the lake already holds this article (same URL) with another text: this is a new
    version that replaces it (``transforms/dedup/exact.py`` sets it, ``transforms/lake/revisions.py``
    writes the ``revisions`` row and the commit drops the superseded rows)."""


@dataclass(frozen=True)
class Duplicate:
    """An article collapsed into a kept one; written to ``duplicates/`` so nothing is lost."""

    url: str
    canonical_article_id: str
    canonical_url: str
    kind: str
    """``exact_url`` (same canonical URL), ``exact_text`` (same normalised text hash) or ``near``
    (MinHash-verified near-copy: edited, truncated or re-templated)."""
    similarity: float
    published: datetime | None
    fetched_at: datetime
    source: str | None = None
    title: str | None = None
    content_hash: str | None = None
    updated: datetime | None = field(default=None, compare=False)
    """The copy's feed ``updated`` stamp, kept in ``_state/seen`` only (not a ``duplicates`` column)."""


@dataclass(frozen=True)
class DeadLetter:
    """A feed, page or record that failed a stage: enough to find it and act on it."""

    stage: str
    reason: str
    error_type: str
    input_id: str
    """The failing input's identity: a feed URL, page URL, or ``file:line`` of an input record."""
    occurred_at: datetime
    excerpt: str = ""
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

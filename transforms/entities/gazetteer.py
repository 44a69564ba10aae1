"""The compiled gazetteer: canonical entities, their slugs and the surface forms that name them.

The data file (``data/gazetteer.jsonl.gz``) is built by ``scripts/build_gazetteer.py`` from the
shared reference corpora and committed, so workers never need ``../shared``. One JSON object
per line::

    {"entity_id": "Q7184", "name": "North Atlantic Treaty Organisation", "type": "ORG",
     "slug": "north-atlantic-treaty-organisation", "aliases": ["NATO", "Nato", ...],
     "demonyms": [], "short_names": [], "source": "organizations"}

``entity_id`` is the Wikidata QID where the source has one (people, organisations). Entities
without one (countries and regions: the country data carries no QIDs) get
``nb:<TYPE>:<slug>``, e.g. ``nb:LOC:china``; ``stable_entity_id`` makes the same kind of id for
entities a statistical model finds later, so both land in the same id space. A later issue may
swap country ids for QIDs; readers should treat ids as opaque strings.

``aliases`` are exactly the strings matched (case-sensitively) for the entity, the canonical
name included when it survived filtering; ``demonyms`` ("Chinese") are matched as ``MISC``
mentions that link to their country. ``short_names`` (people's surnames, "Biden") are far too
ambiguous to match on their own: the tagger uses them only inside an article (text or title)
whose text already names the person in full.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from newsbeam.schemas.lake import ENTITY_TYPES

DATA_FILE = "gazetteer.jsonl.gz"
DEMONYM_LABEL = "MISC"
"""Label of demonym mentions: CoNLL-style MISC ("Chinese"), linked to the country entity."""

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""Every slug matches this: safe as a Hive partition value on every filesystem and object store."""

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """Lowercase ASCII ``[a-z0-9-]`` form of ``name``, used as the ``entity=`` partition value.

    Accents are folded (NFKD, "Côte d'Ivoire" -> ``cote-d-ivoire``), every other run of
    non-alphanumerics becomes one dash. A name with no Latin letters or digits at all (e.g.
    "王毅") would fold to nothing, so it gets ``x-<sha1 prefix>`` instead: never empty, and
    stable for the same name.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("-", folded.lower()).strip("-")
    if slug:
        return slug
    return "x-" + hashlib.sha1(name.strip().encode("utf-8")).hexdigest()[:10]


def stable_entity_id(name: str, type: str) -> str:
    """Id for an entity outside the gazetteer: ``nb:<TYPE>:<slug>``, same name+type -> same id.

    Used for countries (no QIDs in the source data) and for entities a statistical model
    finds, so an unlinked "Wang Yi" gets the same id in every article and run.
    """
    if type not in ENTITY_TYPES:
        raise ValueError(f"entity type must be one of {ENTITY_TYPES}, got {type!r}")
    return f"nb:{type}:{slugify(name)}"


@dataclass(frozen=True)
class GazetteerEntry:
    """One canonical entity and every surface form that names it."""

    entity_id: str
    name: str
    type: str
    slug: str
    aliases: tuple[str, ...] = ()
    demonyms: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    source: str = ""

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> GazetteerEntry:
        """Parse one line of the data file, rejecting the malformed ones loudly."""
        entry = cls(
            entity_id=str(record["entity_id"]),
            name=str(record["name"]),
            type=str(record["type"]),
            slug=str(record["slug"]),
            aliases=tuple(str(a) for a in record.get("aliases", ())),
            demonyms=tuple(str(d) for d in record.get("demonyms", ())),
            short_names=tuple(str(n) for n in record.get("short_names", ())),
            source=str(record.get("source", "")),
        )
        if entry.type not in ENTITY_TYPES:
            raise ValueError(f"gazetteer entry {entry.entity_id}: unknown type {entry.type!r}")
        if not SLUG_RE.match(entry.slug):
            raise ValueError(f"gazetteer entry {entry.entity_id}: bad slug {entry.slug!r}")
        return entry

    def to_json(self) -> dict[str, Any]:
        """The data-file form (key order fixed, so builds are byte-for-byte reproducible)."""
        return {
            "entity_id": self.entity_id,
            "name": self.name,
            "type": self.type,
            "slug": self.slug,
            "aliases": list(self.aliases),
            "demonyms": list(self.demonyms),
            "short_names": list(self.short_names),
            "source": self.source,
        }


@dataclass(frozen=True)
class Gazetteer:
    """Read-only set of canonical entities, looked up by id or slug.

    Built once per worker (it is what the tagger's patterns and, later, entity linking are
    made from); the lookup tables are private and never mutated after construction.
    """

    entries: tuple[GazetteerEntry, ...]
    _by_id: dict[str, GazetteerEntry] = field(init=False, repr=False, compare=False)
    _by_slug: dict[str, GazetteerEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, GazetteerEntry] = {}
        by_slug: dict[str, GazetteerEntry] = {}
        for entry in self.entries:
            if entry.entity_id in by_id:
                raise ValueError(f"duplicate entity_id in gazetteer: {entry.entity_id}")
            if entry.slug in by_slug:
                raise ValueError(f"duplicate slug in gazetteer: {entry.slug}")
            by_id[entry.entity_id] = entry
            by_slug[entry.slug] = entry
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_by_slug", by_slug)

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """Read a gazetteer file; ``None`` reads the one packaged with newsbeam."""
        if path is None:
            resource = resources.files("newsbeam.transforms.entities").joinpath("data").joinpath(DATA_FILE)
            with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
                return cls.from_lines(handle)
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return cls.from_lines(handle)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Gazetteer:
        """Build from JSON lines (blank lines ignored)."""
        return cls(tuple(GazetteerEntry.from_json(json.loads(line)) for line in lines if line.strip()))

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[GazetteerEntry]:
        return iter(self.entries)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._by_id

    def __getitem__(self, entity_id: str) -> GazetteerEntry:
        return self._by_id[entity_id]

    def get(self, entity_id: str) -> GazetteerEntry | None:
        """The entry with this id, or ``None`` (e.g. for model-found ``nb:`` ids)."""
        return self._by_id.get(entity_id)

    def by_slug(self, slug: str) -> GazetteerEntry | None:
        """The entry whose lake partition is ``entity=<slug>``."""
        return self._by_slug.get(slug)

    def counts(self) -> dict[str, int]:
        """Number of entries per entity type (every type present, possibly 0)."""
        counts = dict.fromkeys(ENTITY_TYPES, 0)
        for entry in self.entries:
            counts[entry.type] += 1
        return counts

    def patterns(self) -> list[dict[str, str]]:
        """spaCy ``entity_ruler`` phrase patterns: one per alias and one per demonym.

        ``id`` carries the entity id through ``Span.ent_id_``; demonyms are labelled
        ``MISC`` but carry their country's id, so "Chinese officials" counts towards China.
        """
        patterns: list[dict[str, str]] = []
        for entry in self.entries:
            for alias in entry.aliases:
                patterns.append({"label": entry.type, "pattern": alias, "id": entry.entity_id})
            for demonym in entry.demonyms:
                patterns.append({"label": DEMONYM_LABEL, "pattern": demonym, "id": entry.entity_id})
        return patterns


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The packaged gazetteer, parsed once per process and shared by every tagger in it."""
    return Gazetteer.load()

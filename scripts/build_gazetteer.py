"""Compile ../shared/corpora/gazetteer into transforms/entities/data/gazetteer.jsonl.gz.

Why a compiled file: workers must not depend on ../shared, and the raw sources are ~3 MB of
mixed YAML/JSON/CSV with names in dozens of scripts. The output keeps only what matching and
linking need (English/Latin surface forms), one canonical entity per line, sorted by slug so
rebuilds are byte-for-byte identical (gzip mtime 0) and diffs are readable.

Sources (see the corpus README): countries.json (names, altSpellings, demonyms, regions) merged
by ISO alpha-2 with the Wikidata English labels/aliases; US office holders (people.jsonl);
international organisations (organizations.jsonl).

Aliases are dropped when they would mostly fire falsely under case-sensitive matching: shorter
than 2 characters, no letters (numbers, flag emoji), non-Latin script, all-lowercase ("us",
"cn"), stop words in non-acronym form, and country/IOC codes ("IN", "IT", "CAN", "GER")
except the few used in prose ("US", "USA"). An alias claimed by two entities is dropped from
both, except between countries/regions of different rank (a UN member beats a territory beats
a region: "American" is the US, not US Minor Outlying Islands; "Micronesia" is the country).

Run: ``make gazetteer`` (or ``python scripts/build_gazetteer.py --source DIR --output FILE``).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

from transforms.entities.gazetteer import SLUG_RE, GazetteerEntry, slugify

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "corpora" / "gazetteer"
DEFAULT_OUTPUT = REPO / "transforms" / "entities" / "data" / "gazetteer.jsonl.gz"

TYPE_ORDER = {"LOC": 0, "ORG": 1, "PER": 2, "MISC": 3}

CODE_ALLOWLIST = frozenset({"US", "USA"})
"""Country codes that are also how prose names the country; every other code is dropped."""

TITLECASE_ACRONYMS = frozenset(
    {"NATO", "UNESCO", "UNICEF", "OPEC", "ASEAN", "APEC", "ECOWAS", "INTERPOL", "CERN", "UNRWA", "EFTA"}
)
"""Acronyms house styles (BBC, Guardian, Reuters in places) write as words: "Nato", "Unicef".
Curated rather than generated because many acronyms title-case into real words ("SHARE",
"INSTRUCT", "SESAME") or names ("ESMA", "IASI")."""

SPELLING_SWAPS = (
    ("Organisation", "Organization"),
    ("Centre", "Center"),
    ("Programme", "Program"),
    ("Defence", "Defense"),
)
"""British/American variants of organisation names: "North Atlantic Treaty Organization"."""

EXTRA_REGIONS: dict[str, tuple[str, ...]] = {
    "Latin America": (),
    "Middle East": (),
    "Asia-Pacific": ("Asia Pacific",),
}
"""Regions news names constantly that countries.json has no region/subregion for. Also keeps
"America" (an alias of the US) from firing inside "Latin America"."""

REGION_ALIASES: dict[str, tuple[str, ...]] = {
    "Americas": ("the Americas",),
    "South-Eastern Asia": ("Southeast Asia", "South-East Asia", "South East Asia"),
    "Southeast Europe": ("South-East Europe", "South-Eastern Europe"),
}

_WS = re.compile(r"\s+")
_PARENS = re.compile(r"\s*\([^)]*\)")
_QUOTED = re.compile(r'\s*"([^"]+)"')
_INITIAL = re.compile(r"^[A-Z]\.?$")


# ---------------------------------------------------------------------------------------------
# alias hygiene


def clean(text: str | None) -> str:
    """Trim and collapse whitespace; ``None`` becomes ``""``."""
    return _WS.sub(" ", text or "").strip()


def fold(text: str) -> str:
    """Accent-folded form ("Velázquez" -> "Velazquez"): how many outlets print such names."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def is_latin(text: str) -> bool:
    """True when every letter is Latin script (keeps "Côte d'Ivoire", drops "Россия", emoji)."""
    return all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in text)


def variants(alias: str) -> set[str]:
    """The alias plus its accent-folded and curly/straight apostrophe forms."""
    forms = {alias, fold(alias)}
    for form in list(forms):
        if "'" in form:
            forms.add(form.replace("'", "\u2019"))
        if "\u2019" in form:
            forms.add(form.replace("\u2019", "'"))
    return forms


def reject_reason(alias: str, codes: frozenset[str]) -> str | None:
    """Why ``alias`` must not be matched, or ``None`` when it is safe."""
    if len(alias) < 2:
        return "too_short"
    if not any(c.isalpha() for c in alias):
        return "no_letters"
    if not is_latin(alias):
        return "non_latin"
    if alias == alias.lower():
        return "lowercase"
    if alias in codes and alias not in CODE_ALLOWLIST:
        return "country_code"
    if alias.lower() in STOP_WORDS and not alias.isupper():
        return "common_word"
    if alias.lower() in STOP_WORDS and len(alias) < 3 and alias not in CODE_ALLOWLIST:
        return "common_word"
    return None


# ---------------------------------------------------------------------------------------------
# candidate entities


@dataclass
class Candidate:
    """An entity before alias filtering, ambiguity resolution and slug assignment."""

    type: str
    name: str
    qid: str | None
    source: str
    sort_key: tuple[Any, ...]
    rank: int = 9
    """Lower wins an alias both claim: 0 UN member, 1 independent, 2 territory, 3 region."""
    short_id: str = ""
    aliases: set[str] = field(default_factory=set)
    demonyms: set[str] = field(default_factory=set)
    entity_id: str = ""
    slug: str = ""


def qid_number(qid: str | None) -> int:
    """Numeric part of a QID (older items, lower numbers, are usually the better known)."""
    return int(qid[1:]) if qid and qid[1:].isdigit() else 1 << 62


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]


def plural_demonym(demonym: str) -> str | None:
    """ "Ukrainian" -> "Ukrainians", "Israeli" -> "Israelis"; "Chinese"/"British" have none."""
    if demonym.endswith(("an", "i", "ot", "er")):
        return demonym + "s"
    return None


def read_countries(source: Path) -> tuple[list[Candidate], frozenset[str]]:
    """Countries (merged with their Wikidata English labels) and the regions they name."""
    countries = json.loads((source / "countries" / "countries.json").read_text(encoding="utf-8"))
    codes = frozenset(
        code for c in countries for code in (c.get("cca2"), c.get("cca3"), c.get("cioc")) if code
    )
    wikidata: dict[str, set[str]] = defaultdict(set)
    with gzip.open(source / "countries" / "country_aliases_wikidata.csv.gz", "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["language"] == "en":
                wikidata[row["iso2c"]].add(clean(row["label"]))

    candidates: list[Candidate] = []
    regions: dict[str, Candidate] = {}
    for country in countries:
        name = clean(country["name"]["common"])
        rank = 0 if country.get("unMember") else 1 if country.get("independent") else 2
        aliases = {name, clean(country["name"]["official"])}
        aliases.update(clean(a) for a in country.get("altSpellings", ()))
        aliases.update(wikidata.get(country["cca2"], ()))
        # "the US" is "US" with the article; "the States" has no article-free alias form.
        for alias in list(aliases):
            if alias.lower().startswith("the ") and alias[4:] in aliases:
                aliases.discard(alias)
        # Dotted forms of prose abbreviations: "UK" -> "U.K." ("US" -> "U.S." is in the data).
        for alias in list(aliases):
            if alias.isupper() and alias.isalpha() and 2 <= len(alias) <= 4 and alias not in codes:
                aliases.add("".join(f"{c}." for c in alias))
        demonyms: set[str] = set()
        for form in country.get("demonyms", {}).get("eng", {}).values():
            demonym = clean(form)
            if demonym:
                demonyms.add(demonym)
                if plural := plural_demonym(demonym):
                    demonyms.add(plural)
        candidates.append(
            Candidate(
                type="LOC",
                name=name,
                qid=None,
                source="countries",
                sort_key=(rank, country["cca3"]),
                rank=rank,
                short_id=country["cca3"].lower(),
                aliases=aliases,
                demonyms=demonyms,
            )
        )
        for region in (clean(country.get("region")), clean(country.get("subregion"))):
            if region and region not in regions:
                regions[region] = Candidate(
                    type="LOC",
                    name=region,
                    qid=None,
                    source="regions",
                    sort_key=(3, region),
                    rank=3,
                    short_id=short_hash(region),
                    aliases={region, *REGION_ALIASES.get(region, ())},
                )
    for region, extra in EXTRA_REGIONS.items():
        regions.setdefault(
            region,
            Candidate(
                type="LOC",
                name=region,
                qid=None,
                source="regions",
                sort_key=(3, region),
                rank=3,
                short_id=short_hash(region),
                aliases={region, *extra},
            ),
        )
    return candidates + sorted(regions.values(), key=lambda c: c.sort_key), codes


def person_names(person: dict[str, Any]) -> tuple[str, set[str]]:
    """Canonical name and name variants built from the name parts.

    Variants: "first last", "nickname last", "first M. last", "first middle last", each also
    with the suffix ("Joseph R. Biden Jr.", "Joseph R. Biden, Jr."), the official full name
    (with and without a quoted nickname) and the Wikipedia title minus its disambiguator.
    """
    first = clean(person.get("first"))
    nickname = clean(person.get("nickname"))
    if match := re.match(r"^(.*?)\s*\((.+)\)$", first):  # "James (Jim)"
        first, nickname = match.group(1), nickname or match.group(2)
    middle = clean(person.get("middle"))
    last = clean(person.get("last"))
    suffix = clean(person.get("suffix"))
    official = clean(person.get("official_full"))
    title = clean(_PARENS.sub("", person.get("wikipedia_title") or ""))

    givens = {first}
    if nickname:
        givens.add(nickname)
    if _INITIAL.match(first) and middle:  # "H. Morgan Griffith" is "Morgan Griffith"
        givens.add(middle)
    bases = {f"{given} {last}" for given in givens}
    if middle and not _INITIAL.match(first):
        initials = " ".join(f"{part[0]}." for part in middle.split())
        bases.add(f"{first} {initials} {last}")
        bases.add(f"{first} {middle} {last}")
    names = set(bases)
    if suffix:
        for base in bases:
            names.add(f"{base} {suffix}")
            names.add(f"{base}, {suffix}")
    if official:
        names.add(official)
        if _QUOTED.search(official):
            names.add(clean(_QUOTED.sub("", official)))
            names.add(clean(_QUOTED.sub(lambda m: " " + m.group(1), official)))
    if title:
        names.add(title)
    canonical = title or clean(_QUOTED.sub("", official)) or f"{first} {last}"
    return canonical, {clean(n) for n in names if n}


def read_people(source: Path) -> list[Candidate]:
    """US office holders; the same canonical name twice gets the middle name to tell them apart."""
    people = [
        json.loads(line)
        for line in (source / "people" / "people.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    candidates: list[Candidate] = []
    for person in people:
        canonical, names = person_names(person)
        key = person.get("bioguide") or f"{canonical}|{person.get('birthday')}"
        candidates.append(
            Candidate(
                type="PER",
                name=canonical,
                qid=person.get("qid") or None,
                source=f"people:{person.get('source')}",
                sort_key=(qid_number(person.get("qid")), key),
                short_id=(person.get("qid") or short_hash(key)).lower(),
                aliases=names,
            )
        )
    by_name = Counter(c.name for c in candidates)
    for candidate, person in zip(candidates, people, strict=True):
        middle = clean(person.get("middle"))
        if by_name[candidate.name] > 1 and middle and not person.get("wikipedia_title"):
            candidate.name = f"{clean(person['first'])} {middle} {clean(person['last'])}"
    return candidates


def read_organizations(source: Path) -> list[Candidate]:
    """International organisations; records sharing a QID are merged into one entity."""
    by_key: dict[str, Candidate] = {}
    for line in (source / "organizations" / "organizations.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        org = json.loads(line)
        name = clean(org.get("name_en") or org.get("key"))
        if not name:
            continue
        aliases = {name, clean(org.get("key"))}
        aliases.update(clean(n) for n in org.get("other_names_en") or ())
        abbreviation = clean(org.get("abbreviation_en"))
        if abbreviation:
            aliases.add(abbreviation)
            if abbreviation in TITLECASE_ACRONYMS:
                aliases.add(abbreviation.capitalize())
        for alias in list(aliases):
            for british, american in SPELLING_SWAPS:
                aliases.add(alias.replace(british, american))
                aliases.add(alias.replace(american, british))
        qid = org.get("qid") or None
        key = qid or f"sprvd:{org.get('sprvd_id') or name}"
        if key in by_key:
            by_key[key].aliases.update(aliases)
            continue
        by_key[key] = Candidate(
            type="ORG",
            name=name,
            qid=qid,
            source="organizations",
            sort_key=(qid_number(qid), key),
            short_id=(qid or short_hash(key)).lower(),
            aliases=aliases,
        )
    return list(by_key.values())


# ---------------------------------------------------------------------------------------------
# compile


def compile_entries(candidates: list[Candidate], codes: frozenset[str], log: Counter[str]) -> list[GazetteerEntry]:
    """Filter aliases, resolve ambiguous ones, assign ids and unique slugs."""
    ordered = sorted(candidates, key=lambda c: (TYPE_ORDER[c.type], c.sort_key))

    for cand in ordered:
        for attr in ("aliases", "demonyms"):
            kept: set[str] = set()
            for raw in getattr(cand, attr):
                for alias in variants(clean(raw)):
                    reason = reject_reason(alias, codes if cand.source == "countries" else frozenset())
                    if reason:
                        log[f"dropped_{reason}"] += 1
                    else:
                        kept.add(alias)
            setattr(cand, attr, kept)
        cand.demonyms -= cand.aliases  # "Vatican" names the place; its demonym form is redundant

    claims: dict[str, list[Candidate]] = defaultdict(list)
    for cand in ordered:
        for alias in cand.aliases | cand.demonyms:
            claims[alias].append(cand)
    for alias, owners in claims.items():
        if len(owners) < 2:
            continue
        # Only places are ranked against each other; any other clash drops the alias everywhere.
        best = min(o.rank for o in owners)
        winners = [o for o in owners if o.rank == best]
        ranked = all(o.type == "LOC" for o in owners) and len(winners) == 1
        losers = [o for o in owners if o.rank != best] if ranked else owners
        log["ambiguous_aliases"] += 1
        for owner in losers:
            owner.aliases.discard(alias)
            owner.demonyms.discard(alias)
            log["dropped_ambiguous"] += 1

    taken: set[str] = set()
    entries: list[GazetteerEntry] = []
    for cand in ordered:
        base = slugify(cand.name)
        slug = base
        if slug in taken:
            slug = f"{base}-{cand.type.lower()}"
        if slug in taken:
            slug = f"{base}-{cand.type.lower()}-{slugify(cand.short_id)}"
            log["slug_collisions"] += 1
        if slug in taken or not SLUG_RE.match(slug):
            raise SystemExit(f"cannot give {cand.name!r} a unique slug (tried {slug!r})")
        taken.add(slug)
        entity_id = cand.qid or f"nb:{cand.type}:{slug}"
        entries.append(
            GazetteerEntry(
                entity_id=entity_id,
                name=cand.name,
                type=cand.type,
                slug=slug,
                aliases=tuple(sorted(cand.aliases)),
                demonyms=tuple(sorted(cand.demonyms)),
                source=cand.source,
            )
        )
    ids = Counter(e.entity_id for e in entries)
    if duplicated := [i for i, n in ids.items() if n > 1]:
        raise SystemExit(f"duplicate entity ids: {duplicated[:5]}")
    return sorted(entries, key=lambda e: e.slug)


def build(source: Path) -> tuple[list[GazetteerEntry], Counter[str]]:
    """Read every source under ``source`` and compile the gazetteer entries."""
    log: Counter[str] = Counter()
    countries, codes = read_countries(source)
    candidates = countries + read_organizations(source) + read_people(source)
    return compile_entries(candidates, codes, log), log


def serialise(entries: Iterable[GazetteerEntry]) -> bytes:
    """Deterministic gzip bytes: fixed key order, no timestamp or file name in the header."""
    text = "".join(
        json.dumps(e.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries
    )
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="corpora/gazetteer folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not (args.source / "README.md").is_file():
        print(f"gazetteer source not found: {args.source}", file=sys.stderr)
        return 2
    entries, log = build(args.source)
    data = serialise(entries)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)

    per_type = Counter(e.type for e in entries)
    print(f"wrote {args.output} ({len(data):,} bytes, {len(entries)} entities)")
    for type_ in TYPE_ORDER:
        entities = [e for e in entries if e.type == type_]
        aliases = sum(len(e.aliases) for e in entities)
        demonyms = sum(len(e.demonyms) for e in entities)
        print(f"  {type_:<4} {per_type[type_]:>5} entities  {aliases:>6} aliases  {demonyms:>4} demonyms")
    for key in sorted(log):
        print(f"  {key}: {log[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

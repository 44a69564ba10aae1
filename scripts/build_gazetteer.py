"""Compile ../shared/corpora/gazetteer into transforms/entities/data/gazetteer.jsonl.gz.

Why a compiled file: workers must not depend on ../shared, and the raw sources are ~3 MB of
mixed YAML/JSON/CSV with names in dozens of scripts. The output keeps only what matching and
linking need (English/Latin surface forms), one canonical entity per line, sorted by slug so
rebuilds are byte-for-byte identical (gzip mtime 0) and diffs are readable.

Sources (see the corpus README): countries.json (names, altSpellings, demonyms, regions, the
capitals of UN members) merged by ISO alpha-2 with the Wikidata English labels/aliases; US
office holders (people.jsonl: name variants built from the parts, surnames as ``short_names``);
international organisations (organizations.jsonl). Curated here, each list commented below: US
states, three regions, title-case acronym forms ("Nato"), and the alias allow/deny lists.

Aliases are dropped when they would mostly fire falsely under case-sensitive matching: shorter
than 2 characters, no letters (numbers, flag emoji), non-Latin script, all-lowercase ("us",
"cn"), stop words ("Who" -- but the acronym "WHO" stays), all-caps place codes other than the
ones prose uses ("IN", "IT", "CAN", "RI" go; "US", "U.S.", "UK" stay), 2-3 letter organisation
acronyms better known as something else ("ETF", "CBD"), and a short denylist. An alias claimed
by two entities goes to the one whose canonical name it is ("Tunis" the capital, not Tunisia),
else to the higher-ranked place (a UN member beats a territory, a region, a capital, a US
state: "American" is the US, "Georgia" the country), else it is dropped from all of them.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

from newsbeam.transforms.entities.gazetteer import SLUG_RE, GazetteerEntry, slugify

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "corpora" / "gazetteer"
DEFAULT_OUTPUT = REPO / "transforms" / "entities" / "data" / "gazetteer.jsonl.gz"

TYPE_ORDER = MappingProxyType({"LOC": 0, "ORG": 1, "PER": 2, "MISC": 3})

COUNTRY_ACRONYMS = frozenset(
    {"US", "U.S.", "USA", "U.S.A.", "UK", "U.K.", "UAE", "U.A.E.", "DRC", "PRC", "ROK", "DPRK", "ROC"}
)
"""The only all-caps country aliases kept: the ones prose uses. The sources also list ISO/IOC
codes and "RI", "FL", "CAR", "JAP"..., which collide with US states, words and slurs."""

SHORT_ORG_ACRONYMS = frozenset(
    {
        "ACP", "AU", "BIS", "CIS", "EBA", "ECB", "EMA", "ESM", "EU", "FAO", "GCC", "ICC", "ICJ", "IFC",
        "ILO", "IMF", "IMO", "IOM", "ITU", "OAS", "UN", "UPU", "WFP", "WHO", "WMO", "WTO",
    }
)  # fmt: skip
"""Organisation acronyms of 2-3 letters that news uses for exactly this organisation. The rest
name something else far more often ("ETF", "CBD", "MSG", "PCB"; "IOC" here is the International
Olive Council, "ESA" the Euratom Supply Agency), so only their full names are matched."""

ALIAS_DENYLIST = frozenset(
    {"Island", "Mann", "Maurice", "Moris", "Dominique", "Prathet", "Viti", "Emirates", "Victoria", "Male",
     "Sofia", "Santiago"}
)  # fmt: skip
"""Single-word place aliases that are mostly a word, a first name or a company in English news
(Iceland's "Island" after accent folding, the airline "Emirates", "Victoria" the Seychelles
capital). The entity keeps its other names."""

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

EXTRA_REGIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Latin America": (),
        "Middle East": (),
        "Asia-Pacific": ("Asia Pacific",),
    }
)
"""Regions news names constantly that countries.json has no region/subregion for. Also keeps
"America" (an alias of the US) from firing inside "Latin America"."""

CAPITAL_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Washington D.C.": ("Washington", "Washington, D.C.", "Washington DC", "District of Columbia"),
        "Kyiv": ("Kiev",),
    }
)

US_STATES = (
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
    "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky",
    "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri",
    "Montana", "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York",
    "North Carolina", "North Dakota", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island",
    "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington",
    "West Virginia", "Wisconsin", "Wyoming",
)  # fmt: skip
"""US states: the people data is US-political, and without them "New Jersey" and "New Mexico"
would tag as Jersey and Mexico. They rank below countries and capitals: "Georgia" stays the
country, "Washington" the capital (the state is "Washington State")."""

REGION_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "Americas": ("the Americas",),
        "South-Eastern Asia": ("Southeast Asia", "South-East Asia", "South East Asia"),
        "Southeast Europe": ("South-East Europe", "South-Eastern Europe"),
    }
)

_WS = re.compile(r"\s+")
_PARENS = re.compile(r"\s*\([^)]*\)")
_QUOTED = re.compile(r'\s*"([^"]+)"')
_INITIAL = re.compile(r"^[A-Z]\.?$")

RANK_REGION = 3
RANK_CAPITAL = 4
RANK_STATE = 7


# ---------------------------------------------------------------------------------------------
# alias hygiene


def clean(text: str | None) -> str:
    """Trim and collapse whitespace, drop invisible format characters; ``None`` becomes ``""``."""
    visible = "".join(c for c in text or "" if unicodedata.category(c) != "Cf")
    return _WS.sub(" ", visible).strip()


def is_acronym(alias: str) -> bool:
    """ "NATO", "U.S.", "DPRK": one all-caps word, dots allowed."""
    letters = alias.replace(".", "")
    return " " not in alias and letters.isalpha() and letters.isupper()


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


def reject_reason(alias: str, type_: str) -> str | None:
    """Why ``alias`` of an entity of ``type_`` must not be matched, or ``None`` when it is safe."""
    if len(alias) < 2:
        return "too_short"
    if not any(c.isalpha() for c in alias):
        return "no_letters"
    if not is_latin(alias):
        return "non_latin"
    if alias == alias.lower():
        return "lowercase"
    if alias in ALIAS_DENYLIST:
        return "denylisted"
    if type_ == "LOC" and is_acronym(alias) and alias not in COUNTRY_ACRONYMS:
        return "place_code"
    if type_ == "ORG" and is_acronym(alias) and len(alias) <= 3 and alias not in SHORT_ORG_ACRONYMS:
        return "short_acronym"
    if alias.lower() in STOP_WORDS and alias not in COUNTRY_ACRONYMS and alias not in SHORT_ORG_ACRONYMS:
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
    """Lower wins an alias two places claim: 0 UN member, 1 other independent country,
    2 territory, 3 region, 4-6 capital (by its country's rank), 7 US state; 9 not a place."""
    short_id: str = ""
    aliases: set[str] = field(default_factory=set)
    demonyms: set[str] = field(default_factory=set)
    short_names: set[str] = field(default_factory=set)
    """Surnames, used only within an article that names the person in full."""
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


def place(name: str, source: str, rank: int, aliases: Iterable[str] = ()) -> Candidate:
    """A region, capital or state: no QID, id and slug from the name."""
    return Candidate(
        type="LOC",
        name=name,
        qid=None,
        source=source,
        sort_key=(rank, name),
        rank=rank,
        short_id=short_hash(f"{source}:{name}"),
        aliases={name, *aliases},
    )


def read_countries(source: Path) -> list[Candidate]:
    """Countries (merged with their Wikidata English labels), their regions and capitals."""
    countries = json.loads((source / "countries" / "countries.json").read_text(encoding="utf-8"))
    wikidata: dict[str, set[str]] = defaultdict(set)
    with gzip.open(source / "countries" / "country_aliases_wikidata.csv.gz", "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["language"] == "en":
                wikidata[row["iso2c"]].add(clean(row["label"]))

    candidates: list[Candidate] = []
    regions: dict[str, Candidate] = {}
    capitals: dict[str, Candidate] = {}
    country_names = {clean(c["name"]["common"]) for c in countries}  # "Micronesia" is the country
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
            if alias in COUNTRY_ACRONYMS and "." not in alias:
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
            if region and region not in regions and region not in country_names:
                regions[region] = place(region, "regions", RANK_REGION, REGION_ALIASES.get(region, ()))
        if country.get("unMember"):  # capitals of territories are mostly villages nobody writes about
            for capital in map(clean, country.get("capital") or ()):
                if capital and capital not in country_names and capital not in capitals:
                    capitals[capital] = place(
                        capital, "countries:capital", RANK_CAPITAL + rank, CAPITAL_ALIASES.get(capital, ())
                    )
    for region, extra in EXTRA_REGIONS.items():
        regions.setdefault(region, place(region, "regions", RANK_REGION, extra))
    # "Washington" alone is the capital in news; the state is named with its suffix.
    states = [
        place(f"{state} State", "us-states", RANK_STATE, (f"{state} state",))
        if state == "Washington"
        else place(state, "us-states", RANK_STATE, (f"{state} State",))
        for state in US_STATES
    ]
    return candidates + list(regions.values()) + list(capitals.values()) + states


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
                short_names={clean(person.get("last"))} - {""},
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


def compile_entries(candidates: list[Candidate], log: Counter[str], unresolved: list[str]) -> list[GazetteerEntry]:
    """Filter aliases, resolve ambiguous ones, assign ids and unique slugs.

    Counts go to ``log``; aliases dropped from every claimant go to ``unresolved``.
    """
    ordered = sorted(candidates, key=lambda c: (TYPE_ORDER[c.type], c.sort_key))

    for cand in ordered:
        for attr in ("aliases", "demonyms", "short_names"):
            kept: set[str] = set()
            for raw in getattr(cand, attr):
                for alias in variants(clean(raw)):
                    reason = reject_reason(alias, cand.type)
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
        # An entity's own canonical name beats another's variant ("John Adams" vs "John Quincy
        # Adams"); otherwise only places are ranked; any other clash drops the alias everywhere.
        named = [o for o in owners if o.name == alias]
        best = min(o.rank for o in owners)
        ranked = [o for o in owners if o.rank == best]
        if len(named) == 1:
            losers = [o for o in owners if o is not named[0]]
        elif all(o.type == "LOC" for o in owners) and len(ranked) == 1:
            losers = [o for o in owners if o is not ranked[0]]
        else:
            losers = owners
            unresolved.append(alias)
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
                short_names=tuple(sorted(cand.short_names)),
                source=cand.source,
            )
        )
    ids = Counter(e.entity_id for e in entries)
    if duplicated := [i for i, n in ids.items() if n > 1]:
        raise SystemExit(f"duplicate entity ids: {duplicated[:5]}")
    return sorted(entries, key=lambda e: e.slug)


def build(source: Path) -> tuple[list[GazetteerEntry], Counter[str], list[str]]:
    """Read every source under ``source`` and compile the gazetteer entries."""
    log: Counter[str] = Counter()
    unresolved: list[str] = []
    candidates = read_countries(source) + read_organizations(source) + read_people(source)
    return compile_entries(candidates, log, unresolved), log, sorted(unresolved)


def serialise(entries: Iterable[GazetteerEntry]) -> bytes:
    """Deterministic gzip bytes: fixed key order, no timestamp or file name in the header."""
    text = "".join(json.dumps(e.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="corpora/gazetteer folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--verbose", action="store_true", help="list the ambiguous aliases dropped")
    args = parser.parse_args(argv)
    if not (args.source / "README.md").is_file():
        print(f"gazetteer source not found: {args.source}", file=sys.stderr)
        return 2
    entries, log, unresolved = build(args.source)
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
    print(f"  ambiguous aliases dropped from every claimant: {len(unresolved)}")
    if args.verbose:
        for alias in unresolved:
            print(f"    {alias}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

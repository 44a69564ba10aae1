"""Within-article linking: short and titled mentions to the full name, acronyms to their long form.

News writing names a person in full once ("Foreign Minister Wang Yi") and then shortens
("Wang", "Mr Wang"). A user partitioning by entity wants all three under ``wang-yi``, and
never a partition named ``mr-wang``. The rules, applied to one article at a time:

1. Honorifics and titles in front of a name are not part of its identity: "Mr Wang" is
   identified as "Wang", "President Joe Biden" as "Joe Biden".
2. A one-word mention ("Wang") links to the one multi-word person mention of the same article
   containing that word ("Wang Yi"), and becomes a person even if the model typed it ORG or
   MISC. If two people share the word ("Joe Biden", "Hunter Biden"), it stays unlinked.
3. An acronym the text defines — "Shanghai Cooperation Organisation (SCO)" or
   "SCO (Shanghai Cooperation Organisation)" — links to its long form wherever it appears, and
   takes the long form's type. Hyphenated words give one initial per part ("Pan-African" -> PA).

Gazetteer ids always win: a span the ruler linked (a Wikidata QID or ``nb:`` id from the
gazetteer) is never re-linked to an ad-hoc id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from newsbeam.transforms.entities.gazetteer import stable_entity_id

HONORIFICS = frozenset(
    {
        "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Dr", "Dr.", "Prof", "Prof.", "Sir", "Dame", "Lord",
        "Lady", "President", "Vice", "Senator", "Sen.", "Rep.", "Representative", "Congressman",
        "Congresswoman", "Speaker", "Leader", "Secretary", "Governor", "Gov.", "Minister", "Chancellor",
        "Judge", "Justice", "General", "Gen.", "Former", "Premier", "Prime", "Foreign", "Defence", "Defense",
        "King", "Queen", "Prince", "Princess", "Pope", "Ambassador", "Mayor", "Chairman", "Chairwoman",
        "Director", "Captain", "Capt.", "Colonel", "Col.", "Lt.", "Sgt.", "Officer", "Sheikh", "Emir",
    }
)  # fmt: skip
"""Words that may stand in front of a person's name without being part of it."""

_POSSESSIVE = re.compile(r"(?:'s|’s|'|’)$")
_ACRONYM_AFTER = re.compile(
    r"([A-Z][\w&.’'-]*(?:\s+(?:of|the|for|and|de|du|des|on|&|[A-Z][\w&.’'-]*))+)\s*\(([A-Z][A-Z0-9&.-]{1,11})\)"
)
_ACRONYM_BEFORE = re.compile(
    r"\b([A-Z][A-Z0-9&.-]{1,11})\s*\(([A-Z][\w&.’'-]*(?:\s+(?:of|the|for|and|de|du|des|on|&|[A-Z][\w&.’'-]*))+)\)"
)
_TITLE = re.compile(r"(?:" + "|".join(re.escape(t) for t in sorted(HONORIFICS, key=len, reverse=True)) + r")\s+")
_MINOR = frozenset({"of", "the", "for", "and", "de", "du", "des", "on", "&"})


@dataclass(frozen=True)
class Span:
    """A mention before aggregation: offsets into the text, type, and the entity it links to."""

    start: int
    end: int
    text: str
    type: str
    entity_id: str
    linked: bool = False
    """True when the id came from the gazetteer (never re-linked)."""


def identity_text(text: str, type_: str = "PER") -> str:
    """The part of a mention that identifies the entity: no possessive, and for people no
    leading titles ("Foreign Minister Wang Yi" is Wang Yi; the "Foreign Ministry" stays whole)."""
    words = _POSSESSIVE.sub("", text.strip()).split()
    while type_ == "PER" and len(words) > 1 and words[0] in HONORIFICS:
        words = words[1:]
    return " ".join(words)


def unlinked_id(text: str, type_: str) -> str:
    """Stable id for an entity the gazetteer does not know, from its identifying text."""
    return stable_entity_id(identity_text(text, type_), type_)


def defined_acronyms(text: str) -> dict[str, str]:
    """Acronyms the text defines, mapped to their long forms (initials must match)."""
    found: dict[str, str] = {}
    if "(" not in text:  # both patterns need one; most texts have none, and the scan is costly
        return found
    for pattern, long_group, short_group in ((_ACRONYM_AFTER, 1, 2), (_ACRONYM_BEFORE, 2, 1)):
        for match in pattern.finditer(text):
            long_form, acronym = match.group(long_group).strip(), match.group(short_group)
            long_form = _trim_to_initials(long_form, acronym)
            if long_form:
                found.setdefault(acronym, long_form)
    return found


def _initials(word: str) -> list[str]:
    """Initials a word gives an acronym: one per capitalised hyphen part ("Pan-African" -> P, A)."""
    return [part[0] for part in word.split("-") if part[:1].isupper()]


def _trim_to_initials(long_form: str, acronym: str) -> str | None:
    """The longest tail of ``long_form`` whose capitalised initials spell ``acronym``."""
    letters = [c.upper() for c in acronym if c.isalpha()]
    words = long_form.split()
    for start in range(len(words)):
        tail = words[start:]
        initials = [c.upper() for w in tail if w not in _MINOR for c in _initials(w)]
        if initials == letters and tail[0] not in _MINOR:
            return " ".join(tail)
    return None


def link(spans: Sequence[Span], text: str, extra: Iterable[Span] = ()) -> list[Span]:
    """Apply the module's rules to one article's spans; ``extra`` (e.g. title spans) can be
    linked against too but are not returned."""
    relinked = [_by_identity(span) for span in spans]
    context = [*relinked, *(_by_identity(span) for span in extra)]
    people = _full_names(context)
    acronyms = defined_acronyms(text)
    long_forms = {span.text: span for span in context if span.text in acronyms.values()}
    result = []
    for span in relinked:
        if not span.linked and span.text in acronyms:
            long_form = long_forms.get(acronyms[span.text])
            if long_form is not None:
                span = replace(span, entity_id=long_form.entity_id, type=long_form.type)
            else:
                span = replace(span, entity_id=stable_entity_id(acronyms[span.text], span.type))
        elif not span.linked:
            span = _to_full_name(span, people)
        result.append(span)
    return result


def without_titles(span: Span) -> Span:
    """A person's mention without the titles in front ("Mr Bowen" -> "Bowen"), as CoNLL-2003 marks
    people: its training data tags "Minister", "President", "Mr" and "Sir" before a name as outside
    the name far more often than inside it. A mention that is a title alone is left as it is."""
    if span.type != "PER" or span.linked:
        return span
    rest = span.text
    while (head := _TITLE.match(rest)) and rest[head.end() :].strip():
        rest = rest[head.end() :]
    if rest == span.text:
        return span
    return replace(span, start=span.end - len(rest), text=rest)


def _by_identity(span: Span) -> Span:
    if span.linked:
        return span
    span = without_titles(span)
    return replace(span, entity_id=unlinked_id(span.text, span.type))


def _full_names(spans: Iterable[Span]) -> dict[str, set[str]]:
    """Name word -> ids of the multi-word person mentions containing it."""
    owners: dict[str, set[str]] = {}
    for span in spans:
        if span.type != "PER":
            continue
        words = identity_text(span.text).split()
        if len(words) < 2:
            continue
        for word in words:
            owners.setdefault(word, set()).add(span.entity_id)
    return owners


def _to_full_name(span: Span, people: dict[str, set[str]]) -> Span:
    """A one-word mention that is a word of exactly one person's full name is that person, even
    when the model typed it ORG or MISC ("praised Okonjo" after "Amara Okonjo")."""
    words = identity_text(span.text, "PER").split()
    if len(words) != 1:
        return span
    owners = people.get(words[0], set())
    if len(owners) == 1:
        return replace(span, entity_id=next(iter(owners)), type="PER")
    return span

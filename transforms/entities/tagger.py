"""Gazetteer entity tagging: mentions with exact offsets, aggregated into salient canonical entities.

The pipeline is ``spacy.blank("en")`` + ``entity_ruler`` holding one phrase
pattern per gazetteer alias and demonym, matched case-sensitively on ``ORTH``: "US" and "U.S."
are the United States, "us" never is. spaCy's tokenizer splits possessives ("China's",
"China\u2019s" -> "China" + "'s") and hyphen compounds ("US-led"); one extra infix rule splits a
hyphen after an abbreviation ("U.S.-led"), so those match too.

Seams for later work:

* a statistical ``ner`` component goes in front of the ruler (``nlp.add_pipe("ner", before=
  "entity_ruler", source=...)``); the ruler runs with ``overwrite_ents`` so a gazetteer match
  replaces an overlapping model span and keeps its entity id. Model spans without an id get
  ``stable_entity_id(text, type)``; OntoNotes labels are mapped onto ``ENTITY_TYPES``.
* linking can rewrite ``Span.ent_id_`` before ``tag`` reads it; aggregation only needs ids.

People's surnames ("Biden") are tagged only in an article whose text names the person in full
("Joe Biden"), in the text and in the title, and not right after another capitalised word
unless it is a title ("President Biden", but not "Hunter Biden"). A surname shared by two
people named in the article is left alone.

Demonyms ("Chinese officials") are ``MISC`` mentions whose ``entity_id`` is the country: the
mention keeps the CoNLL type of what was written, the entity (``EntityRef.type``) keeps its
canonical type (``LOC``), and the mention counts towards the country's salience.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from types import MappingProxyType

import spacy
from spacy.attrs import IDX, IS_PUNCT, LENGTH, ORTH
from spacy.language import Language
from spacy.pipeline import EntityRuler, Sentencizer
from spacy.strings import get_string_id
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc
from spacy.util import compile_infix_regex

from newsbeam.schemas.records import EntityRef, Mention
from newsbeam.transforms.entities.gazetteer import Gazetteer, default_gazetteer, slugify
from newsbeam.transforms.entities.linking import HONORIFICS, Span, identity_text, link, unlinked_id
from newsbeam.transforms.entities.neural import ACCURATE, accurate_pipeline

Tagged = tuple[tuple[Mention, ...], tuple[EntityRef, ...]]

MAX_CHARS = 1_000_000
"""Only this many characters of a text are tagged (cut at whitespace): a longer "article" is a
dump, and its first million characters hold every entity that matters."""

WEIGHT_SHARE = 0.6
WEIGHT_TITLE = 0.25
WEIGHT_LEAD = 0.15
LEAD_SENTENCES = 2
LEAD_MIN_CHARS = 300
LEAD_MAX_CHARS = 600

LABEL_TYPES = MappingProxyType(
    {
        "PER": "PER",
        "PERSON": "PER",
        "ORG": "ORG",
        "LOC": "LOC",
        "GPE": "LOC",
        "FAC": "LOC",
        "MISC": "MISC",
        "NORP": "MISC",
        "EVENT": "MISC",
        "PRODUCT": "MISC",
        "WORK_OF_ART": "MISC",
        "LAW": "MISC",
        "LANGUAGE": "MISC",
    }
)
"""Span label -> one of ``schemas.lake.ENTITY_TYPES``; labels not listed (DATE, MONEY, ...) are
not entities here. Covers the ruler's own labels and OntoNotes labels of a future model."""

_ABBREVIATION_HYPHEN = r"(?<=[A-Za-z]\.)-(?=[A-Za-z])"
"""Split "U.S.-led" into "U.S." "-" "led"; the default infixes only split after a letter."""


PACKAGED_MODEL = Path(__file__).resolve().parent / "model"
"""The NER model trained by ``make model`` (``scripts/train_ner.py``), shipped in the package."""

FAST = "fast"
"""``--ner-model fast``: the packaged model by name (the default)."""

GAZETTEER_ONLY = "gazetteer"
"""``--ner-model gazetteer``: no statistical model, the entity ruler alone."""

_UNUSED_COMPONENTS = ("parser", "tagger", "lemmatizer", "attribute_ruler", "morphologizer", "textcat")

_RULER_FACTORY = "newsbeam_gazetteer_ruler"
_PERIODS = frozenset(get_string_id(char) for char in Sentencizer.default_punct_chars)
"""``ORTH`` ids of the sentencizer's sentence-ending characters."""


class GazetteerRuler(EntityRuler):
    """spaCy's ``EntityRuler``, minus a per-document recount of its patterns.

    ``EntityRuler.match`` first checks that the ruler has patterns by summing the lengths of
    every pattern list; with the gazetteer's tens of thousands of patterns that was a tenth of
    the tagging time. Here the check stops at the first label that has any.
    """

    def _require_patterns(self) -> None:
        if not any(self.phrase_patterns.values()) and not any(self.token_patterns.values()):
            super()._require_patterns()


@Language.factory(
    _RULER_FACTORY,
    default_config={"phrase_matcher_attr": "ORTH", "overwrite_ents": True, "validate": False},
)
def _make_gazetteer_ruler(
    nlp: Language, name: str, phrase_matcher_attr: str, overwrite_ents: bool, validate: bool
) -> GazetteerRuler:
    return GazetteerRuler(
        nlp, name, phrase_matcher_attr=phrase_matcher_attr, overwrite_ents=overwrite_ents, validate=validate
    )


def _packaged_model() -> Path | None:
    """The packaged fast model, when ``make model`` has put one in the package."""
    return PACKAGED_MODEL if (PACKAGED_MODEL / "meta.json").is_file() else None


def resolve_model(model: str | Path | None) -> str | Path | None:
    """Which spaCy pipeline tags entities: None (or ``"fast"``) means the packaged model when it is present."""
    if model is None or str(model) == FAST:
        return _packaged_model()
    if str(model) == GAZETTEER_ONLY:
        return None
    return model


def build_pipeline(gazetteer: Gazetteer, model: str | Path | None = None) -> Language:
    """The spaCy pipeline: [statistical NER ->] gazetteer entity ruler (named ``entity_ruler``).

    Sentence boundaries are not a pipeline step: the tagger needs them only around a few
    tokens (the lead, a surname's left neighbour), so it finds them there itself with the
    ``sentencizer``'s rule (``_Tokens``) instead of running it over every token.

    ``model`` is any installed spaCy pipeline name or path (``en_core_web_sm``, the packaged
    model, ...); its ``ner`` runs first and the ruler overwrites the spans it also knows, so
    gazetteer entities keep their ids. Without a model, the blank English tokenizer gets one
    extra infix rule so "U.S.-led" splits after the abbreviation.
    """
    if model is None:
        nlp = spacy.blank("en")
        tokenizer = nlp.tokenizer
        assert isinstance(tokenizer, Tokenizer)
        infixes = [*(nlp.Defaults.infixes or ()), _ABBREVIATION_HYPHEN]
        tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    elif str(model) == ACCURATE:
        nlp = accurate_pipeline(_packaged_model())
    else:
        nlp = spacy.load(model, exclude=list(_UNUSED_COMPONENTS))
        if "ner" not in nlp.pipe_names:
            raise ValueError(f"spaCy pipeline {model} has no 'ner' component")
    nlp.max_length = MAX_CHARS + 1
    ruler = nlp.add_pipe(_RULER_FACTORY, name="entity_ruler")
    # add_patterns runs every pattern text through the components before the ruler; ORTH patterns
    # need the tokenizer alone (through the accurate model, the gazetteer took 7 minutes).
    with nlp.select_pipes(enable=[]):
        ruler.add_patterns(gazetteer.patterns())  # type: ignore[attr-defined]
    return nlp


def truncate(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a whitespace, so no name is cut in half."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(space, 0, limit) for space in (" ", "\n", "\t"))
    return text[: cut if cut > 0 else limit]


class EntityTagger:
    """Finds gazetteer entities in article text and ranks them by salience.

    Build one per worker (``EntityTagger.load()`` in ``DoFn.setup``): building the ruler takes
    about a second; tagging a 400-token article takes about a millisecond on one core.
    """

    def __init__(self, nlp: Language, gazetteer: Gazetteer) -> None:
        self.nlp = nlp
        self.gazetteer = gazetteer
        self._short_names: dict[str, tuple[tuple[int, ...], ...]] = {
            entry.entity_id: tuple(tuple(t.orth for t in nlp.make_doc(name)) for name in entry.short_names)
            for entry in gazetteer
            if entry.short_names
        }

    @classmethod
    def load(cls, gazetteer: Gazetteer | None = None, model: str | Path | None = None) -> EntityTagger:
        """A tagger over ``gazetteer`` (default: the packaged one, parsed once per process) and
        ``model`` (see ``resolve_model``: default the packaged NER model, ``"gazetteer"`` for none)."""
        gazetteer = gazetteer if gazetteer is not None else default_gazetteer()
        return cls(build_pipeline(gazetteer, resolve_model(model)), gazetteer)

    def tag(self, text: str, title: str | None = None) -> Tagged:
        """Mentions in ``text`` (offsets into ``text``) and its entities, most salient first."""
        return next(self.tag_many([(text, title)]))

    def tag_many(self, items: Iterable[str | tuple[str, str | None]], *, batch_size: int = 64) -> Iterator[Tagged]:
        """``tag`` for many articles through ``nlp.pipe`` (several times faster per text).

        ``items`` are texts, or ``(text, title)`` pairs; results come back in the same order,
        one per item, computed ``batch_size`` items at a time.
        """
        iterator = iter(items)
        while chunk := list(islice(iterator, batch_size)):
            pairs = [(item, None) if isinstance(item, str) else item for item in chunk]
            texts = [truncate(text) for text, _ in pairs]
            titles = [truncate(title) if title else None for _, title in pairs]
            docs = self.nlp.pipe(texts, batch_size=batch_size)
            title_docs = iter(self.nlp.pipe([title for title in titles if title]))
            for doc, text, title in zip(docs, texts, titles, strict=True):
                title_doc = (next(title_docs), title) if title else None
                yield self._tag_doc((doc, text), title_doc)

    def _tag_doc(self, parsed: tuple[Doc, str], title_parsed: tuple[Doc, str] | None) -> Tagged:
        """Mentions and entities of one parsed text (and title), each given with the text it was
        parsed from: ``Doc.text`` rebuilds the string token by token (a tenth of the tagging time)."""
        doc, text = parsed
        tokens = _Tokens(doc)
        spans = self._spans(doc)
        surnames = self._surnames({s.entity_id for s in spans})
        spans = sorted([*spans, *_surname_spans(doc, tokens, surnames)], key=lambda s: s.start)
        title_spans: list[Span] = []
        if title_parsed is not None:
            title_doc, title_text = title_parsed
            title_spans = [*self._spans(title_doc), *_surname_spans(title_doc, _Tokens(title_doc), surnames)]
            title_spans = link(title_spans, title_text, extra=spans)
        spans = link(spans, text, extra=title_spans)
        mentions = tuple(
            Mention(start=s.start, end=s.end, text=s.text, type=s.type, entity_id=s.entity_id) for s in spans
        )
        return mentions, self._entities(mentions, title_spans, tokens.lead_end(len(text)))

    def _spans(self, doc: Doc) -> list[Span]:
        spans = []
        for ent in doc.ents:
            type_ = LABEL_TYPES.get(ent.label_)
            if type_ is None:
                continue
            if ent.ent_id_:
                spans.append(Span(ent.start_char, ent.end_char, ent.text, type_, ent.ent_id_, linked=True))
            else:
                spans.append(Span(ent.start_char, ent.end_char, ent.text, type_, unlinked_id(ent.text, type_)))
        return spans

    def _surnames(self, entity_ids: set[str]) -> dict[tuple[int, ...], str]:
        """Surname tokens (``ORTH`` ids) -> person, for the people named in full; shared surnames dropped."""
        owners: dict[tuple[int, ...], set[str]] = {}
        for entity_id in entity_ids:
            for tokens in self._short_names.get(entity_id, ()):
                owners.setdefault(tokens, set()).add(entity_id)
        return {tokens: ids.pop() for tokens, ids in owners.items() if len(ids) == 1}

    def _entities(self, mentions: tuple[Mention, ...], title_spans: list[Span], lead_end: int) -> tuple[EntityRef, ...]:
        """Aggregate mentions per entity and score salience (see ``salience``)."""
        counts = Counter(m.entity_id for m in mentions)
        in_lead = {m.entity_id for m in mentions if m.start < lead_end}
        in_title = {s.entity_id for s in title_spans}
        surfaces: dict[str, Counter[tuple[str, str]]] = {}
        seen_spans: list[Mention | Span] = [*mentions, *title_spans]
        for span in seen_spans:
            surfaces.setdefault(span.entity_id, Counter())[(span.text, span.type)] += 1
        total = len(mentions)
        refs = []
        for entity_id, seen in surfaces.items():
            entry = self.gazetteer.get(entity_id)
            if entry is not None:
                name, slug, type_ = entry.name, entry.slug, entry.type
            else:  # found by the model, not in the gazetteer: named by its fullest surface form
                name, type_ = _fullest_name(seen)
                slug = slugify(name)
            refs.append(
                EntityRef(
                    entity_id=entity_id,
                    name=name,
                    slug=slug,
                    type=type_,
                    salience=salience(counts[entity_id], total, entity_id in in_title, entity_id in in_lead),
                    mention_count=counts[entity_id],
                )
            )
        return tuple(sorted(refs, key=_rank_key))


def salience(mentions: int, total_mentions: int, in_title: bool, in_lead: bool) -> float:
    """How central an entity is to one article, in [0, 1].

    ``0.6 * mentions / total_mentions + 0.25 * in_title + 0.15 * in_lead``, clipped to [0, 1]
    and rounded to 4 decimals. The share rewards what the article keeps coming back to; the
    title and the lead (first two sentences, counted as at least 300 and at most 600
    characters) are where news writing puts its subject. An entity only in the title has
    mention_count 0 and salience 0.25.
    """
    share = mentions / total_mentions if total_mentions else 0.0
    score = WEIGHT_SHARE * share + WEIGHT_TITLE * in_title + WEIGHT_LEAD * in_lead
    return round(min(1.0, max(0.0, score)), 4)


DEFAULT_TOP_K = 10
DEFAULT_THRESHOLD = 0.03
"""Measured on the seed articles with the trained model: an entity mentioned three times in a
40-mention article scores ~0.045 (kept); one passing mention scores ~0.015 (left out)."""


def salient(
    entities: Iterable[EntityRef], top_k: int = DEFAULT_TOP_K, threshold: float = DEFAULT_THRESHOLD
) -> tuple[EntityRef, ...]:
    """The entities that get a row in the ``entities/`` table: at most ``top_k``, salience >= threshold.

    Every entity stays in the article row; this cut keeps passing mentions ("talks in Malta")
    from creating a partition per article and a long tail of one-row ``entity=`` folders.
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    ranked = sorted((e for e in entities if e.salience >= threshold), key=_rank_key)
    return tuple(ranked[:top_k])


def _fullest_name(seen: Counter[tuple[str, str]]) -> tuple[str, str]:
    """The name an unlinked entity goes by: its longest identifying form ("Wang Yi", not "Mr Wang")."""
    forms = Counter[tuple[str, str]]()
    for (text, type_), count in seen.items():
        forms[(identity_text(text, type_), type_)] += count
    (name, type_), _ = max(forms.items(), key=lambda item: (len(item[0][0].split()), item[1], item[0]))
    return name, type_


def _rank_key(entity: EntityRef) -> tuple[float, str, str]:
    return (-entity.salience, entity.name, entity.entity_id)


class _Tokens:
    """A parsed doc's token attributes as Python lists, and its sentence starts on demand.

    Sentence starts follow spaCy's ``sentencizer`` exactly: a sentence starts at the first
    token that is not punctuation after a token in ``Sentencizer.default_punct_chars``
    ("." "!" "?" ...), and at the first token. A model that sets sentence starts itself
    (``senter``, ``parser``) is followed instead.
    """

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        columns = doc.to_array([ORTH, IS_PUNCT, IDX, LENGTH]).T.tolist() if len(doc) else [[], [], [], []]
        self.orth: list[int] = columns[0]
        self._punct: list[int] = columns[1]
        self._idx: list[int] = columns[2]
        self._length: list[int] = columns[3]
        self._from_model = doc.has_annotation("SENT_START")

    def _is_period(self, i: int) -> bool:
        return self.orth[i] in _PERIODS

    def is_sent_start(self, i: int) -> bool:
        """Whether token ``i`` starts a sentence."""
        if self._from_model:
            return bool(self.doc[i].is_sent_start)
        if i == 0:
            return True
        if self._punct[i] or self._is_period(i):
            return False
        k = i - 1
        while k >= 0 and (self._punct[k] or self._is_period(k)):
            if self._is_period(k):
                return True
            k -= 1
        return False

    def _starts(self) -> Iterator[int]:
        if self._from_model:
            yield from (sent.start for sent in self.doc.sents)
            return
        if self.orth:
            yield 0
        seen_period = False
        for i in range(len(self.orth)):
            period = self._is_period(i)
            if seen_period and not self._punct[i] and not period:
                yield i
                seen_period = False
            elif period:
                seen_period = True

    def lead_end(self, length: int) -> int:
        """Character offset where the lead ends: two sentences, clamped to [300, 600] characters.

        ``length`` is the length of the doc's text (passed in: ``Doc.text`` is rebuilt per call).
        """
        end = length
        starts = list(islice(self._starts(), LEAD_SENTENCES + 1))
        if len(starts) >= LEAD_SENTENCES:  # the lead's last sentence ends where the next one starts
            last = (starts[LEAD_SENTENCES] if len(starts) > LEAD_SENTENCES else len(self.orth)) - 1
            end = self._idx[last] + self._length[last]
        return min(max(end, LEAD_MIN_CHARS), LEAD_MAX_CHARS)


def _surname_spans(doc: Doc, tokens: _Tokens, surnames: dict[tuple[int, ...], str]) -> list[Span]:
    """Bare-surname mentions of people already named in full (see the module docstring)."""
    if not surnames:
        return []
    taken = {i for ent in doc.ents for i in range(ent.start, ent.end)}
    words = tokens.orth
    firsts = {surname[0] for surname in surnames}
    positions: dict[int, list[int]] = {}
    for i, word in enumerate(words):  # one pass over the doc, not one per surname
        if word in firsts:
            positions.setdefault(word, []).append(i)
    spans = []
    for surname, entity_id in surnames.items():
        size = len(surname)
        for i in positions.get(surname[0], ()):
            if i > len(words) - size:
                break
            if any(j in taken for j in range(i, i + size)) or tuple(words[i : i + size]) != surname:
                continue
            before = doc[i - 1] if i > 0 else None
            if before is not None and before.is_title and not tokens.is_sent_start(i) and before.text not in HONORIFICS:
                continue  # "Hunter Biden" is somebody else
            span = doc[i : i + size]
            spans.append(Span(span.start_char, span.end_char, span.text, "PER", entity_id, linked=True))
            taken.update(range(i, i + size))
    return spans

"""What an article says about its event: weighted terms, salient canonical entities, a time.

Different outlets covering one event share few sentences (the seed articles' 5-shingle Jaccard is
0.00) but they share the *names* and *key words* of the event, and they concentrate them in the
title and the lead. So an article becomes one sparse vector:

* **terms** of title (weight 3), lead (2: first two sentences, 300-600 characters, as in the entity
  tagger) and body (1), each ``1 + log(count)`` per field, lower-cased, with a small stopword list
  (function words, reporting verbs, weekdays and months: they say *that* something was reported
  and *when*, never *what*); no stemming: a light suffix stripper bought nothing on ECB+ and mangled
  names ("Beijing" -> "beij", "Texas" -> "texa");
* **proper-noun boost** x2 for words written capitalised inside a sentence ("Lohan", "Promises",
  "Thompson"): the gazetteer knows countries, organisations and US office holders, not the people
  and places most events are about;
* **entities** ``e:<entity_id>`` weighted by their salience (at least 0.05) times 5, so an entity
  of salience 0.4 weighs what a lead word does (2); a canonical entity counts whatever the surface
  form ("US", "Washington's", "American officials"). Measured on ECB+: x2-x3 change nothing (too
  light next to the terms), x5 adds 0.006 mean F1 over shuffled orders, x10 loses 0.02 F1 with the
  NER model's richer entities and merges the same mayor's two events on one day (tests).

Besides the vector, the **years** an article names in its title and lead (1950-2049, written as four
digits) are kept apart: two events of one kind with the same people (a boxer's title defences, a
coach fired and later hired again) are told apart less by words than by *when*, and when a feed
gives every article one publication time (or none) the lead's dateline or "in 2008" is what is
left. The index uses them as a conflict test, not as similarity (see ``index.StoryConfig``).

Weights are scaled by IDF from the story index's running document frequencies when scored, so
"Russia" in every article of a week weighs less than "Patrushev". ``scripts/eval_stories.py``
measures what each part buys on ECB+.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from newsbeam.schemas.records import Article

ENTITY_PREFIX = "e:"

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been before being
    below between both but by can cannot could did didn do does doesn doing don down during each few for
    from further had hadn has hasn have haven having he her here hers herself him himself his how i if in
    into is isn it its itself just let ll me might more most much must my myself no nor not now of off on
    once only or other our ours ourselves out over own re same shall she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up upon us ve
    very was wasn we were weren what when where which while who whom whose why will with won would you
    your yours yourself yourselves one two three first last new also like get got may many even still
    said says say saying told tells tell according reported reports report added adding asked statement
    announced spokesman spokeswoman spokesperson news press reuters ap afp agency via
    monday tuesday wednesday thursday friday saturday sunday today yesterday tomorrow week weeks weekend
    january february march april june july august september october november december jan feb mar apr jun
    jul aug sep sept oct nov dec year years month months day days time times ago am pm
    mr mrs ms dr per cent percent
    """.split()
)
"""Function words, reporting verbs, dates: frequent in every story, discriminating none."""

_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?|\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?]['\"\u201d\u2019)]*\s+")
_SENTENCE_OPENERS = frozenset(".!?:;\"'`(\u201c\u2018\n")

_YEAR = re.compile(r"(?<![\w.,$])(?:19[5-9]\d|20[0-4]\d)(?![\w%]|[.,]\d)")

LEAD_SENTENCES = 2
LEAD_MIN_CHARS = 300
LEAD_MAX_CHARS = 600


@dataclass(frozen=True)
class FeatureWeights:
    """How much each kind of evidence counts (defaults chosen on ECB+, see the eval report)."""

    title: float = 3.0
    lead: float = 2.0
    body: float = 1.0
    proper_noun_boost: float = 2.0
    entities: float = 5.0
    min_entity_salience: float = 0.05


def lead_end(text: str) -> int:
    """Where the lead ends: after two sentences, clamped to [300, 600] characters."""
    end = len(text)
    for index, match in enumerate(_SENTENCE_END.finditer(text)):
        if index + 1 >= LEAD_SENTENCES:
            end = match.start() + 1
            break
    return min(max(end, LEAD_MIN_CHARS), LEAD_MAX_CHARS, len(text))


def content_word(raw: str) -> str:
    """``raw`` lower-cased, without a possessive; "" for a stopword, a letter or a short number."""
    word = raw.lower().replace("\u2019", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) < 2 or word in STOPWORDS or (word.isdigit() and len(word) < 3):
        return ""
    return word


def words(text: str) -> tuple[list[str], set[str]]:
    """Content words (normalised) of ``text`` and the subset written as proper nouns in it."""
    found: list[str] = []
    proper: set[str] = set()
    seen: dict[str, str] = {}  # raw -> content word: most tokens of a text are repeats
    for match in _WORD.finditer(text):
        raw = match.group()
        word = seen.get(raw)
        if word is None:
            word = seen[raw] = content_word(raw)
        if not word:
            continue
        found.append(word)
        if raw[0].isupper() and not _sentence_start(text, match.start()):
            proper.add(word)
    return found, proper


def _sentence_start(text: str, position: int) -> bool:
    """True when only spaces or tabs separate ``position`` from a sentence opener or the start.

    Scans back from ``position`` instead of slicing ``text[:position]``, which copied the text
    up to every capitalised word.
    """
    index = position
    while index > 0 and text[index - 1] in " \t":
        index -= 1
    return index == 0 or text[index - 1] in _SENTENCE_OPENERS


def term_weights(title: str | None, text: str, weights: FeatureWeights | None = None) -> dict[str, float]:
    """Field-weighted, sublinear term weights of one article (before IDF)."""
    weights = weights or FeatureWeights()
    cut = lead_end(text)
    fields = ((title or "", weights.title), (text[:cut], weights.lead), (text[cut:], weights.body))
    vector: dict[str, float] = {}
    proper_nouns: set[str] = set()
    for field_text, weight in fields:
        if weight <= 0 or not field_text:
            continue
        found, proper = words(field_text)
        proper_nouns |= proper
        for term, count in Counter(found).items():
            vector[term] = vector.get(term, 0.0) + weight * (1.0 + math.log(count))
    if weights.proper_noun_boost != 1.0:
        for term in proper_nouns:
            vector[term] *= weights.proper_noun_boost
    return dict(vector)


def entity_weights(article: Article, weights: FeatureWeights | None = None) -> dict[str, float]:
    """``e:<entity_id>`` -> salience x entity weight, for the article's salient canonical entities."""
    weights = weights or FeatureWeights()
    if weights.entities <= 0:
        return {}
    return {
        ENTITY_PREFIX + e.entity_id: e.salience * weights.entities
        for e in article.entities
        if e.salience >= weights.min_entity_salience
    }


def article_features(article: Article, weights: FeatureWeights | None = None) -> dict[str, float]:
    """The article's sparse feature vector (terms and entities), before IDF."""
    weights = weights or FeatureWeights()
    features = term_weights(article.title, article.text, weights)
    features.update(entity_weights(article, weights))
    return features


def years_mentioned(title: str | None, text: str) -> tuple[int, ...]:
    """Years (1950-2049) written in the title or the lead, sorted: the event's date expressions.

    Only the lead: a body recalls earlier events ("his 2004 loss"), the lead dates the reported one.
    """
    found = _YEAR.findall(f"{title or ''}\n{text[: lead_end(text)]}")
    return tuple(sorted({int(year) for year in found}))


def article_time(article: Article) -> datetime:
    """When the article happened for story purposes: published, else fetched."""
    return article.published or article.fetched_at


_SEPARATOR = "\x00"


@dataclass(frozen=True)
class StoryInput:
    """What story assignment reads of an article, its features computed once.

    The assignment step holds every article of a run at once and reads the features twice
    (document frequencies, then scoring): this is a third of an ``Article``'s size, and the
    features are extracted once, where articles are processed in parallel. Features are kept
    as one joined string of names and their float64 weights in the same order, which is the
    order scores are summed in.
    """

    article_id: str
    time: datetime
    source: str | None
    title: str | None
    entity_names: tuple[tuple[str, str], ...]
    """(entity_id, name) of every entity of the article, in the article's order."""
    feature_names: str
    feature_weights: bytes
    years: tuple[int, ...] = ()
    """``years_mentioned`` of the title and lead."""

    def features(self) -> dict[str, float]:
        """The ``article_features`` of the article, in their order, bit for bit."""
        if not self.feature_names:
            return {}
        return dict(zip(self.feature_names.split(_SEPARATOR), array("d", self.feature_weights), strict=True))

    def feature_keys(self) -> list[str]:
        return self.feature_names.split(_SEPARATOR) if self.feature_names else []


def story_input(article: Article | StoryInput, weights: FeatureWeights | None = None) -> StoryInput:
    """The ``StoryInput`` of ``article`` (itself if it is one already)."""
    if isinstance(article, StoryInput):
        return article
    features = article_features(article, weights)
    names = _SEPARATOR.join(features)
    if names.count(_SEPARATOR) != max(len(features) - 1, 0):
        raise ValueError(f"a feature name of article {article.article_id} contains the separator")
    return StoryInput(
        article_id=article.article_id,
        time=article_time(article),
        source=article.source,
        title=article.title,
        entity_names=tuple((e.entity_id, e.name) for e in article.entities),
        feature_names=names,
        feature_weights=array("d", features.values()).tobytes(),
        years=years_mentioned(article.title, article.text),
    )


def top_features(vector: dict[str, float], k: int) -> list[str]:
    """The ``k`` heaviest features, ties broken by name so the choice is deterministic."""
    return [name for name, _ in sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]

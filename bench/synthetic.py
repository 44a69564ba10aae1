"""Synthetic news for the scale benchmarks: realistic sizes, vocabulary, entities, stories and copies.

Why synthetic: the corpora hold ~2,500 real pages, and the lake and scaling benchmarks need
100k distinct articles. What drives each stage's cost is reproduced on purpose, because a
too-simple text makes some stages look free and others look quadratic:

* **Text size.** Word counts are log-normal with a median of ~300 words (~2.2k characters, the
  median Dragnet gold article): tokenising, hashing, tagging and Parquet bytes per article are real.
* **Vocabulary.** Words follow a Zipf law over 300 common English words then 30,000 generated
  content words, as in real text: a few words everywhere, most rare. Story features and shingles
  therefore look like real ones (a tiny vocabulary would make every article share its top terms).
* **Events.** Articles report events. An event lasts 1-3 days, has 1-3 entities of its own and 8
  rare keywords, and its size follows a heavy tail (most events get 1-3 articles, a few get 50+).
  That is what story assignment groups.
* **Entities.** Besides the event's, each article names 1-5 more drawn from a Zipf law (exponent
  1.1) over a vocabulary ordered by prominence: the United States, China, Russia... are in a
  large share of articles, most entities appear a handful of times. The vocabulary is the
  packaged gazetteer, so the real tagger finds these names in ``--input`` runs; the lake
  benchmark adds a tail of unlinked names (what a statistical NER model adds), because that
  tail is what multiplies ``entity=`` partitions.
* **Copies.** 4 % of articles are syndicated copies of an earlier article of the same event with
  ~2 % of the words changed (near duplicates), 1 % are exact copies under another URL.
* **Dates.** Spread evenly over ``days`` days (a month by default).

Everything is seeded: the same arguments give the same articles on every machine.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np

from newsbeam.schemas.records import Article, EntityRef, Mention
from newsbeam.transforms.dedup.keys import article_id, content_hash
from newsbeam.transforms.entities.gazetteer import default_gazetteer, slugify, stable_entity_id
from newsbeam.transforms.entities.tagger import LEAD_MAX_CHARS, salience

ZIPF_ENTITIES = 1.1
ZIPF_WORDS = 1.0
CONTENT_WORDS = 30_000
MEDIAN_WORDS = 300
NEAR_COPY_SHARE = 0.04
EXACT_COPY_SHARE = 0.01
START = datetime(2024, 3, 1, tzinfo=UTC)
OUTLETS = tuple(f"outlet{i:02d}" for i in range(50))
VERSION = 2
"""Bump when the generator changes: cached JSONL files carry it in their names."""

#: Prominent entities first, when the gazetteer has them; the rest follow in a seeded order.
HEAD_SLUGS = (
    "united-states", "china", "russia", "ukraine", "european-union", "united-nations", "israel",
    "germany", "united-kingdom", "france", "india", "japan", "iran", "nato", "brazil", "canada",
)  # fmt: skip

#: The most frequent English words, lower case, so sentence starts are the only other capitals.
COMMON = (
    "the of and to in a that is for on said with as was by it at from has have be are an this "
    "his her their they which will would not but more after year years new two first last government "
    "officials people week percent market company minister president state talks deal plan report "
    "police court city country leaders economy policy election vote campaign support against over "
    "under about since while during before between into could should may might also just still "
    "according statement told reporters meeting agreement security military forces attack war peace "
    "trade prices rates inflation growth bank banks investors shares energy oil gas climate water "
    "health hospital schools students workers union strike budget tax taxes spending million billion "
    "several many some most other another local national regional international foreign public private "
    "monday tuesday wednesday thursday friday weekend morning evening late early recent months "
    "decision law rules changes proposal review data figures showed rise fall increase decline record "
    "high low higher lower strong weak growing concerns risk risks crisis response measures steps "
    "announced expected planned reported confirmed denied warned called asked agreed rejected "
    "continue continued remain remained began ended across around near within without further "
    "ahead behind back down up out off again already even only very well much long short"
).split()


@dataclass(frozen=True)
class VocabEntity:
    entity_id: str
    name: str
    slug: str
    type: str


def vocabulary(tail: int = 0, seed: int = 11) -> list[VocabEntity]:
    """Gazetteer entities by prominence, then ``tail`` unlinked names (as a NER model would add)."""
    entries = list(default_gazetteer())
    by_slug = {entry.slug: entry for entry in entries}
    head = [by_slug[slug] for slug in HEAD_SLUGS if slug in by_slug]
    rest = sorted((e for e in entries if e not in head), key=lambda e: e.entity_id)
    random.Random(seed).shuffle(rest)
    vocab = [VocabEntity(e.entity_id, e.name, e.slug, e.type) for e in [*head, *rest]]
    for i in range(tail):
        name = f"Tailname{i:05d} Person"
        vocab.append(VocabEntity(stable_entity_id(name, "PER"), name, slugify(name), "PER"))
    return vocab


@lru_cache(maxsize=1)
def words() -> tuple[str, ...]:
    """Common words, then generated content words (pronounceable, lower case, distinct)."""
    rng = random.Random(5)
    onsets = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl pr sh st th tr".split()
    vowels = "a e i o u ai ea io ou".split()
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st"]
    made: dict[str, None] = dict.fromkeys(COMMON)
    while len(made) < len(COMMON) + CONTENT_WORDS:
        syllables = rng.choice((2, 2, 3, 3, 4))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + rng.choice(codas)
        made.setdefault(word, None)
    return tuple(made)


def _cdf(size: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


@dataclass(frozen=True)
class SyntheticArticle:
    index: int
    url: str
    title: str
    published: datetime
    source: str
    text: str
    mentions: tuple[Mention, ...]
    entities: tuple[EntityRef, ...]
    event: int
    copy_of: int | None = None
    """Index of the article this one copies (near or exact), or None."""


@dataclass
class _Event:
    entities: list[int]
    keywords: list[int]
    first: SyntheticArticle | None = None


def _schedule(n: int, span: float, rng: random.Random) -> list[tuple[float, int]]:
    """``n`` (seconds after START, event number) pairs in time order; event sizes are heavy-tailed."""
    slots: list[tuple[float, int]] = []
    event = 0
    while len(slots) < n:
        size = min(300, int(rng.paretovariate(1.3)))
        start = rng.uniform(0, span)
        duration = rng.uniform(1, 3) * 86_400
        for _ in range(size):
            slots.append((min(span - 1, start + rng.expovariate(3 / duration)), event))
        event += 1
    rng.shuffle(slots)
    return sorted(slots[:n])


def articles(
    n: int, *, days: int = 30, tail: int = 0, seed: int = 7, copies: bool = True
) -> Iterator[SyntheticArticle]:
    """``n`` synthetic articles in publication order, deterministic for given arguments.

    ``copies=False`` leaves out the near and exact copies (what the lake keeps after dedup).
    """
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    vocab = vocabulary(tail)
    lexicon = words()
    entity_cdf = _cdf(len(vocab), ZIPF_ENTITIES)
    word_cdf = _cdf(len(lexicon), ZIPF_WORDS)
    events: dict[int, _Event] = {}
    copy_share = NEAR_COPY_SHARE + EXACT_COPY_SHARE

    def zipf_entity() -> int:
        return int(np.searchsorted(entity_cdf, np_rng.random()))

    for index, (moment, number) in enumerate(_schedule(n, days * 86_400, rng)):
        published = START + timedelta(seconds=int(moment))
        source = OUTLETS[rng.randrange(len(OUTLETS))]
        event = events.get(number)
        if event is None:
            ents = list(dict.fromkeys(zipf_entity() for _ in range(rng.randint(1, 3))))
            keywords = [rng.randrange(len(COMMON) + 2_000, len(lexicon)) for _ in range(8)]
            event = events[number] = _Event(ents, keywords)
        original = event.first
        if copies and original is not None and rng.random() < copy_share:
            exact = rng.random() < EXACT_COPY_SHARE / copy_share
            yield SyntheticArticle(
                index,
                _url(source, published, index, vocab[event.entities[0]].slug),
                original.title,
                published,
                source,
                original.text if exact else _edit(rng, original.text, lexicon),
                original.mentions if exact else (),
                original.entities,
                number,
                original.index,
            )
            continue
        extra = [zipf_entity() for _ in range(rng.randint(1, 5))]
        chosen = [vocab[i] for i in dict.fromkeys([*event.entities, *extra])]
        size = max(40, int(rng.lognormvariate(0, 0.5) * MEDIAN_WORDS))
        sampled = np.searchsorted(word_cdf, np_rng.random(size)).tolist()
        text, mentions = _text(rng, [lexicon[i] for i in sampled], [lexicon[k] for k in event.keywords], chosen)
        title = f"{chosen[0].name} {' '.join(lexicon[k] for k in rng.sample(event.keywords, 4))}"
        item = SyntheticArticle(
            index,
            _url(source, published, index, chosen[0].slug),
            title,
            published,
            source,
            text,
            tuple(mentions),
            _refs(chosen, mentions),
            number,
        )
        if event.first is None:
            event.first = item
        yield item


def _url(source: str, published: datetime, index: int, slug: str) -> str:
    return f"https://{source}.example/{published:%Y/%m/%d}/{index:07d}-{slug}"


def _refs(chosen: list[VocabEntity], mentions: list[Mention]) -> tuple[EntityRef, ...]:
    counts = Counter(m.entity_id for m in mentions)
    main = chosen[0]
    refs = [
        EntityRef(
            entity_id=e.entity_id,
            name=e.name,
            slug=e.slug,
            type=e.type,
            salience=salience(
                counts[e.entity_id],
                len(mentions),
                e is main,
                any(m.entity_id == e.entity_id and m.start < LEAD_MAX_CHARS for m in mentions),
            ),
            mention_count=counts[e.entity_id],
        )
        for e in chosen
    ]
    return tuple(sorted(refs, key=lambda ref: (-ref.salience, ref.name)))


def _edit(rng: random.Random, text: str, lexicon: tuple[str, ...]) -> str:
    """A syndicated copy: ~2 % of the words replaced, plus an outlet's one-line footer."""
    tokens = text.split(" ")
    for _ in range(max(1, len(tokens) // 50)):
        position = rng.randrange(len(tokens))
        if tokens[position].islower():
            tokens[position] = rng.choice(lexicon[: len(COMMON)])
    return " ".join(tokens) + f"\n\nDistributed by wire service {rng.randint(1, 9)}."


def _text(
    rng: random.Random, tokens: list[str], keywords: list[str], chosen: list[VocabEntity]
) -> tuple[str, list[Mention]]:
    """Sentences of the sampled words, the event's keywords and the entities' names put in."""
    parts: list[str] = []
    mentions: list[Mention] = []
    length = 0
    position = 0
    sentence = 0
    while position < len(tokens):
        size = rng.randint(10, 24)
        words_ = tokens[position : position + size]
        position += size
        if rng.random() < 0.6:
            words_[rng.randrange(len(words_))] = rng.choice(keywords)
        # The main entity in the lead and often after; the others now and then.
        entity: VocabEntity | None = None
        if sentence < 2 or rng.random() < 0.25:
            entity = chosen[0]
        elif rng.random() < 0.5:
            entity = rng.choice(chosen)
        half = max(1, len(words_) // 2)
        prefix = " ".join([words_[0].capitalize(), *words_[1:half]])
        suffix = " ".join(words_[half:]) + "."
        if sentence and sentence % 6 == 0:
            parts.append("\n\n")
            length += 2
        elif sentence:
            parts.append(" ")
            length += 1
        if entity is None:
            piece = f"{prefix} {suffix}"
        else:
            start = length + len(prefix) + 1
            mentions.append(Mention(start, start + len(entity.name), entity.name, entity.type, entity.entity_id))
            piece = f"{prefix} {entity.name} {suffix}"
        parts.append(piece)
        length += len(piece)
        sentence += 1
    missing = [e for e in chosen if all(m.entity_id != e.entity_id for m in mentions)]
    if missing:
        lead_in = " Also named were "
        offset = length + len(lead_in)
        for e in missing:
            mentions.append(Mention(offset, offset + len(e.name), e.name, e.type, e.entity_id))
            offset += len(e.name) + 2
        parts.append(lead_in + ", ".join(e.name for e in missing) + ".")
    return "".join(parts), mentions


def to_article(item: SyntheticArticle) -> Article:
    """The ``Article`` the pipeline would hand to the lake writer (tagged, deduplicated)."""
    return Article(
        article_id=article_id(item.url),
        url=item.url,
        canonical_url=item.url,
        fetched_url=item.url,
        fetched_at=item.published + timedelta(minutes=5),
        text=item.text,
        text_source="input",
        content_hash=content_hash(item.text),
        source=item.source,
        title=item.title,
        published=item.published,
        language="en",
        entities=item.entities,
        mentions=item.mentions,
    )


def jsonl_path(folder: Path, n: int, days: int = 30, seed: int = 7) -> Path:
    return folder / f"synthetic-v{VERSION}-{n}-{days}d-s{seed}.jsonl"


def write_jsonl(folder: Path, n: int, *, days: int = 30, seed: int = 7) -> Path:
    """``--input`` records with ``text`` (so cleaning is skipped), cached by name in ``folder``."""
    path = jsonl_path(folder, n, days, seed)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        for item in articles(n, days=days, seed=seed):
            record = {
                "url": item.url,
                "title": item.title,
                "published": item.published.isoformat(),
                "source": item.source,
                "text": item.text,
            }
            out.write(json.dumps(record) + "\n")
    partial.replace(path)
    return path
